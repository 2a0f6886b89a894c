"""End-to-end measurements of ``ferapp bench``: the pipeline unpaced (tracked vs the full-scan
baseline), real footage, the paced live runner and the desktop window in a subprocess."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np

from ferapp.bench.stages import _demo_frames, _pct


def _footage_frames(name: str, n: int | None = None) -> list[np.ndarray] | None:
    from ferapp.capture import open_source
    from ferapp.paths import shared_videos_dir

    d = shared_videos_dir()
    if d is None:
        return None
    p = d / name
    if not p.exists():
        return None
    with open_source(str(p)) as src:
        frames = [f.image for f in iter(src.read, None)]
    return frames[:n] if n else frames


def _run_pipeline(
    pipe, frames: list[np.ndarray], full: bool = False, overlap: bool | None = None
) -> dict[str, Any]:
    """Every frame in order. The tracked path runs ``Pipeline.stream`` (what ``ferapp analyze``
    runs; ``overlap`` None = its default, see ``Pipeline.overlap_pays``; True = classification
    beside the next frame's tracking; False = one frame after the other); a frame's latency is
    from entering the pipeline to its result."""
    from ferapp.types import Frame

    lat, found, ids, with_face, most = [], 0, set(), 0, 0
    started: dict[int, float] = {}

    def feed():
        for i, img in enumerate(frames):
            started[i] = time.perf_counter()
            yield Frame(img, i, i / 30.0, time.time())

    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if full:  # baseline: a full scan + landmarks + classification on every frame
        for i, img in enumerate(frames):
            s = time.perf_counter()
            faces = pipe.finder.find_full(img)
            if faces and pipe.engine is not None:
                pipe.engine.classify(pipe.crops_for(img if img.ndim == 2 else _gray(img), faces))
            n = len(faces)
            lat.append((time.perf_counter() - s) * 1000.0)
            found += n
            with_face += n > 0
            most = max(most, n)
    else:
        for r in pipe.stream(feed(), overlap=overlap):
            lat.append((time.perf_counter() - started.pop(r.frame.index)) * 1000.0)
            n = len(r.faces)
            ids |= {f.face.face_id for f in r.faces}
            found += n
            with_face += n > 0
            most = max(most, n)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {
        "frames": len(frames),
        "fps": len(frames) / wall,
        "latency_p50_ms": _pct(lat, 50),
        "latency_p95_ms": _pct(lat, 95),
        "faces_per_frame": found / max(1, len(frames)),
        "frames_with_face": with_face,
        "max_faces": most,
        "ids": len(ids) if not full else None,
        "cpu_cores_used": cpu / wall,
        "cpu_ms_per_frame": cpu * 1000.0 / max(1, len(frames)),
    }


def _gray(img):
    import cv2

    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


TRACKED, SERIAL, BASELINE = (
    "tracked (default)",
    "tracked, frame after frame (stream overlap=False)",
    "baseline (full scan every frame)",
)


def bench_pipeline_throughput(
    model: str | None, case: str, n: int, mode: str | bool = TRACKED
) -> dict[str, Any] | None:
    """Unpaced, every frame processed in order, default detector settings. ``mode``: TRACKED
    (``Pipeline.stream`` with its defaults: what ``ferapp analyze`` runs; a frame's
    classification beside the next frame's tracking where ``Pipeline.overlap_pays``), SERIAL
    (``stream(overlap=False)``: frame after frame, as the live window's runner calls ``process``)
    or BASELINE (untracked full scan). ``case``: "demo" (one ~190 px face),
    "demo:4" (four ~100 px faces) or a clip of ../shared/videos (a real webcam face of ~70 px)."""
    from ferapp.inference.pipeline import Pipeline

    if isinstance(mode, bool):  # the old signature: tracked True/False
        mode = TRACKED if mode else BASELINE
    if case.startswith("demo"):
        faces = 4 if case == "demo:4" else 1
        frames = _demo_frames(faces, n)
        what = f"{case} ({'four ~100 px faces' if faces == 4 else 'one ~190 px face'})"
    else:
        frames = _footage_frames(case, n)
        if frames is None:
            return None
        faces, what = 1, f"{case} (real webcam, one ~70 px face)"
    pipe = Pipeline(model=model, smoothing=0.0)
    try:
        row = _run_pipeline(pipe, frames, full=mode == BASELINE, overlap=False if mode == SERIAL else None)
    finally:
        pipe.close()
    eng = pipe.engine
    return {
        "mode": mode,
        "input": what,
        "faces": faces,
        **row,
        "model": pipe.model_name,
        "precision": getattr(eng, "precision", ""),
        "runtime": getattr(eng, "runtime", "torch"),
        "overlapped": mode == TRACKED and pipe.overlap_pays(),
    }


def bench_footage(model: str | None, quick: bool = False) -> list[dict[str, Any]]:
    """Every clip of ../shared/videos through the default pipeline (detection + the default
    model), every frame, as `ferapp analyze` runs it."""
    from ferapp.inference.pipeline import Pipeline
    from ferapp.paths import shared_videos_dir

    d = shared_videos_dir()
    if d is None:
        return []
    rows = []
    names = sorted(p.name for p in d.iterdir() if p.suffix.lower() in (".mkv", ".gif"))
    for name in names[:3] if quick else names:
        frames = _footage_frames(name)
        pipe = Pipeline(model=model, smoothing=0.0)
        try:
            r = _run_pipeline(pipe, frames)
        finally:
            pipe.close()
        h, w = frames[0].shape[:2]
        rows.append(
            {
                "clip": name,
                "frame": f"{w}x{h}",
                "frames": r["frames"],
                "frames_with_face": r["frames_with_face"],
                "face_share": r["frames_with_face"] / max(1, r["frames"]),
                "ids": r["ids"],
                "max_faces": r["max_faces"],
                "fps": r["fps"],
                "latency_p95_ms": r["latency_p95_ms"],
            }
        )
    return rows


def bench_live(model: str | None, faces: int, seconds: float) -> dict[str, Any]:
    """Paced 30 fps demo source through the threaded runner (what the GUI sees)."""
    from ferapp.capture import open_source
    from ferapp.inference.pipeline import Pipeline
    from ferapp.inference.runner import Runner

    pipe = Pipeline(model=model, smoothing=0.0, realtime=True)
    src = open_source(f"demo:{faces}" if faces > 1 else "demo", realtime=True)
    runner = Runner(src, pipe)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    runner.start()
    time.sleep(seconds)
    st = runner.stats()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    runner.stop()
    pipe.close()
    return {
        "faces": faces,
        "seconds": seconds,
        "source_fps": src.fps,
        "capture_fps": st.capture_fps,
        "processed_fps": st.processed_fps,
        "processed": st.processed,
        "captured": st.captured,
        "latency_p50_ms": st.latency_p50_ms,
        "latency_p95_ms": st.latency_p95_ms,
        "dropped": st.dropped,
        "cpu_cores_used": cpu / wall,
    }


GUI_STARTUP_ALLOWANCE_S = 15.0  # the window's start-up (seconds on a busy 2-core machine) before it runs


def bench_gui(seconds: float, model: str | None = None, faces: int = 1) -> dict[str, Any]:
    """The real window (offscreen) on a paced 30 fps demo source for ``seconds`` after an
    allowance for its start-up: does it keep up, and how fast did it paint and show a result?"""
    import subprocess

    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    spec = "demo" if faces == 1 else f"demo:{faces}"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ferapp",
            "gui",
            "--source",
            spec,
            "--exit-after",
            str(seconds + GUI_STARTUP_ALLOWANCE_S),
        ]
        + (["--model", model] if model else []),
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + GUI_STARTUP_ALLOWANCE_S + 120,
    )
    wall = time.perf_counter() - t0
    from ferapp.bench.startup import gui_startup_columns

    startup = gui_startup_columns(proc.stdout)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("stats ")), None)
    if line is None:  # the window prints its stats only once capture ran
        allowed = seconds + GUI_STARTUP_ALLOWANCE_S
        why = (
            f"capture had not started within {allowed:g} s (the model and detector were still loading)"
            if proc.returncode == 0
            else (proc.stderr or proc.stdout)[-300:]
        )
        return {**startup, "faces": faces, "error": why, "exit": proc.returncode}
    st = json.loads(line[6:])
    return {
        **startup,
        "faces": faces,
        "seconds": seconds,
        "model": st.get("model"),
        "captured": st["captured"],
        "processed": st["processed"],
        "processed_share": st["processed"] / max(1, st["captured"]),
        "capture_fps": st["capture_fps"],
        "processed_fps": st["processed_fps"],
        "latency_p50_ms": st["latency_p50_ms"],
        "latency_p95_ms": st["latency_p95_ms"],
        "dropped": st["dropped"],
        "process_wall_s": wall,
    }
