"""Readers for image datasets stored as files (a folder or a .zip read in place).

* ``image-folders`` / ``ckplus48``: class-per-folder layouts. Kaggle FER2013
  (``train/<class>/``, ``test/<class>/`` -> splits train/test) and CK+48
  (``<class>/S###_###_########.png``, subject ``S###`` from the name). Pre-cropped: images
  keep their size (resized only when they differ from ``out_size``).
* ``ckplus``: the original CK+ release (``cohn-kanade-images/S###/###/*.png`` +
  ``Emotion/S###/###/*_emotion.txt``): the peak (last) frame is labelled; optionally the
  first frame of each labelled sequence is added as neutral.
* ``jaffe`` (``KA.AN1.39.tiff``), ``kdef`` (``AF01ANS.JPG``, angle filter), ``oulu``
  (``<subject>/<Expression>/*.jpeg``).

Full-size images (CK+ original, JAFFE, KDEF, Oulu) go through the live pipeline's own
``ferapp.detect.align.extract_face``, so a model trained on them sees the crops it will see
live. When no face is found the image is centre-cropped and a warning names the file.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ferapp.config import settings
from ferapp.data.assemble import Collector, label_names_for, resolve_label
from ferapp.data.base import FaceDataset
from ferapp.data.sources import (
    MAX_ENTRY_BYTES,
    DatasetError,
    Entry,
    FileSource,
    centre_crop,
    fit_size,
)
from ferapp.safeio import ImageError, decode_image

SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "test": "test",
    "testing": "test",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "publictest": "PublicTest",
    "privatetest": "PrivateTest",
}
CK48_NAME = re.compile(r"^(S\d{3})_(\d{3})_(\d+)\.\w+$", re.IGNORECASE)
JAFFE_NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d*)\.(\d+)\.(tiff?|png|jpe?g|bmp)$", re.IGNORECASE)
KDEF_NAME = re.compile(
    r"^([AB])([FM])(\d{2})([A-Z]{2})(FL|FR|HL|HR|S)\.(jpe?g|png|tiff?|bmp)$", re.IGNORECASE
)
SUBJECT_DIR = re.compile(r"^[A-Za-z]{0,2}\d{1,4}$")
CK_CODES = {
    0: "neutral",
    1: "angry",
    2: "contempt",
    3: "disgust",
    4: "fear",
    5: "happy",
    6: "sad",
    7: "surprise",
}
KDEF_ANGLES = ("FL", "HL", "S", "HR", "FR")

Progress = Callable[[int, int], None] | None


@dataclass
class Options:
    keep_contempt: bool = False
    include_neutral_first_frame: bool = False
    angles: tuple[str, ...] | None = ("S",)
    out_size: tuple[int, int] = (48, 48)
    detector: str = field(default_factory=lambda: settings().detection.detector)  # the live one
    progress: Progress = None


def _load_extractor():
    """The live pipeline's detect + align function (imported lazily: dlib is heavy)."""
    from ferapp.detect.align import extract_face

    return extract_face


class Aligner:
    """Detect + align a full-size image with the live pipeline's function; centre crop as fallback."""

    def __init__(self, out_size: tuple[int, int], detector: str | None = None):
        self.out_size, self.detector = tuple(out_size), detector or settings().detection.detector
        self._fn = None
        self.unavailable: str | None = None  # reason, when the aligner could not be imported
        self.calls = 0

    def __call__(self, img: np.ndarray, where: str, col: Collector) -> np.ndarray:
        if self._fn is None and self.unavailable is None:
            try:
                self._fn = _load_extractor()
            except Exception as exc:  # any import failure degrades to centre crops
                self.unavailable = f"{type(exc).__name__}: {exc}"
                col.warnings.append(
                    f"face aligner unavailable ({self.unavailable}): centre crops used, result not cached"
                )
        face = None
        if self._fn is not None:
            self.calls += 1
            try:
                face = self._fn(img, out_size=self.out_size, detector=self.detector)
            except Exception as exc:  # one bad image must not stop the load
                col.warnings.append(f"face alignment failed on {where}: {exc}; centre crop used")
                face = None
            if face is None:
                col.warnings.append(f"no face found in {where}: centre crop used")
        if face is None:
            return centre_crop(img, self.out_size)
        return fit_size(np.asarray(face), self.out_size)


def _tick(progress: Progress, i: int, n: int) -> None:
    if progress is not None and (i % 16 == 0 or i == n):
        progress(i, n)


def _decode(src: FileSource, rel: str, where: str, col: Collector, color: bool = False) -> np.ndarray | None:
    """The image at ``rel`` (its size checked from the header before decoding), or None once
    it is listed as skipped with the reason (unreadable, truncated, larger than the pixel limit)."""
    try:
        return decode_image(src.read(rel), color=color)
    except ImageError as e:
        col.skip(where, str(e))
        return None


def _pre_filter(src: FileSource, col: Collector) -> list[Entry]:
    """Image entries; non-image files and oversized entries are listed as skipped (ignorable OS
    litter silently), and so are folders that could not be read."""
    out = []
    entries = src.entries()
    for where, reason in src.problems:
        col.skip(where, reason)
    for e in entries:
        if e.is_ignorable:
            continue
        if not e.is_image:
            col.skip(src.display(e.rel), "not an image file")
            continue
        if e.size > MAX_ENTRY_BYTES:
            col.skip(
                src.display(e.rel),
                f"{e.size / 2**20:.0f} MB: larger than any face image (limit "
                f"{MAX_ENTRY_BYTES // 2**20} MB), not read",
            )
            continue
        out.append(e)
    return out


# ---------------------------------------------------------------------------------------------
# class-per-folder (Kaggle FER2013 folders, CK+48)


def read_image_folders(src: FileSource, opts: Options, fmt: str = "image-folders") -> FaceDataset:
    col = Collector(fmt, str(src.path), label_names_for(opts.keep_contempt))
    ents = _pre_filter(src, col)
    unknown_dirs: dict[str, int] = defaultdict(int)
    for i, e in enumerate(ents, 1):
        _tick(opts.progress, i, len(ents))
        where = src.display(e.rel)
        parts = e.parts
        if len(parts) < 2:
            col.skip(where, "image outside a class folder")
            continue
        cls = parts[-2]
        idx, status = resolve_label(cls, opts.keep_contempt)
        if status == "unknown":
            unknown_dirs[cls] += 1
            col.unknown(cls, where)
            continue
        if status == "contempt":
            col.contempt(where)
            continue
        img = _decode(src, e.rel, where, col)
        if img is None:
            continue
        split = SPLIT_NAMES.get(parts[-3].lower(), "") if len(parts) >= 3 else ""
        m = CK48_NAME.match(e.name)
        col.add(fit_size(img, opts.out_size), idx, split, m.group(1).upper() if m else "", where)
    return col.finish()


# ---------------------------------------------------------------------------------------------
# CK+ original release


def _index_of(parts: tuple[str, ...], name: str) -> int:
    low = [p.lower() for p in parts]
    return low.index(name) if name in low else -1


def _ck_index(
    src: FileSource, col: Collector
) -> tuple[dict[tuple[str, str], list[Entry]], dict[tuple[str, str], Entry]]:
    """CK+'s frames and Emotion files by (subject, sequence)."""
    frames: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    emotions: dict[tuple[str, str], Entry] = {}
    entries = src.entries()
    for where, reason in src.problems:
        col.skip(where, reason)
    for e in entries:
        if e.is_ignorable:
            continue
        p = e.parts
        i = _index_of(p, "cohn-kanade-images")
        j = _index_of(p, "emotion")
        if i >= 0 and len(p) == i + 4:
            if e.is_image:
                frames[(p[i + 1], p[i + 2])].append(e)
            else:
                col.skip(src.display(e.rel), "not an image file")
        elif j >= 0 and len(p) == j + 4 and e.name.lower().endswith("_emotion.txt"):
            emotions[(p[j + 1], p[j + 2])] = e
    return frames, emotions


def read_ckplus(src: FileSource, opts: Options, aligner: Aligner) -> FaceDataset:
    col = Collector("ckplus", str(src.path), label_names_for(opts.keep_contempt))
    frames, emotions = _ck_index(src, col)
    if not frames:
        raise DatasetError(f"no CK+ frames under cohn-kanade-images/S###/###/ in {src.path}")
    unlabelled = len(set(frames) - set(emotions))
    if unlabelled:
        col.warnings.append(
            f"{unlabelled} sequence(s) without an Emotion label ignored (as in the CK+ protocol)"
        )
    keys = sorted(emotions)
    for n, key in enumerate(keys, 1):
        _tick(opts.progress, n, len(keys))
        em = emotions[key]
        where_em = src.display(em.rel)
        try:
            value = float(src.read(em.rel, limit=4096).decode("ascii", "replace").split()[0])
            if not math.isfinite(value):
                raise ValueError(value)
            code = int(round(value))
        except (ValueError, IndexError, OverflowError):
            col.skip(where_em, "emotion file is not a number")
            continue
        if code not in CK_CODES or code == 0:
            col.unknown(f"CK+ code {code}", where_em)
            continue
        seq = sorted(frames.get(key, []), key=lambda e: e.name)
        if not seq:
            col.skip(where_em, "labelled sequence has no frames")
            continue
        idx, status = resolve_label(CK_CODES[code], opts.keep_contempt)
        if status == "contempt":
            col.contempt(where_em)
            continue
        peak_name = em.name[: -len("_emotion.txt")]
        peak = next((f for f in seq if f.name.rsplit(".", 1)[0] == peak_name), seq[-1])
        todo = [(peak, idx)]
        if opts.include_neutral_first_frame and seq[0] is not peak:
            todo.append((seq[0], resolve_label("neutral", False)[0]))
        for fe, lab in todo:
            where = src.display(fe.rel)
            img = _decode(src, fe.rel, where, col, color=True)
            if img is None:
                continue
            col.add(aligner(img, where, col), lab, "", key[0].upper(), where)
    return col.finish()


# ---------------------------------------------------------------------------------------------
# JAFFE, KDEF, Oulu-CASIA (full-size, one expression per file name or folder)


def _read_named(
    src: FileSource,
    opts: Options,
    aligner: Aligner,
    fmt: str,
    parse: Callable[[Entry], tuple[str, str, str | None] | None],
) -> FaceDataset:
    """Shared loop: ``parse(entry)`` -> (label code, subject, exclusion reason or None) or None (bad name)."""
    col = Collector(fmt, str(src.path), label_names_for(opts.keep_contempt))
    ents = _pre_filter(src, col)
    excluded: dict[str, int] = defaultdict(int)
    for i, e in enumerate(ents, 1):
        _tick(opts.progress, i, len(ents))
        where = src.display(e.rel)
        parsed = parse(e)
        if parsed is None:
            col.skip(where, f"file name/location does not follow the {fmt} layout")
            continue
        code, subject, exclude = parsed
        if exclude:
            excluded[exclude] += 1
            continue
        idx, status = resolve_label(code, opts.keep_contempt)
        if status == "unknown":
            col.unknown(code, where)
            continue
        if status == "contempt":
            col.contempt(where)
            continue
        img = _decode(src, e.rel, where, col, color=True)
        if img is None:
            continue
        col.add(aligner(img, where, col), idx, "", subject, where)
    for reason, n in excluded.items():
        col.warnings.append(f"{n} image(s) excluded: {reason}")
    return col.finish()


def read_jaffe(src: FileSource, opts: Options, aligner: Aligner) -> FaceDataset:
    def parse(e: Entry):
        m = JAFFE_NAME.match(e.name)
        return (m.group(2), m.group(1).upper(), None) if m else None

    return _read_named(src, opts, aligner, "jaffe", parse)


def read_kdef(src: FileSource, opts: Options, aligner: Aligner) -> FaceDataset:
    angles = (
        None
        if opts.angles is None or "all" in [a.lower() for a in opts.angles]
        else {a.upper() for a in opts.angles}
    )
    if angles is not None and not angles <= set(KDEF_ANGLES):
        raise DatasetError(
            f"unknown KDEF angle(s) {sorted(angles - set(KDEF_ANGLES))}; use {KDEF_ANGLES} or 'all'"
        )

    def parse(e: Entry):
        m = KDEF_NAME.match(e.name)
        if not m:
            return None
        angle = m.group(5).upper()
        excl = (
            f"view angle not in angles={tuple(sorted(angles))}"
            if angles is not None and angle not in angles
            else None
        )
        return (m.group(4), (m.group(2) + m.group(3)).upper(), excl)

    return _read_named(src, opts, aligner, "kdef", parse)


def read_oulu(src: FileSource, opts: Options, aligner: Aligner) -> FaceDataset:
    def parse(e: Entry):
        p = e.parts
        return (p[-2], p[-3], None) if len(p) >= 3 else None

    return _read_named(src, opts, aligner, "oulu", parse)


# ---------------------------------------------------------------------------------------------
# layout detection


def detect_source_format(src: FileSource) -> str:
    ents = [e for e in src.entries() if e.is_image and not e.is_ignorable]
    lows = [{p.lower() for p in e.parts} for e in src.entries()]
    if any("cohn-kanade-images" in s for s in lows) and any("emotion" in s for s in lows):
        return "ckplus"
    n = len(ents)
    if n == 0:
        raise DatasetError(f"no image files found in {src.path}")
    if sum(bool(JAFFE_NAME.match(e.name)) for e in ents) * 2 >= n:
        return "jaffe"
    if sum(bool(KDEF_NAME.match(e.name)) for e in ents) * 2 >= n:
        return "kdef"
    labelled = [e for e in ents if len(e.parts) >= 2 and resolve_label(e.parts[-2], True)[1] == "ok"]
    if len(labelled) * 2 >= n:
        subj = [
            e.parts[-3]
            for e in labelled
            if len(e.parts) >= 3 and SUBJECT_DIR.match(e.parts[-3]) and e.parts[-3].lower() not in SPLIT_NAMES
        ]
        if len(subj) * 2 >= len(labelled) and len(set(subj)) >= 2:
            return "oulu"
        if sum(bool(CK48_NAME.match(e.name)) for e in labelled) * 2 >= len(labelled):
            return "ckplus48"
        return "image-folders"
    raise DatasetError(
        f"cannot tell the dataset layout of {src.path}: expected class folders (train/<class>/, <class>/), "
        "CK+ (cohn-kanade-images + Emotion), JAFFE (KA.AN1.39.tiff), KDEF (AF01ANS.JPG) or Oulu-CASIA "
        "(<subject>/<Expression>/)"
    )
