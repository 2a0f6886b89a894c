"""Driver alert events on disk and on the terminal, and the recording's driver columns."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable
from pathlib import Path

from ferapp.monitor.rules import AlertEvent

# Extra per-face columns a timeline recording gets in driver mode (values from FaceResult.extras).
DRIVER_COLUMNS: tuple[str, ...] = ("ear", "mar", "yaw", "pitch", "roll", "perclos", "event")

EVENT_FIELDS: tuple[str, ...] = ("type", "start", "end", "duration", "severity", "peak", "detail")


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.3f}"


def write_events_csv(path: str | os.PathLike, events: Iterable[AlertEvent]) -> Path:
    """Write events as CSV (type,start,end,duration,severity,peak,detail); open ones get empty end.

    Written to a fresh temporary file and renamed (``record.output.replace_atomically``), so a
    crash never leaves half a file and no link is followed.
    """
    import io

    from ferapp.record.output import replace_atomically

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(EVENT_FIELDS)
    for e in events:
        w.writerow([e.type, _fmt(e.start), _fmt(e.end), _fmt(e.duration), e.severity, _fmt(e.peak), e.detail])
    return replace_atomically(path, buf.getvalue().encode("utf-8"))


def read_events_csv(path: str | os.PathLike) -> list[AlertEvent]:
    """Read a file written by :func:`write_events_csv`."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"type", "start", "end", "severity", "peak"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: not a driver events file (missing columns {sorted(missing)})")
        for row in reader:
            out.append(
                AlertEvent(
                    type=row["type"],
                    start=float(row["start"]),
                    end=float(row["end"]) if row["end"] else None,
                    severity=row["severity"],
                    peak=float(row["peak"]) if row["peak"] else math.nan,
                    detail=row.get("detail") or "",
                )
            )
    return out


def format_events(events: Iterable[AlertEvent]) -> str:
    """Fixed-width table for the CLI, with a per-type summary line."""
    events = list(events)
    if not events:
        return "no driver alerts"
    head = f"{'type':<12} {'start s':>9} {'end s':>9} {'dur s':>7} {'severity':<9} {'peak':>8}  detail"
    lines = [head, "-" * len(head)]
    for e in events:
        end = "open" if e.end is None else f"{e.end:.2f}"
        dur = "" if e.duration is None else f"{e.duration:.2f}"
        peak = "" if math.isnan(e.peak) else f"{e.peak:.3f}"
        lines.append(f"{e.type:<12} {e.start:>9.2f} {end:>9} {dur:>7} {e.severity:<9} {peak:>8}  {e.detail}")
    counts: dict[str, int] = {}
    for e in events:
        counts[e.type] = counts.get(e.type, 0) + 1
    lines.append("")
    lines.append("totals: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return "\n".join(lines)
