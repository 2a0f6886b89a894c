"""Start-up rows of ``ferapp bench``: what a fresh process costs before it answers.

Each command runs ``runs`` times in a fresh interpreter, the commands interleaved (so that a
busy spell of the machine falls on all of them alike); the CPU time is the child's user +
system time (``RUSAGE_CHILDREN``), the wall time is from spawn to exit. Medians are reported,
with the minimum (the least disturbed run).
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(argv: list[str]) -> tuple[float, float, int]:
    """(cpu_s, wall_s, exit code) of one run of ``argv``."""
    cpu0, t0 = _children_cpu_s(), time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    return _children_cpu_s() - cpu0, time.perf_counter() - t0, proc.returncode


def _first_frame_source() -> tuple[str, str]:
    from ferapp.paths import shared_videos_dir

    d = shared_videos_dir()
    if d is not None and (d / "book.mkv").exists():
        return str(d / "book.mkv"), "book.mkv"
    return "demo", "demo"


def bench_startup(quick: bool = False, runs: int | None = None) -> list[dict[str, Any]]:
    """Median CPU and wall seconds of: a one-frame ``ferapp analyze`` (the first frame's
    result: imports, detector, landmarks, model), ``import torch`` alone, and the commands
    that must not load torch (``ferapp models``, ``ferapp --help``)."""
    runs = runs or (3 if quick else 5)
    py = sys.executable
    source, source_name = _first_frame_source()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            (
                f"ferapp analyze {source_name} --max-frames 1 (first frame's result)",
                lambda i: [
                    py,
                    "-m",
                    "ferapp",
                    "analyze",
                    source,
                    "--max-frames",
                    "1",
                    "--quiet",
                    "--out",
                    str(Path(tmp) / f"first{i}.csv"),
                ],
            ),
            ("python -c 'import torch'", lambda _i: [py, "-c", "import torch"]),
            ("ferapp models", lambda _i: [py, "-m", "ferapp", "models"]),
            ("ferapp --help", lambda _i: [py, "-m", "ferapp", "--help"]),
        ]
        times: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in cases}
        errors: dict[str, str] = {}
        for i in range(runs):
            for label, argv in cases:
                cpu, wall, code = _timed(argv(i))
                if code != 0:
                    errors[label] = f"exit {code}"
                times[label].append((cpu, wall))
    for label, _ in cases:
        cpus = [c for c, _ in times[label]]
        walls = [w for _, w in times[label]]
        row = {
            "command": label,
            "runs": runs,
            "cpu_median_s": statistics.median(cpus),
            "cpu_min_s": min(cpus),
            "wall_median_s": statistics.median(walls),
            "wall_min_s": min(walls),
        }
        if label in errors:
            row["error"] = errors[label]
        rows.append(row)
    return rows


def gui_startup_columns(output: str) -> dict[str, Any]:
    """The window's start-up figures from the ``startup`` line a ``ferapp gui --exit-after`` run
    prints (``ferapp.gui.startup_watch``; seconds since the process started), printed even when
    the run ended before its pipeline was built."""
    import json

    line = next((ln for ln in output.splitlines() if ln.startswith("startup ")), None)
    st = json.loads(line[len("startup ") :]) if line else {}
    ticks, expected = st.get("build_ticks"), st.get("build_expected_ticks")
    return {
        "first_paint_s": st.get("first_paint_s"),
        "first_result_s": st.get("first_result_s"),
        "first_result_cpu_s": st.get("first_result_cpu_s"),
        "build_s": st.get("build_s"),
        "build_loop_share": (ticks / expected) if ticks is not None and expected else None,
    }
