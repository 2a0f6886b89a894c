"""Expression timeline: CSV (one row per face per processed frame) + JSON sidecar.

Durability: every row batch is flushed to the OS as it is written and fsync'ed at most once a
second, so a crash (even SIGKILL) loses at most the last second. The sidecar is written at
start (``"finalized": false``) and rewritten at close; the reader recovers files whose
sidecar was never finalised or is missing, and ignores a torn last line.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferapp import __version__
from ferapp.labels import LABELS
from ferapp.types import FrameResult

BASE_COLUMNS: tuple[str, ...] = (
    "time_s",
    "timestamp",
    "frame",
    "source",
    "face_id",
    "x",
    "y",
    "w",
    "h",
    "model",
    "label",
    "confidence",
)
PROB_COLUMNS: tuple[str, ...] = tuple(f"p_{name}" for name in LABELS)
TIMELINE_COLUMNS: tuple[str, ...] = BASE_COLUMNS + PROB_COLUMNS
NUMERIC_COLUMNS = {
    "time_s",
    "timestamp",
    "frame",
    "face_id",
    "x",
    "y",
    "w",
    "h",
    "confidence",
    *PROB_COLUMNS,
    "ear",
    "mar",
    "yaw",
    "pitch",
    "roll",
    "perclos",
}
INT_COLUMNS = {"frame", "face_id", "x", "y", "w", "h"}


class TimelineError(Exception):
    """A timeline could not be written or read (clear, user-facing message)."""


MAX_LINE = 64 * 1024  # a timeline row is ~200 bytes; longer lines are dropped as malformed
MAX_FILE_BYTES = 2 * 1024**3
MAX_COLUMNS = 1000  # ferapp writes 19 columns (+ 6 in driver mode)
MAX_SIDECAR_BYTES = 16 * 1024 * 1024  # the sidecar ferapp writes is ~1 KB


def sidecar_path(csv_path: str | Path) -> Path:
    p = Path(csv_path)
    return p.with_suffix(".json")


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float | np.floating):
        if not math.isfinite(float(v)):
            return ""
        if abs(float(v)) >= 1000.0:  # epoch timestamps, long recordings: keep 0.1 ms, not 5 digits
            return f"{float(v):.4f}"
        return f"{float(v):.5g}"
    return str(v)


class TimelineWriter:
    """Writes FrameResults as timeline rows. Thread-compatible (call from one thread)."""

    def __init__(
        self,
        path: str | Path,
        meta: dict[str, Any] | None = None,
        extra_columns: Sequence[str] = (),
        fsync_interval_s: float = 1.0,
        overwrite: bool = False,
        inputs: Sequence[Any] = (),
        temp: bool = False,
    ):
        """``path`` must end in .csv, must not exist (unless ``overwrite``: then it is replaced
        atomically when the timeline is closed) and must be none of ``inputs``; the sidecar
        (``.json``) and the driver events (``_events.csv``) follow the same rules. ``temp``:
        the timeline appears under ``path`` only when it is closed complete (batch analysis);
        otherwise a new file is written in place, so a crash leaves a recoverable recording."""
        from ferapp.record.output import OutputClaim, OutputError, OutputIOError, check_not_input

        self.path = Path(path)
        try:
            if self.path.suffix.lower() != ".csv":
                raise OutputError(
                    f"the output must be a .csv file, not '{self.path}' "
                    f"(e.g. {self.path.with_suffix('.csv').name})"
                )
            for extra in (self.path, sidecar_path(self.path), events_path(self.path)):
                check_not_input(extra, inputs)
                if os.path.lexists(extra) and not overwrite:
                    raise OutputError(f"'{extra}' already exists: choose another name, or pass --overwrite")
            self._claim = OutputClaim(self.path, ".csv", inputs, overwrite, temp=temp)
        except OutputIOError as e:
            raise TimelineError(f"Cannot write timeline to '{self.path}': {e.reason}") from None
        except OutputError as e:
            raise TimelineError(str(e)) from None
        self.columns = TIMELINE_COLUMNS + tuple(c for c in extra_columns if c not in TIMELINE_COLUMNS)
        self.extra_columns = tuple(extra_columns)
        self.meta: dict[str, Any] = {
            "format": "ferapp-timeline/1",
            "software": f"ferapp {__version__}",
            "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "start_epoch": time.time(),
            "columns": list(self.columns),
            "finalized": False,
        }
        self.meta.update(meta or {})
        self.rows = 0
        self.frames = 0
        self._t0: float | None = None
        self._last_sync = time.monotonic()
        self._fsync_interval = fsync_interval_s
        self._sidecar_written: Path | None = None
        self._temp = bool(temp)
        try:
            # created by the claim: O_CREAT|O_EXCL|O_NOFOLLOW, never an existing file or a link's target
            self._fh = open(self._claim.path, "w", newline="", encoding="utf-8", opener=self._claim.opener)
            self._csv = csv.writer(self._fh)
            self._csv.writerow(self.columns)
            self._fh.flush()
            self._write_sidecar()
        except (OSError, OutputError) as e:
            fh = getattr(self, "_fh", None)
            if fh is not None:
                fh.close()
            self._claim.abort()
            reason = e.strerror or e if isinstance(e, OSError) else e
            raise TimelineError(f"Cannot write timeline to '{self.path}': {reason}") from e
        self.closed = False

    @property
    def writing_to(self) -> Path:
        """The file the rows go to now (the final path, or a hidden temporary one)."""
        return self._claim.path

    # -- writing -------------------------------------------------------------------------
    def rows_for(self, result: FrameResult) -> list[list[str]]:
        frame = result.frame
        if self._t0 is None:
            self._t0 = frame.timestamp
        time_s = frame.timestamp - self._t0
        out = []
        for fr in result.faces:
            x, y, w, h = fr.face.box
            probs = fr.expression.probs if fr.expression is not None else None
            row = {
                "time_s": round(time_s, 4),
                "timestamp": round(frame.wall_time, 4),
                "frame": frame.index,
                "source": frame.name or result.source,
                "face_id": fr.face.face_id,
                "x": x,
                "y": y,
                "w": w,
                "h": h,
                "model": result.model,
                "label": fr.expression.label if fr.expression is not None else "",
                "confidence": fr.expression.confidence if fr.expression is not None else None,
            }
            for i, c in enumerate(PROB_COLUMNS):
                row[c] = float(probs[i]) if probs is not None else None
            for c in self.extra_columns:
                row[c] = fr.extras.get(c, result.extras.get(c))
            out.append([_fmt(row.get(c)) for c in self.columns])
        return out

    def write(self, result: FrameResult) -> int:
        """Append one processed frame (one row per face). Returns rows written."""
        if self.closed:
            raise TimelineError("timeline is closed")
        rows = self.rows_for(result)
        try:
            if rows:
                self._csv.writerows(rows)
                self._fh.flush()
            now = time.monotonic()
            if now - self._last_sync >= self._fsync_interval:
                os.fsync(self._fh.fileno())
                self._last_sync = now
        except OSError as e:
            note = self._abort()
            raise TimelineError(
                f"Recording stopped: cannot write '{self.path}': {e.strerror or e}{note}"
            ) from e
        self.rows += len(rows)
        self.frames += 1
        return len(rows)

    def _write_sidecar(self) -> None:
        """The sidecar of the file being written (a replacement's sits beside it under its hidden
        name: the old sidecar stays until the end). Atomic, never through a link."""
        from ferapp.record.output import replace_atomically

        side = sidecar_path(self._claim.path)
        replace_atomically(side, json.dumps(self.meta, indent=2, default=str).encode("utf-8"))
        self._sidecar_written = side

    def _abort(self) -> str:
        """A write failed: stop. A batch (``temp``) timeline is deleted; otherwise what was written
        is kept (a recording in place, or a replacement beside the old file). Returns a note
        saying where the rows are when that is not the output's own name."""
        if self._temp:
            self.discard()
            return ""
        self.closed = True
        try:
            self._fh.close()
        except OSError:
            pass
        self._claim.release()
        if self._claim.path != self._claim.final:
            return f" (the rows written so far are in '{self._claim.path}')"
        return ""

    def discard(self) -> None:
        """Stop and delete what this run wrote under temporary names (an unfinished batch
        timeline); a timeline written in place is closed as it is. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        try:
            self._fh.close()
        except OSError:
            pass
        side = self._sidecar_written
        if not self._claim.in_place and side is not None:
            try:
                os.unlink(side)  # the temporary sidecar this run wrote
            except OSError:
                pass
        self._claim.abort()

    def close(self, **final_meta: Any) -> None:
        """Flush, fsync and finalise the sidecar; move a temporary timeline into place (the
        sidecar first, then the CSV). Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        try:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            finally:
                try:
                    self._fh.close()  # release the handle even when the disk is full
                except OSError:
                    pass
            self.meta.update(final_meta)
            self.meta.update(
                {
                    "finalized": True,
                    "rows": self.rows,
                    "frames": self.frames,
                    "end_time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
            )
            self._write_sidecar()
            if self._claim.path != self._claim.final and self._sidecar_written is not None:
                # the sidecar first: a crash between the two renames leaves a finalised sidecar and
                # no timeline (a batch redoes it), never a timeline without its final sidecar
                os.replace(self._sidecar_written, sidecar_path(self.path))
                self._sidecar_written = sidecar_path(self.path)
            self._claim.commit()
        except OSError as e:
            self._claim.release()
            why = (
                " (its folder was removed while the run wrote to it)" if not self.path.parent.is_dir() else ""
            )
            raise TimelineError(f"Cannot finalise timeline '{self.path}': {e.strerror or e}{why}") from e
        except TimelineError:
            raise
        except Exception as e:  # OutputError from the commit: the message says where the rows are
            self._claim.release()
            raise TimelineError(f"Cannot finalise timeline '{self.path}': {e}") from e

    def __enter__(self) -> TimelineWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def events_path(csv_path: str | Path) -> Path:
    """The driver events written beside a timeline: ``<name>_events.csv``."""
    p = Path(csv_path)
    return p.with_name(p.stem + "_events.csv")


# -- reading ---------------------------------------------------------------------------
@dataclass
class Timeline:
    """A loaded timeline: ``columns`` maps name -> numpy array (float/int/str)."""

    path: Path
    columns: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    recovered: bool = False  # sidecar missing/unfinalised or a torn last line was dropped
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.columns.get("frame", ()))

    @property
    def probs(self) -> np.ndarray:
        """(rows, 7) probabilities in canonical order."""
        return np.stack([self.columns[c] for c in PROB_COLUMNS], axis=1) if len(self) else np.zeros((0, 7))

    def face_ids(self) -> list[int]:
        return sorted({int(v) for v in self.columns.get("face_id", [])})

    def for_face(self, face_id: int) -> Timeline:
        m = self.columns["face_id"] == face_id
        return Timeline(self.path, {k: v[m] for k, v in self.columns.items()}, self.meta, self.recovered)

    def to_records(self) -> list[dict[str, Any]]:
        keys = list(self.columns)
        return [
            {
                k: self.columns[k][i].item() if hasattr(self.columns[k][i], "item") else self.columns[k][i]
                for k in keys
            }
            for i in range(len(self))
        ]

    def to_dataframe(self):  # pragma: no cover - pandas is optional
        import pandas as pd

        return pd.DataFrame(self.columns)

    def summary(self, segment_s: float = 10.0) -> dict[str, Any]:
        """Share of rows per expression and the dominant expression per segment (only segments
        that hold rows; the cost depends on the number of rows, never on the time values)."""
        n = len(self)
        labels = self.columns.get("label", np.array([], dtype=object))
        share = {name: (float(np.mean(labels == name)) if n else 0.0) for name in LABELS}
        segments = []
        duration = 0.0
        if n:
            t = np.asarray(self.columns["time_s"], dtype=np.float64)
            ok = np.isfinite(t) & (t >= 0) & (t < 1e9)  # ~31 years: anything beyond is not a time
            if ok.any():
                duration = float(t[ok].max())
                seg = np.floor(t[ok] / segment_s).astype(np.int64)
                probs = self.probs[ok]
                for k in np.unique(seg):
                    m = seg == k
                    p = probs[m]
                    p = p[np.isfinite(p).all(axis=1)]  # faces without an expression have no probs
                    dominant = LABELS[int(np.argmax(p.mean(axis=0)))] if len(p) else ""
                    segments.append(
                        {
                            "start": float(k * segment_s),
                            "end": float((k + 1) * segment_s),
                            "dominant": dominant,
                            "rows": int(m.sum()),
                        }
                    )
        return {
            "rows": n,
            "faces": self.face_ids(),
            "share": share,
            "segments": segments,
            "duration_s": duration,
        }


def _parse_value(col: str, text: str) -> Any:
    if col in INT_COLUMNS:  # frame, face id, box: always written; a row without them is malformed
        v = float(text)  # ValueError propagates to the row check
        if not (math.isfinite(v) and abs(v) < 2**53 and v == int(v)):
            raise ValueError(f"{col} must be an integer, not {text[:20]!r}")
        return v
    if col in NUMERIC_COLUMNS:
        if text == "":
            return math.nan
        v = float(text)  # ValueError propagates to the row check; inf / 1e400 are kept as inf
        return v
    return text


def read_timeline(path: str | Path) -> Timeline:
    """Load a timeline CSV (+ sidecar if present). Recovers crashed recordings.

    Raises TimelineError with a clear message for a missing/empty/foreign file; malformed
    rows are dropped and counted in ``warnings``.
    """
    from ferapp.safeio import read_bounded

    p = Path(path)
    if not p.exists():
        raise TimelineError(f"Timeline not found: '{p}'")
    try:  # regular files only (a FIFO would block, /dev/zero never ends), bounded by bytes read
        raw = read_bounded(p, MAX_FILE_BYTES)
    except OSError as e:
        raise TimelineError(f"Cannot read timeline '{p}': {e.strerror or e}") from None
    text = raw.decode("utf-8-sig", errors="replace")  # a BOM (Excel's "CSV UTF-8") is not a column name
    warnings: list[str] = []
    recovered = False
    if text and not text.endswith("\n"):
        # torn last line from a crash: drop it
        text = text[: text.rfind("\n") + 1] if "\n" in text else ""
        recovered = True
        warnings.append("dropped an incomplete last line (recording was interrupted)")
    reader = csv.reader(io.StringIO(text))
    header = _read_header(reader, p)
    cols, bad = _read_rows(reader, header)
    if bad:
        warnings.append(f"skipped {bad} malformed row(s)")
    arrays = _column_arrays(cols)
    meta, side_warning = _read_sidecar(p)
    if side_warning:
        recovered = True
        warnings.append(side_warning)
    return Timeline(p, arrays, meta, recovered, warnings)


def _read_header(reader, p: Path) -> list[str]:
    """The header row, checked to be a timeline's (all columns, none twice, not too many)."""
    from collections import Counter

    try:
        header = next(reader)
    except StopIteration:
        raise TimelineError(f"'{p}' is empty: not a ferapp timeline") from None
    except csv.Error as e:
        raise TimelineError(f"'{p}' is not a CSV file: {e}") from None
    if len(header) > MAX_COLUMNS:
        raise TimelineError(
            f"'{p}' is not a ferapp timeline: {len(header)} columns (a timeline has at most {MAX_COLUMNS})"
        )
    names = set(header)
    missing = [c for c in TIMELINE_COLUMNS if c not in names]
    if missing:
        raise TimelineError(f"'{p}' is not a ferapp timeline (missing columns: {', '.join(missing[:5])})")
    dup = sorted(c for c, n in Counter(header).items() if n > 1)  # one pass: O(columns)
    if dup:
        raise TimelineError(f"'{p}' is not a valid timeline (repeated columns: {', '.join(dup[:5])})")
    return header


def _read_rows(reader, header: list[str]) -> tuple[dict[str, list[Any]], int]:
    """The values of each column, and the number of malformed rows skipped."""
    cols: dict[str, list[Any]] = {c: [] for c in header}
    bad = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            bad += 1
            continue
        if len(row) != len(header) or sum(len(v) for v in row) > MAX_LINE:
            bad += 1
            continue
        try:
            vals = [_parse_value(c, v) for c, v in zip(header, row, strict=True)]
        except ValueError:
            bad += 1
            continue
        for c, v in zip(header, vals, strict=True):
            cols[c].append(v)
    return cols, bad


def _column_arrays(cols: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for c, vals in cols.items():
        if c in NUMERIC_COLUMNS:
            a = np.asarray(vals, dtype=np.float64)
            if c in INT_COLUMNS and len(a) and np.all(np.isfinite(a)):
                a = a.astype(np.int64)
            arrays[c] = a
        else:
            arrays[c] = np.asarray(vals, dtype=object)
    return arrays


def _read_sidecar(p: Path) -> tuple[dict[str, Any], str | None]:
    """The sidecar's metadata ({} if none or unreadable) and, when the timeline is a recovered
    one (no sidecar, unreadable, not finalised), the warning that says so."""
    from ferapp.safeio import read_bounded

    side = sidecar_path(p)
    if not side.exists():
        return {}, "no JSON sidecar; recovered from the CSV alone"
    try:
        meta = json.loads(read_bounded(side, MAX_SIDECAR_BYTES).decode("utf-8"))  # a FIFO is refused
        if not isinstance(meta, dict):
            raise ValueError("not an object")
    except (ValueError, OSError, RecursionError):  # RecursionError: absurdly nested JSON
        return {}, "sidecar JSON unreadable; recovered from the CSV alone"
    if meta and not meta.get("finalized", False):
        return meta, "recording was not finalised (app or machine stopped); recovered"
    return meta, None


def write_rows_csv(path: str | Path, timeline: Timeline, columns: Iterable[str] | None = None) -> None:
    """Export (a subset of) a timeline back to CSV (the viewer's 'Export CSV')."""
    cols = list(columns or timeline.columns)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for i in range(len(timeline)):
            w.writerow([_fmt(timeline.columns[c][i]) if c in timeline.columns else "" for c in cols])
