"""The batch-analysis rows of ``ferapp bench``'s Scale section: ``../shared/videos`` analysed as
one batch (``ferapp analyze ../shared/videos --out-dir DIR``) with ``--jobs 1`` (in the
command's process) and ``--jobs 2`` (two spawned worker processes), every frame, default
settings and model. Wall time includes everything a user waits for: loading the model, starting
the workers, writing timelines and the summary. Each process uses cores // jobs torch threads;
the detector (dlib HOG) is single-threaded, so on a machine with C cores the speed-up of
``--jobs N`` is bounded by min(N, C) and by the start-up of the workers."""

from __future__ import annotations

import os
import resource
import tempfile
import time
from typing import Any


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # worker processes, once joined
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench_batch_scale(
    model: str | None = None, quick: bool = False, jobs: tuple[int, ...] = (1, 2)
) -> list[dict[str, Any]]:
    """One row per ``--jobs`` value: recordings/s and frames/s of the whole batch ([] without
    ../shared/videos). ``quick``: the first 4 clips, 30 frames each."""
    from ferapp.inference.batch import AnalysisRequest
    from ferapp.inference.multi import collect, run_batch
    from ferapp.paths import shared_videos_dir

    d = shared_videos_dir()
    if d is None:
        return []
    recordings = collect([str(d)])
    if quick:
        recordings = recordings[:4]
    template = AnalysisRequest(source="", model=model, max_frames=30 if quick else None)
    rows: list[dict[str, Any]] = []
    for n in jobs:
        with tempfile.TemporaryDirectory(prefix="ferapp-bench-batch-") as out:
            cpu0, t0 = _cpu_s(), time.perf_counter()
            report = run_batch(recordings, template, out, jobs=n)
            wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
        rows.append(
            {
                "input": f"../shared/videos ({len(recordings)} clips)",
                "jobs": n,
                "cores": os.cpu_count(),
                "recordings": len(recordings),
                "failed": report.counts.get("failed", 0),
                "frames": report.frames,
                "wall_s": wall,
                "recordings_per_s": report.analysed / wall,
                "frames_per_s": report.frames / wall,
                "cpu_cores_used": cpu / wall,
            }
        )
    base = rows[0]["frames_per_s"] if rows else 0.0
    for r in rows:
        r["speedup"] = r["frames_per_s"] / base if base else None
    return rows
