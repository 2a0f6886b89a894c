"""File access shared by the readers: a folder or a .zip read in place, image decoding, hashing.

A reader never touches ``os`` or ``zipfile`` directly: it lists :class:`Entry` objects from a
:class:`FileSource` and reads their bytes, so a dataset behaves the same whether it is an
extracted folder or the original archive (CK+48.zip is read without extracting).
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from ferapp.detect.base import to_gray  # the one BGR(A)/gray -> gray
from ferapp.safeio import file_kind, open_regular, read_bounded

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp"}
# Files that are expected next to images and are not worth a warning.
IGNORED_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}


class DatasetError(Exception):
    """Nothing usable was found at a path (wrong layout, empty folder, unreadable file)."""


@dataclass(frozen=True)
class Entry:
    """One file inside a source. ``rel`` is a POSIX path relative to the source root."""

    rel: str
    size: int
    mtime: float

    @property
    def parts(self) -> tuple[str, ...]:
        return PurePosixPath(self.rel).parts

    @property
    def name(self) -> str:
        return PurePosixPath(self.rel).name

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.rel).suffix.lower()

    @property
    def is_image(self) -> bool:
        return self.suffix in IMAGE_EXTS

    @property
    def is_ignorable(self) -> bool:
        n = self.name.lower()
        return n in IGNORED_NAMES or n.startswith("._") or "__MACOSX" in self.parts


MAX_ENTRY_BYTES = 64 * 1024 * 1024  # no face image is this large; a zip entry claiming more is refused


def printable(name: str) -> str:
    """A file name as text a user can read, even when it is not valid UTF-8 on disk."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class FileSource:
    """A folder or a zip archive, listed once, read by relative path.

    Bounded: an entry larger than ``MAX_ENTRY_BYTES`` (declared in the zip index, or found while
    reading, whichever comes first) is never read into memory; folders that cannot be listed
    (permissions) are recorded in ``problems`` instead of being skipped silently."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise DatasetError(f"dataset path does not exist: {self.path}")
        self.is_zip = self.path.is_file() and zipfile.is_zipfile(self.path)
        if not self.is_zip and not self.path.is_dir():
            raise DatasetError(f"not a folder or a .zip archive: {self.path}")
        self._zip: zipfile.ZipFile | None = None
        self._entries: list[Entry] | None = None
        self.problems: list[tuple[str, str]] = []  # (folder or file, reason) found while listing

    def entries(self) -> list[Entry]:
        if self._entries is None:
            self._entries = self._list()
        return self._entries

    def _list(self) -> list[Entry]:
        out: list[Entry] = []
        if self.is_zip:
            try:
                infos = self._zipfile().infolist()
            except (zipfile.BadZipFile, OSError) as exc:
                raise DatasetError(f"cannot read zip archive {self.path}: {exc}") from exc
            for info in infos:
                if info.is_dir():
                    continue
                y, mo, d, h, mi, s = info.date_time
                out.append(
                    Entry(
                        info.filename,
                        info.file_size,
                        float(((y * 12 + mo) * 31 + d) * 86400 + h * 3600 + mi * 60 + s),
                    )
                )
        else:

            def unreadable(err: OSError) -> None:
                self.problems.append(
                    (printable(str(err.filename or self.path)), f"cannot read folder: {err.strerror or err}")
                )

            for dirpath, dirnames, filenames in os.walk(self.path, onerror=unreadable):
                dirnames.sort()
                for fn in sorted(filenames):
                    full = Path(dirpath) / fn
                    try:
                        st = full.stat()
                    except OSError as err:  # a broken link, a link loop
                        self.problems.append((printable(str(full)), f"cannot read: {err.strerror or err}"))
                        continue
                    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the reader forever
                        self.problems.append(
                            (printable(str(full)), f"{file_kind(st.st_mode)}, not a regular file: not read")
                        )
                        continue
                    out.append(Entry(full.relative_to(self.path).as_posix(), st.st_size, st.st_mtime))
        out.sort(key=lambda e: e.rel)
        return out

    def _zipfile(self) -> zipfile.ZipFile:
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return self._zip

    def read(self, rel: str, limit: int | None = None) -> bytes:
        """The file's bytes; ``b""`` when it cannot be read (bad CRC, permissions, larger than
        ``limit``, default ``MAX_ENTRY_BYTES``), so callers list it as unreadable. Never reads
        more than ``limit`` + 1 bytes."""
        limit = MAX_ENTRY_BYTES if limit is None else int(limit)
        try:
            if self.is_zip:
                zf = self._zipfile()
                if zf.getinfo(rel).file_size > limit:
                    return b""
                with zf.open(rel) as f:
                    data = f.read(limit + 1)  # the index may lie about the size: bound the read itself
            else:
                return read_bounded(self.path / rel, limit)  # regular files only, bounded by bytes read
        except (
            OSError,
            KeyError,
            zipfile.BadZipFile,
            zlib.error,
            RuntimeError,
            EOFError,
            NotImplementedError,
        ):
            return b""
        return b"" if len(data) > limit else data

    def display(self, rel: str) -> str:
        """A path a user can find: ``archive.zip!inner/file.png`` or the file path."""
        return printable(f"{self.path}!{rel}" if self.is_zip else str(self.path / rel))

    def fingerprint(self) -> str:
        """Cheap identity of the whole source: file list + sizes + mtimes (or the archive's identity)."""
        if self.is_zip:
            return file_fingerprint(self.path)
        h = hashlib.sha256()
        for e in self.entries():
            h.update(f"{e.rel}\0{e.size}\0{e.mtime:.3f}\n".encode("utf-8", "surrogateescape"))
        return h.hexdigest()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None


def file_fingerprint(path: str | os.PathLike) -> str:
    """size + mtime + sha256 of the first MiB: stable while the file is unchanged, instant to compute."""
    with open_regular(path) as f:  # a FIFO named like a dataset must not block here
        st = os.fstat(f.fileno())
        h = hashlib.sha256()
        h.update(f"{st.st_size}\0{st.st_mtime_ns}\0".encode())
        h.update(f.read(1 << 20))
    return h.hexdigest()


def fit_size(img: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Gray uint8 at ``out_size`` (H, W); untouched when it already has that size."""
    img = to_gray(img)
    h, w = out_size
    if img.shape[:2] == (h, w):
        return img
    interp = cv2.INTER_AREA if img.shape[0] > h else cv2.INTER_LINEAR
    return cv2.resize(img, (w, h), interpolation=interp)


def centre_crop(img: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Fallback when no face is found: the largest centred square, gray, resized."""
    img = to_gray(img)
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return fit_size(img[top : top + s, left : left + s], out_size)


def content_hash(*arrays: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.data if a.dtype != object else repr(a.tolist()).encode())
    return h.hexdigest()
