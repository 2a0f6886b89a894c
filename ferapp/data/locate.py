"""Which dataset a path means: a folder that holds a dataset archive instead of images.

``ferapp train --data``, ``ferapp data inspect`` and the training wizard call
:func:`locate_dataset` before reading, so a folder such as ``datasets/ckplus48/`` (holding only
``CK+48.zip``) is read as that archive, with a note saying so, instead of failing with "no
image files found". A folder with several datasets raises :class:`AmbiguousDataset`, which names
them (the wizard offers each as a button); a folder with neither is left to the reader.

Only regular files are looked at (never a FIFO or device), the folder and its direct
sub-folders only, and at most ``MAX_LISTED`` entries per folder: pointing at a home folder
costs a bounded listing, not a walk of the disk.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ferapp.data.sources import IMAGE_EXTS, DatasetError

MAX_LISTED = 2000  # entries looked at per folder
CSV_SUFFIXES = (".csv", ".csv.gz", ".gz")


class AmbiguousDataset(DatasetError):
    """A folder without images that holds several dataset files; ``candidates`` lists them."""

    def __init__(self, message: str, candidates: tuple[Path, ...]):
        super().__init__(message)
        self.candidates = candidates


@dataclass(frozen=True)
class LocatedDataset:
    """``path``: what to read. ``note``: "" when it is the path given, else what was found and used."""

    path: Path
    note: str = ""
    candidates: tuple[Path, ...] = field(default=())


def _entries(folder: Path) -> list[os.DirEntry]:
    out = []
    try:
        with os.scandir(folder) as it:
            for e in it:
                out.append(e)
                if len(out) >= MAX_LISTED:
                    break
    except OSError:
        return []
    return sorted(out, key=lambda e: e.name.lower())


def _is_regular(e: os.DirEntry) -> bool:
    try:
        return e.is_file(follow_symlinks=True)  # (a FIFO or device is not a file)
    except OSError:
        return False


def _is_dir(e: os.DirEntry) -> bool:
    try:
        return e.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _has_images(folder: Path, depth: int = 5, budget: int = 200) -> bool:
    """True when ``folder`` holds an image file within ``depth`` levels (breadth first, stops at
    the first; after ``budget`` folders without one it answers True and lets the reader decide)."""
    level = [folder]
    for _ in range(depth + 1):
        nxt = []
        for d in level:
            budget -= 1
            if budget < 0:
                return True
            for e in _entries(d):
                if _is_regular(e) and Path(e.name).suffix.lower() in IMAGE_EXTS:
                    return True
                if _is_dir(e) and not e.name.startswith("."):
                    nxt.append(Path(e.path))
        level = nxt
    return False


def is_dataset_file(path: Path) -> bool:
    """A zip archive or a FER2013 csv (plain or gzip), judged by content, not only the name."""
    from ferapp.data.fer2013 import sniff

    name = path.name.lower()
    try:
        if not path.is_file():
            return False
        if name.endswith(".zip"):
            return zipfile.is_zipfile(path)
        return name.endswith(CSV_SUFFIXES) and sniff(path)
    except OSError:
        return False


def find_datasets(folder: str | os.PathLike) -> tuple[Path, ...]:
    """Dataset files (zip archives, FER2013 csv) in ``folder`` and its direct sub-folders."""
    folder = Path(folder)
    found: list[Path] = []
    subdirs = []
    for e in _entries(folder):
        if _is_regular(e):
            if is_dataset_file(Path(e.path)):
                found.append(Path(e.path))
        elif _is_dir(e) and not e.name.startswith("."):
            subdirs.append(Path(e.path))
    for d in subdirs:
        found += [Path(e.path) for e in _entries(d) if _is_regular(e) and is_dataset_file(Path(e.path))]
    return tuple(found)


def locate_dataset(path: str | os.PathLike) -> LocatedDataset:
    """What to read for ``path``: the path itself, or the one dataset file inside a folder
    that holds no images. Raises :class:`AmbiguousDataset` when it holds several."""
    p = Path(path)
    if not p.is_dir() or _has_images(p):
        return LocatedDataset(p)
    found = find_datasets(p)
    if len(found) == 1:
        rel = found[0].relative_to(p)
        return LocatedDataset(
            found[0], f"{p} holds no image files; reading {rel}, the only dataset in it", found
        )
    if found:
        names = ", ".join(str(f.relative_to(p)) for f in found)
        raise AmbiguousDataset(
            f"no image files in {p}, but {len(found)} datasets: {names}; choose one of them", found
        )
    return LocatedDataset(p)  # the reader says what is wrong with it


__all__ = ["AmbiguousDataset", "LocatedDataset", "find_datasets", "is_dataset_file", "locate_dataset"]
