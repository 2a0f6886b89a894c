"""FER2013 CSV reader (``emotion,pixels,Usage``; plain or .gz) with optional FER+ relabelling.

The file is streamed in blocks and every block's pixel strings are parsed in one vectorised
pass over the raw bytes (no per-value Python work), so the 35,887 rows (300 MB of text)
load in a few seconds; the result is cached by :mod:`ferapp.data.cache`.

Bad rows (wrong pixel count, non-numeric pixels, bad emotion code, wrong number of fields)
are skipped and counted in the report (the first few listed with their reason), never fatal.
The read is bounded: at most ``MAX_BYTES`` of text, ``MAX_LINES`` lines and ``MAX_LINE`` bytes
per line, so a small .gz of millions of bad lines stops with a clear error in a second.

FER+ (Barsoum et al. 2016, ``fer2013new.csv``) lines up with fer2013.csv row by row. Labels
follow Microsoft's reference code: votes of 1 are removed as outliers; ``majority`` keeps a
row when one emotion has more than half of the remaining votes, ``soft`` keeps the vote
distribution; rows whose winner is unknown / NF (not a face) are dropped, and contempt is
dropped unless ``keep_contempt``.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ferapp.data.assemble import label_names_for, make_dataset
from ferapp.data.base import FaceDataset, SkipLog
from ferapp.data.sources import DatasetError, fit_size
from ferapp.labels import LABELS
from ferapp.safeio import open_regular, read_bounded

FORMAT = "fer2013-csv"
SIDE = 48
NPIX = SIDE * SIDE
BLOCK = 8 << 20
# A FER2013 row is about 9 KB (2,304 values); the whole decompressed file is ~290 MB. Anything
# far beyond is not FER2013 (or a decompression bomb) and stops the read with a clear error.
MAX_LINE = 64 * 1024
MAX_BYTES = 2 * 1024**3
# FER2013 has 35,887 rows; 2 GB of text holds at most ~466,000 rows of 2,304 pixel values. More
# lines than this (blank or not) is not a FER2013 file: the read stops with a clear error.
MAX_LINES = 500_000

FERPLUS_COLUMNS = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
# FER+ column -> canonical index (contempt -> 7 = the optional 8th class); unknown/NF -> -1.
FERPLUS_TO_CANON = np.array([6, 3, 5, 4, 0, 1, 2, 7, -1, -1])


def _open(path: Path):
    raw = open_regular(path)  # a FIFO or device named *.csv is refused instead of blocking
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")
    return raw, raw


def sniff(path: Path) -> bool:
    """True when the file's first line looks like a FER2013 header (emotion + pixels columns)."""
    try:
        raw, stream = _open(path)
        with raw:
            head = stream.readline(4096).decode("utf-8", "replace").lower()
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
    cols = [c.strip().strip('"') for c in head.split(",")]
    return "emotion" in cols and "pixels" in cols


_BAD_CHAR = re.compile(rb"[^0-9 \t]")


def _parse_row(p: bytes) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns when a string cannot be read to its end
        try:
            return np.fromstring(p, dtype=np.int32, sep=" ")
        except ValueError:
            return np.zeros(0, np.int32)


def _parse_block(pix: list[bytes]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Pixel strings -> (ok mask per row, (n_ok, 2304) uint8, reason per rejected row).

    Fast path: one C-level parse of the whole block; only a block that contains a bad row
    is parsed again row by row to find it.
    """
    n = len(pix)
    joined = b" ".join(pix)
    flat = _parse_row(joined)
    if (
        flat.size == n * NPIX
        and all(p.count(b" ") == NPIX - 1 for p in pix)
        and not _BAD_CHAR.search(joined)
        and (flat.min(initial=0) >= 0)
        and (flat.max(initial=0) <= 255)
    ):
        return np.ones(n, bool), flat.astype(np.uint8).reshape(n, NPIX), [""] * n
    ok = np.zeros(n, bool)
    reasons = [""] * n
    good = []
    for j, p in enumerate(pix):
        if _BAD_CHAR.search(p):
            reasons[j] = "non-numeric pixel values"
            continue
        v = _parse_row(p)
        if v.size != NPIX:
            reasons[j] = f"expected {NPIX} pixel values, found {v.size}"
        elif v.min() < 0 or v.max() > 255:
            reasons[j] = "out-of-range pixel values (not 0..255)"
        else:
            ok[j] = True
            good.append(v.astype(np.uint8))
    arr = np.stack(good) if good else np.zeros((0, NPIX), np.uint8)
    return ok, arr, reasons


def parse_csv(path: str | Path, progress: Callable[[int, int], None] | None = None):
    """Raw parse: (images (N,48,48) uint8, emotion codes (N,), usage (N,) str, row index (N,),
    skipped rows (a SkipLog), total rows, notes (e.g. the file ends early))."""
    path = Path(path)
    try:
        raw, stream = _open(path)
        total_bytes = os.fstat(raw.fileno()).st_size
    except OSError as exc:
        raise DatasetError(f"cannot open {path}: {exc.strerror or exc}") from exc
    notes: list[str] = []
    with raw:
        acc = _Rows(*_read_header(stream, path))

        def on_block() -> None:
            if progress is not None:
                progress(min(raw.tell(), total_bytes), total_bytes)

        try:
            leftover = _read_blocks(stream, path, acc, on_block)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            notes.append(
                f"the file ends early or is corrupt after {acc.row} rows ({exc}): the rows before are used"
            )
            leftover = b""
        if leftover.strip():
            acc.add_lines([leftover])
    images = acc.images
    imgs = np.concatenate(images).reshape(-1, SIDE, SIDE) if images else np.zeros((0, SIDE, SIDE), np.uint8)
    return (
        imgs,
        np.asarray(acc.codes, dtype=np.int64),
        np.asarray(acc.usages, dtype=str),
        np.asarray(acc.rows, dtype=np.int64),
        acc.skipped,
        acc.row,
        notes,
    )


def _read_header(stream, path: Path) -> tuple[int, int, int, int | None]:
    """(number of columns, index of emotion, of pixels, of usage or None) from the header line."""
    try:
        header_b = stream.readline(MAX_LINE + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if len(header_b) > MAX_LINE:
        raise DatasetError(
            f"{path} is not a FER2013 csv: its first line is longer than {MAX_LINE // 1024} KB"
        )
    header = header_b.decode("utf-8-sig", "replace")
    cols = [c.strip().strip('"').lower() for c in header.strip().split(",")]
    if "emotion" not in cols or "pixels" not in cols:
        raise DatasetError(
            f"{path} is not a FER2013 csv: header {header.strip()[:80]!r} lacks 'emotion' and 'pixels'"
        )
    return (
        len(cols),
        cols.index("emotion"),
        cols.index("pixels"),
        cols.index("usage") if "usage" in cols else None,
    )


def _read_blocks(stream, path: Path, acc: _Rows, on_block: Callable[[], None]) -> bytes:
    """Feed ``acc`` the complete lines of each block read; returns the unterminated last line.
    Stops (DatasetError) at sizes no FER2013 file has."""
    leftover = b""
    seen = lines_seen = 0
    while True:
        block = stream.read(BLOCK)
        if not block:
            return leftover
        seen += len(block)
        if seen > MAX_BYTES:
            raise DatasetError(
                f"{path}: more than {MAX_BYTES // 1024**3} GB of csv text (FER2013 is "
                "about 0.3 GB): not a FER2013 file, stopped reading"
            )
        lines_seen += block.count(b"\n")
        if lines_seen > MAX_LINES:
            raise DatasetError(
                f"{path}: more than {MAX_LINES:,} lines (FER2013 has 35,887 rows): not a "
                "FER2013 csv, stopped reading"
            )
        lines = (leftover + block).split(b"\n")
        leftover = lines.pop()
        if len(leftover) > MAX_LINE or any(len(ln) > MAX_LINE for ln in lines):
            raise DatasetError(
                f"{path}: a line after row {acc.row} is longer than {MAX_LINE // 1024} KB "
                "(a FER2013 row is about 9 KB): not a FER2013 csv, stopped reading"
            )
        acc.add_lines(lines)
        on_block()


class _Rows:
    """What a parse has accepted so far, and the rows it skipped with their reasons."""

    def __init__(self, ncols: int, i_em: int, i_px: int, i_us: int | None):
        self.ncols, self.i_em, self.i_px, self.i_us = ncols, i_em, i_px, i_us
        self.images: list[np.ndarray] = []
        self.codes: list[int] = []
        self.usages: list[str] = []
        self.rows: list[int] = []
        self.skipped = SkipLog()
        self.row = 0  # data rows seen (blank lines are not rows)

    def add_lines(self, lines: list[bytes]) -> None:
        pix, meta = self._fields(lines)
        if not pix:
            return
        ok, arr, reasons = _parse_block(pix)
        for j, (r, code, us) in enumerate(meta):
            if ok[j]:
                self.rows.append(r)
                self.codes.append(code)
                self.usages.append(us)
            else:
                self.skipped.add(f"row:{r}", reasons[j])
        self.images.append(arr)

    def _fields(self, lines: list[bytes]) -> tuple[list[bytes], list[tuple[int, int, str]]]:
        """The pixel strings and (row, code, usage) of the lines with a valid field count and code."""
        pix, meta = [], []
        for line in lines:
            line = line.strip()
            if not line:
                continue
            r = self.row
            self.row += 1
            f = line.replace(b'"', b"").split(b",")
            if len(f) != self.ncols:
                self.skipped.add(f"row:{r}", f"expected {self.ncols} fields, found {len(f)}")
                continue
            try:
                code = int(f[self.i_em])
            except ValueError:
                code = -1
            if not 0 <= code < len(LABELS):
                self.skipped.add(f"row:{r}", f"bad emotion code {f[self.i_em][:20].decode('latin-1')!r}")
                continue
            pix.append(f[self.i_px])
            meta.append((r, code, f[self.i_us].strip().decode("latin-1") if self.i_us is not None else ""))
        return pix, meta


def read_ferplus_votes(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """fer2013new.csv -> (votes (N, 10) float32 in FERPLUS_COLUMNS order, usage (N,) str)."""
    path = Path(path)
    try:  # the real file is 1.6 MB
        text = read_bounded(path, 64 * 1024 * 1024).decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise DatasetError(f"cannot read FER+ labels {path}: {exc.strerror or exc}") from exc
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    try:
        idx = [header.index(c) for c in FERPLUS_COLUMNS]
    except ValueError as exc:
        raise DatasetError(f"{path} is not a FER+ label file (header {header})") from exc
    i_us = header.index("Usage") if "Usage" in header else None
    votes, usage = [], []
    for rec in reader:
        if not rec:
            continue
        try:
            v = [float(rec[i]) for i in idx]
            if not all(math.isfinite(x) and 0 <= x <= 1000 for x in v):
                raise ValueError("vote out of range")
            votes.append(v)
        except (ValueError, IndexError):
            votes.append([0.0] * 9 + [10.0])  # unreadable row: treated as not-a-face, dropped below
        usage.append(rec[i_us].strip() if i_us is not None and i_us < len(rec) else "")
    return np.asarray(votes, dtype=np.float32).reshape(-1, 10), np.asarray(usage, dtype=str)


def ferplus_labels(
    votes: np.ndarray, mode: str, keep_contempt: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Votes -> (canonical label per row, -1 = dropped; soft labels (N, C) or None; drop reason codes).

    Reason codes: 0 kept, 1 no majority, 2 unknown/NF wins, 3 contempt dropped.
    """
    v = votes.copy()
    v[v <= 1] = 0  # Microsoft's outlier removal: a single vote is noise
    total = v.sum(1)
    top = v.argmax(1)
    reason = np.zeros(len(v), dtype=np.int8)
    if mode == "majority":
        reason[~(v.max(1) > 0.5 * total)] = 1
    elif mode != "soft":
        raise ValueError(f"ferplus must be None, 'majority' or 'soft', not {mode!r}")
    reason[(reason == 0) & ((top >= 8) | (total == 0))] = 2
    n_cls = 8 if keep_contempt else 7
    if not keep_contempt:
        reason[(reason == 0) & (top == 7)] = 3
    labels = np.where(reason == 0, FERPLUS_TO_CANON[top], -1)
    soft = None
    if mode == "soft":
        soft = np.zeros((len(v), n_cls), dtype=np.float32)
        for col in range(n_cls):
            soft[:, FERPLUS_TO_CANON[col]] = v[:, col]
        s = soft.sum(1, keepdims=True)
        soft = np.divide(soft, s, out=np.zeros_like(soft), where=s > 0)
        labels = np.where(reason == 0, soft.argmax(1), -1)  # hard label = most probable canonical class
    return labels, soft, reason


def find_ferplus_csv(fer_path: Path) -> Path | None:
    for cand in (
        fer_path.parent / "fer2013new.csv",
        fer_path.parent.parent / "ferplus" / "fer2013new.csv",
        fer_path.parent / "ferplus" / "fer2013new.csv",
    ):
        if cand.is_file():
            return cand
    return None


def read_fer2013(
    path: str | Path,
    *,
    keep_contempt: bool = False,
    ferplus: str | None = None,
    ferplus_csv: str | Path | None = None,
    out_size: tuple[int, int] = (48, 48),
    progress: Callable[[int, int], None] | None = None,
    parsed: FaceDataset | None = None,
) -> FaceDataset:
    """Read the csv (or reuse ``parsed``, a plain 48x48 load of the same file, e.g. from the cache)."""
    path = Path(path)
    if parsed is not None:
        images, codes, usage = parsed.images, parsed.labels, parsed.splits
        rows = np.array([int(p[4:]) for p in parsed.paths], dtype=np.int64)
        skipped = SkipLog()
        skipped.extend(list(parsed.report.skipped), parsed.report.skipped_count)  # every skip is a bad row
        total_rows = len(rows) + skipped.count
        notes = [w for w in parsed.report.warnings if w.startswith("the file ends early")]
    else:
        images, codes, usage, rows, skipped, total_rows, notes = parse_csv(path, progress)
    if len(codes) == 0:
        first = f"; first problem: {skipped.items[0][0]} {skipped.items[0][1]}" if skipped.items else ""
        first = first or (f"; {notes[0]}" if notes else "")
        raise DatasetError(f"no usable rows in FER2013 csv {path} ({total_rows} rows read){first}")
    warnings: list[str] = list(notes)
    if skipped.count:
        warnings.append(f"{skipped.count} bad row(s) skipped (see skipped list)")
    label_names = LABELS
    labels = codes
    soft = None
    if ferplus:
        fp_path = Path(ferplus_csv) if ferplus_csv else find_ferplus_csv(path)
        if fp_path is None:
            raise DatasetError(
                f"ferplus={ferplus!r} needs fer2013new.csv: none next to {path}; pass ferplus_csv="
            )
        votes, fp_usage = read_ferplus_votes(fp_path)
        if len(votes) != total_rows:
            raise DatasetError(
                f"FER+ file {fp_path} has {len(votes)} rows but {path} has {total_rows}: rows cannot be aligned"
            )
        mism = int(np.sum(fp_usage[rows] != usage)) if len(fp_usage) else 0
        if mism:
            warnings.append(f"FER+ alignment: Usage differs on {mism} row(s)")
        fl, fsoft, reason = ferplus_labels(votes[rows], ferplus, keep_contempt)
        label_names = label_names_for(keep_contempt)
        why = {1: "FER+: no majority", 2: "FER+: unknown / not a face", 3: "FER+: contempt dropped"}
        for r, code in zip(rows[reason > 0], reason[reason > 0], strict=True):
            skipped.add(f"row:{int(r)}", why[int(code)])
        for code, text in why.items():
            n = int(np.sum(reason == code))
            if n:
                warnings.append(f"{text}: {n} row(s) dropped")
        keep = fl >= 0
        agree = float(np.mean(fl[keep] == codes[keep])) if keep.any() else 0.0
        warnings.append(
            f"labels from FER+ ({ferplus}, {fp_path.name}); FER2013 label agrees on {agree:.1%} of kept rows"
        )
        images, usage, rows, labels = images[keep], usage[keep], rows[keep], fl[keep]
        if fsoft is not None:
            soft = fsoft[keep]
    if tuple(out_size) != (SIDE, SIDE):
        images = np.stack([fit_size(im, (out_size[0], out_size[1])) for im in images])
    paths = [f"row:{int(r)}" for r in rows]
    fmt = FORMAT if not ferplus else f"{FORMAT}+ferplus-{ferplus}"
    return make_dataset(
        fmt,
        str(path),
        images,
        labels,
        label_names,
        usage,
        np.full(len(labels), "", dtype=str),
        paths,
        warnings,
        skipped,
        soft,
    )
