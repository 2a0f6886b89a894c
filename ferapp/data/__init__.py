"""Dataset readers, the preprocessing cache and evaluation protocols (Qt-free).

>>> ds = load_dataset("fer2013.csv.gz")            # format detected from the content
>>> print(summarize(ds))
>>> for fold in get_protocol("official").folds(ds): ...

Every reader returns a :class:`~ferapp.data.base.FaceDataset` whose ``report`` lists counts
per split and class, subjects, warnings and the skipped files or rows (counted; the first few
listed with their reason). Bad
input never crashes a load; :class:`DatasetError` is raised only when nothing usable is found.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ferapp.data import cache as _cache
from ferapp.data.base import DatasetReport, FaceDataset
from ferapp.data.protocols import Fold, Protocol, get_protocol, list_protocols
from ferapp.data.sources import DatasetError, FileSource, file_fingerprint
from ferapp.data.summary import summarize

__all__ = [
    "at_crop_size",
    "DatasetError",
    "DatasetReport",
    "FaceDataset",
    "Fold",
    "Protocol",
    "detect_format",
    "get_protocol",
    "list_formats",
    "list_protocols",
    "load_dataset",
    "summarize",
]

READER_VERSION = 2  # 2: skipped items counted (first few listed); images size-checked before decoding

_FORMATS = {
    "fer2013-csv": "FER2013 csv (emotion,pixels,Usage), plain or .gz; optional FER+ labels",
    "image-folders": "class-per-folder images (Kaggle FER2013 train/<class>/, test/<class>/), folder or .zip",
    "ckplus48": "CK+48: <class>/S###_###_########.png, subject from the file name, folder or .zip",
    "ckplus": "CK+ original: cohn-kanade-images/S###/###/*.png + Emotion/S###/###/*_emotion.txt",
    "jaffe": "JAFFE: KA.AN1.39.tiff (subject.codeN.index)",
    "kdef": "KDEF: AF01ANS.JPG (session, sex, id, expression, angle)",
    "oulu": "Oulu-CASIA: <subject>/<Expression>/*.jpeg",
}
_FULL_SIZE = {"ckplus", "jaffe", "kdef", "oulu"}


def list_formats() -> list[str]:
    return list(_FORMATS)


def describe_format(name: str) -> str:
    return _FORMATS[name]


def detect_format(path: str | os.PathLike) -> str:
    """Name of the reader for ``path`` (looks at the content/layout, not only the extension)."""
    from ferapp.data.fer2013 import sniff
    from ferapp.data.folders import detect_source_format

    p = Path(path)
    if not p.exists():
        raise DatasetError(f"dataset path does not exist: {p}")
    if p.is_file():
        try:
            with open(p, "rb") as f:
                f.read(1)
        except OSError as exc:
            raise DatasetError(f"cannot read {p}: {exc.strerror or exc}") from exc
    if p.is_file() and not _is_zip(p):
        if sniff(p):
            return "fer2013-csv"
        raise DatasetError(f"{p} is neither a FER2013 csv (emotion,pixels,Usage) nor a .zip of images")
    src = FileSource(p)
    try:
        return detect_source_format(src)
    finally:
        src.close()


def _is_zip(p: Path) -> bool:
    import zipfile

    return zipfile.is_zipfile(p)


def load_dataset(
    path: str | os.PathLike,
    format: str = "auto",
    *,
    keep_contempt: bool = False,
    ferplus: str | None = None,
    include_neutral_first_frame: bool = False,
    angles: tuple[str, ...] | None = ("S",),
    out_size: tuple[int, int] = (48, 48),
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
    detector: str | None = None,
    ferplus_csv: str | os.PathLike | None = None,
    use_cache: bool = True,
) -> FaceDataset:
    """Read a dataset into canonical labels, through the on-disk cache.

    ``format``: one of :func:`list_formats` or ``"auto"``. ``keep_contempt`` keeps contempt as
    an 8th label ``contempt`` (else dropped, with a warning). ``ferplus`` (FER2013 only):
    ``"majority"`` or ``"soft"`` labels from ``fer2013new.csv`` (found next to the csv, in a
    sibling ``ferplus/`` folder, or given as ``ferplus_csv``). ``include_neutral_first_frame``
    (CK+ original): add each labelled sequence's first frame as neutral. ``angles`` (KDEF):
    angles kept, ``None`` or ``("all",)`` for all five. ``out_size`` (H, W) of the crops.
    ``cache_dir``: default ``$FERAPP_CACHE_DIR`` or the user cache dir + ``/datasets``.
    ``progress(done, total)`` is called while a cold load runs (bytes for a csv, files otherwise).
    ``detector``: what finds the faces of full-size images (default: the live one, ``ferapp.config``).
    """
    from ferapp.config import settings as app_settings

    detector = detector or app_settings().detection.detector
    p = Path(path)
    fmt = _checked_format(p, format, ferplus)
    out_size = (int(out_size[0]), int(out_size[1]))
    angles_t = None if angles is None else tuple(angles)

    settings, src = _cache_settings(
        p,
        fmt,
        keep_contempt=keep_contempt,
        out_size=out_size,
        ferplus=ferplus,
        ferplus_csv=ferplus_csv,
        detector=detector,
        angles=angles_t,
        include_neutral_first_frame=include_neutral_first_frame,
    )
    cdir = _cache.resolve_cache_dir(cache_dir)
    key = _cache.make_key(**settings)
    tag = f"{fmt}-{p.stem}"
    if use_cache:
        hit = _cache.load(cdir, key, tag)
        if hit is not None:
            if src is not None:
                src.close()
            return hit

    try:
        if fmt == "fer2013-csv":
            from ferapp.data.fer2013 import read_fer2013

            parsed = None
            if ferplus or out_size != (48, 48):  # derived views reuse the cached plain parse
                parsed = load_dataset(
                    p, "fer2013-csv", cache_dir=cache_dir, progress=progress, use_cache=use_cache
                )
            ds = read_fer2013(
                p,
                keep_contempt=keep_contempt,
                ferplus=ferplus,
                ferplus_csv=Path(ferplus_csv) if ferplus_csv else None,
                out_size=out_size,
                progress=progress,
                parsed=parsed,
            )
            cacheable = True
        else:
            ds, cacheable = _read_folders(
                src,
                fmt,
                dict(
                    keep_contempt=keep_contempt,
                    include_neutral_first_frame=include_neutral_first_frame,
                    angles=angles_t,
                    out_size=out_size,
                    detector=detector,
                    progress=progress,
                ),
            )
    finally:
        if src is not None:
            src.close()
    if use_cache and cacheable:
        _cache.save(cdir, key, tag, ds)
    return ds


def _checked_format(p: Path, format: str, ferplus: str | None) -> str:
    fmt = detect_format(p) if format == "auto" else format
    if fmt not in _FORMATS:
        raise DatasetError(f"unknown dataset format {fmt!r}; known: {', '.join(_FORMATS)}")
    if ferplus not in (None, "majority", "soft"):
        raise ValueError(f"ferplus must be None, 'majority' or 'soft', not {ferplus!r}")
    if ferplus and fmt != "fer2013-csv":
        raise DatasetError(f"FER+ labels apply to the FER2013 csv only, not to {fmt}")
    return fmt


def _cache_settings(
    p: Path,
    fmt: str,
    *,
    keep_contempt: bool,
    out_size: tuple[int, int],
    ferplus: str | None,
    ferplus_csv,
    detector: str,
    angles,
    include_neutral_first_frame: bool,
):
    """The settings that key the cache entry (with the source's fingerprint), and the opened
    source of a folder/zip format (None for the csv)."""
    settings: dict = {
        "format": fmt,
        "reader": READER_VERSION,
        "keep_contempt": keep_contempt,
        "out_size": out_size,
        "path": str(p.resolve()),
    }  # reported paths are absolute: a moved dataset gets a new entry
    if fmt == "fer2013-csv":
        try:
            settings["source"] = file_fingerprint(p)  # regular files only: a FIFO is refused, not waited on
        except OSError as exc:
            raise DatasetError(f"cannot read {p}: {exc.strerror or exc}") from None
        if ferplus:
            from ferapp.data.fer2013 import find_ferplus_csv

            fp = Path(ferplus_csv) if ferplus_csv else find_ferplus_csv(p)
            settings.update(
                ferplus=ferplus, ferplus_source=file_fingerprint(fp) if fp and fp.is_file() else None
            )
        return settings, None
    src = FileSource(p)
    settings["source"] = src.fingerprint()
    if fmt in _FULL_SIZE:
        settings["detector"] = detector
    if fmt == "ckplus":
        settings["neutral_first"] = include_neutral_first_frame
    if fmt == "kdef":
        settings["angles"] = angles
    return settings, src


def _read_folders(src, fmt: str, options: dict) -> tuple[FaceDataset, bool]:
    """Read a folder/zip format with ``folders.Options(**options)``; the bool says whether the
    result may be cached (not when the face aligner was unavailable)."""
    from ferapp.data import folders

    opts = folders.Options(**options)
    if fmt in ("image-folders", "ckplus48"):
        return folders.read_image_folders(src, opts, fmt), True
    aligner = folders.Aligner(opts.out_size, opts.detector)
    reader = {
        "ckplus": folders.read_ckplus,
        "jaffe": folders.read_jaffe,
        "kdef": folders.read_kdef,
        "oulu": folders.read_oulu,
    }[fmt]
    ds = reader(src, opts, aligner)
    return ds, aligner.unavailable is None


def at_crop_size(ds: FaceDataset, out_size: tuple[int, int]) -> FaceDataset:
    """``ds`` with its faces at a model's ``crop_size`` (H, W). A full-size dataset (CK+, JAFFE,
    KDEF, Oulu: faces cut by the live aligner) read at another size is read again from its path,
    through the cache, so its faces are aligned at that size as live frames are; it is kept as it
    is when that gives other images (a set read with other options). Pre-cropped sets (FER2013,
    CK+48, image folders) are returned as they are: preprocessing resizes them exactly as reading
    them at that size would."""
    size = (int(out_size[0]), int(out_size[1]))
    rep = ds.report
    if rep.format not in _FULL_SIZE or tuple(ds.images.shape[1:3]) == size or not Path(rep.path).exists():
        return ds
    again = load_dataset(rep.path, rep.format, out_size=size)
    return again if list(again.paths) == list(ds.paths) and (again.labels == ds.labels).all() else ds
