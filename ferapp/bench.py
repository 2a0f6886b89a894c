"""`ferapp bench`: measured speed of every stage and model (tables + JSON). Numbers are printed, never asserted.

Sections: models (params, MACs, latency per face at batch 1 / 8), detectors (640x480, 1 and
4 faces), end-to-end pipeline (tracked fast path vs the untracked full-resolution baseline;
unpaced throughput and a paced 30 fps live run with the threaded runner), training
throughput, and P5's packed 1-bit inference vs float.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from typing import Any

import numpy as np


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def hardware() -> dict[str, Any]:
    import torch

    from ferapp.inference.device import device_description

    return {"cpu": device_description("cpu"), "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _time_fn(fn, warmup: int, runs: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


# -- models -------------------------------------------------------------------------------
def bench_models(names: list[str], device: str = "cpu", quick: bool = False) -> list[dict[str, Any]]:
    import torch

    from ferapp.zoo import create_model
    from ferapp.zoo.flops import count_macs, count_params
    from ferapp.zoo.predict import logits_from_input

    rows = []
    runs = 10 if quick else 40
    for name in names:
        model = create_model(name).eval().to(device)
        cfg = model.cfg
        h, w = cfg.net_input_size
        row: dict[str, Any] = {"model": name, "params": count_params(model),
                               "macs": count_macs(model, (1, cfg.channels, h, w)),
                               "input": f"{cfg.input_size[0]}x{cfg.input_size[1]}x{cfg.channels}",
                               "five_crop": bool(cfg.five_crop), "device": device}
        for bs in (1, 8):
            x = torch.randn(bs, cfg.channels, *cfg.input_size, device=device)

            def run(x=x):
                with torch.inference_mode():
                    torch.softmax(logits_from_input(model, x, cfg), dim=1)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()

            t = _time_fn(run, 3, runs)
            row[f"b{bs}_median_ms_per_face"] = statistics.median(t) / bs
            row[f"b{bs}_p95_ms_per_face"] = _pct(t, 95) / bs
        rows.append(row)
    return rows


def bench_training(names: list[str], device: str = "cpu", quick: bool = False) -> list[dict[str, Any]]:
    import torch

    from ferapp.zoo import create_model

    rows = []
    steps = 3 if quick else 8
    for name in names:
        model = create_model(name).train().to(device)
        cfg = model.cfg
        h, w = cfg.net_input_size
        bs = 32
        x = torch.randn(bs, cfg.channels, h, w, device=device)
        y = torch.randint(0, 7, (bs,), device=device)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        t = _time_fn(step, 1, steps)
        rows.append({"model": name, "device": device, "batch": bs,
                     "images_per_s": bs / (statistics.median(t) / 1000.0)})
    return rows


# -- detectors ----------------------------------------------------------------------------
def _demo_frames(faces: int, n: int) -> list[np.ndarray]:
    from ferapp.capture import open_source

    with open_source(f"demo:{faces}" if faces > 1 else "demo", realtime=False, max_frames=n) as src:
        return [f.image for f in iter(src.read, None)]


def bench_detectors(quick: bool = False) -> list[dict[str, Any]]:
    """Cost of one full-frame scan at the default min_face, per detector and frame size, and of
    the per-face check at the face's own scale (what the tracked path pays every 10 frames)."""

    from ferapp.config import DEFAULT_MIN_FACE
    from ferapp.detect import create_detector, list_detectors

    rows = []
    frames = _demo_frames(4, 4 if quick else 10)
    for name in list_detectors():
        det = create_detector(name)
        for size in ((480, 270), (640, 480), (1280, 720)):
            if name == "cnn" and size != (640, 480):
                continue  # seconds per scan: one size is enough to show it
            imgs = [_letterbox(f, size) for f in frames[: (2 if name == "cnn" else None)]]
            t, found = [], []
            for img in imgs:
                t0 = time.perf_counter()
                found.append(len(det.detect(img)))
                t.append((time.perf_counter() - t0) * 1000.0)
            rows.append({"detector": name, "frame": f"{size[0]}x{size[1]}", "min_face": DEFAULT_MIN_FACE,
                         "scan_scale": round(det.scale_for(*size), 2),
                         "smallest_face_px": round(det.effective_min_face(*size), 1),
                         "scan_median_ms": statistics.median(t), "scan_p95_ms": _pct(t, 95),
                         "faces_found_of_4": float(np.mean(found))})
        img = frames[0]
        boxes = [f.box for f in det.detect(img)] or [(100, 100, 100, 100)]
        t = _time_fn(lambda det=det, img=img, b=boxes[0]: det.detect_region(img, b), 1, 3 if name == "cnn" else 20)
        rows[-1 if name == "cnn" else -2]["check_ms"] = statistics.median(t)  # the 640x480 row
    return rows


def _letterbox(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``img`` scaled to fit ``size`` (w, h) without distortion, centred on black bars."""
    import cv2

    w, h = size
    s = min(w / img.shape[1], h / img.shape[0])
    small = cv2.resize(img, (int(round(img.shape[1] * s)), int(round(img.shape[0] * s))),
                       interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


# -- pipeline -----------------------------------------------------------------------------
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


def _run_pipeline(pipe, frames: list[np.ndarray], full: bool = False) -> dict[str, Any]:
    from ferapp.types import Frame

    lat, found, ids, with_face, most = [], 0, set(), 0, 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for i, img in enumerate(frames):
        s = time.perf_counter()
        if full:  # baseline: a full scan + landmarks + classification on every frame
            faces = pipe.finder.find_full(img)
            if faces and pipe.engine is not None:
                pipe.engine.classify(pipe.crops_for(img if img.ndim == 2 else _gray(img), faces))
            n = len(faces)
        else:
            r = pipe.process(Frame(img, i, i / 30.0, time.time()))
            n = len(r.faces)
            ids |= {f.face.face_id for f in r.faces}
        lat.append((time.perf_counter() - s) * 1000.0)
        found += n
        with_face += n > 0
        most = max(most, n)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {"frames": len(frames), "fps": len(frames) / wall, "latency_p50_ms": _pct(lat, 50),
            "latency_p95_ms": _pct(lat, 95), "faces_per_frame": found / max(1, len(frames)),
            "frames_with_face": with_face, "max_faces": most, "ids": len(ids) if not full else None,
            "cpu_cores_used": cpu / wall}


def _gray(img):
    import cv2

    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def bench_pipeline_throughput(model: str | None, case: str, n: int, tracked: bool) -> dict[str, Any] | None:
    """Unpaced, every frame processed in order (the `ferapp analyze` path), default detector
    settings. ``case``: "demo" (one ~190 px face), "demo:4" (four ~100 px faces) or a clip
    of ../shared/videos (a real webcam face of ~70 px)."""
    from ferapp.inference.pipeline import Pipeline

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
        row = _run_pipeline(pipe, frames, full=not tracked)
    finally:
        pipe.close()
    return {"mode": "tracked (default)" if tracked else "baseline (full scan every frame)", "input": what,
            "faces": faces, **row, "model": pipe.model_name}


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
        rows.append({"clip": name, "frame": f"{w}x{h}", "frames": r["frames"],
                     "frames_with_face": r["frames_with_face"],
                     "face_share": r["frames_with_face"] / max(1, r["frames"]), "ids": r["ids"],
                     "max_faces": r["max_faces"], "fps": r["fps"], "latency_p95_ms": r["latency_p95_ms"]})
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
    return {"faces": faces, "seconds": seconds, "source_fps": src.fps, "capture_fps": st.capture_fps,
            "processed_fps": st.processed_fps, "processed": st.processed, "captured": st.captured,
            "latency_p50_ms": st.latency_p50_ms, "latency_p95_ms": st.latency_p95_ms, "dropped": st.dropped,
            "cpu_cores_used": cpu / wall}


def bench_gui(seconds: float, model: str | None = None, faces: int = 1) -> dict[str, Any]:
    """The real window (offscreen) on a paced 30 fps demo source for ``seconds``: does it keep up?"""
    import subprocess

    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    spec = "demo" if faces == 1 else f"demo:{faces}"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ferapp", "gui", "--source", spec, "--exit-after", str(seconds)]
                          + (["--model", model] if model else []),
                          env=env, capture_output=True, text=True, timeout=seconds + 120)
    wall = time.perf_counter() - t0
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("stats ")), None)
    if line is None:
        return {"faces": faces, "error": (proc.stderr or proc.stdout)[-300:], "exit": proc.returncode}
    st = json.loads(line[6:])
    return {"faces": faces, "seconds": seconds, "model": st.get("model"), "captured": st["captured"],
            "processed": st["processed"], "processed_share": st["processed"] / max(1, st["captured"]),
            "capture_fps": st["capture_fps"], "processed_fps": st["processed_fps"],
            "latency_p50_ms": st["latency_p50_ms"], "latency_p95_ms": st["latency_p95_ms"],
            "dropped": st["dropped"], "process_wall_s": wall}


# -- P5 packed ----------------------------------------------------------------------------
def bench_packed(quick: bool = False) -> list[dict[str, Any]]:
    import tempfile

    import torch

    from ferapp.zoo import create_model, packed

    rows = []
    for name in (["bdnn2"] if quick else ["bdnn2", "bdnn4"]):
        model = create_model(name).eval()
        cfg = model.cfg
        s = cfg.net_input_size
        x = torch.randn(8, cfg.channels, *s)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.packed.npz")
            packed.export_packed(model, path)
            pk = packed.load_packed(path)
            size_packed = os.path.getsize(path)
        size_float = sum(p.numel() * 4 for p in model.parameters())
        runs = 5 if quick else 20

        def run_float():
            with torch.inference_mode():
                model(x)

        xn = x.numpy()
        t_f = _time_fn(run_float, 2, runs)
        t_p = _time_fn(lambda: pk(xn), 2, runs)
        rows.append({"model": name, "fp32_bytes": size_float, "packed_bytes": size_packed,
                     "size_ratio": size_float / max(1, size_packed),
                     "float_ms_per_face": statistics.median(t_f) / 8, "packed_ms_per_face": statistics.median(t_p) / 8})
    return rows


# -- CLI ----------------------------------------------------------------------------------
def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        if isinstance(v, int) and abs(v) >= 10000:
            return f"{v:,}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(cols)]
    lines = ["| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(cols)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(v.ljust(widths[i]) for i, v in enumerate(row)) + " |" for row in cells]
    return "\n".join(lines)


def run_bench(quick: bool = False, device: str = "cpu", sections: tuple[str, ...] = ()) -> dict[str, Any]:
    from ferapp.inference.device import configure_threads
    from ferapp.zoo import list_models
    from ferapp.zoo.store import default_model_name

    configure_threads()
    all_sections = ("models", "detectors", "pipeline", "footage", "live", "gui", "training", "packed")
    sections = sections or all_sections
    out: dict[str, Any] = {"hardware": hardware(), "quick": quick}
    names = list_models()
    if quick:
        names = [n for n in names if n in ("cc_lenet5", "resnet20", "dsc_se_resnet_s", "bdnn2", "hsic_densenet")]
    devices = [device] if device != "auto" else (["cpu", "cuda"] if out["hardware"]["cuda"] else ["cpu"])
    default = default_model_name()
    out["default_model"] = default
    if "models" in sections:
        out["models"] = [r for d in devices for r in bench_models(names, d, quick)]
    if "detectors" in sections:
        out["detectors"] = bench_detectors(quick)
    if "pipeline" in sections:
        n = 60 if quick else 300
        rows = [bench_pipeline_throughput(default, case, n, tracked) for case in ("demo", "book.mkv", "demo:4")
                for tracked in (True, False)]
        out["pipeline"] = [r for r in rows if r is not None]
    if "footage" in sections:
        out["footage"] = bench_footage(default, quick)
    if "live" in sections:
        out["live"] = [bench_live(default, f, 5.0 if quick else 20.0) for f in (1, 4)]
    if "gui" in sections:
        out["gui"] = [bench_gui(5.0 if quick else 20.0, default)]
    if "training" in sections:
        out["training"] = [r for d in devices for r in bench_training(names, d, quick)]
    if "packed" in sections:
        out["packed"] = bench_packed(quick)
    return out


def format_report(res: dict[str, Any]) -> str:
    hw = res["hardware"]
    parts = [f"Machine: {hw['cpu']}; torch {hw['torch']}; CUDA: {hw['cuda'] or 'none'}"
             + ("  (quick mode)" if res.get("quick") else "")]
    if "models" in res:
        parts += ["\n## Models (latency per face)", _table(res["models"], [
            "model", "device", "input", "params", "macs", "b1_median_ms_per_face", "b1_p95_ms_per_face",
            "b8_median_ms_per_face", "b8_p95_ms_per_face"])]
    if "detectors" in res:
        parts += ["\n## Face detection at the default min_face (full-frame scan; check = one tracked face at its "
                  "own scale; demo:4 frames, ~100 px faces, letterboxed to each size)", _table(res["detectors"], [
                      "detector", "frame", "scan_scale", "smallest_face_px", "scan_median_ms", "scan_p95_ms",
                      "check_ms", "faces_found_of_4"])]
    if "pipeline" in res:
        parts += [f"\n## Pipeline throughput, every frame processed, default settings (model {res.get('default_model')})",
                  _table(res["pipeline"], ["mode", "input", "frames", "fps", "latency_p50_ms", "latency_p95_ms",
                                           "faces_per_frame", "cpu_cores_used"])]
        p = {(r["input"], r["mode"].startswith("tracked")): r for r in res["pipeline"]}
        for inp in dict.fromkeys(r["input"] for r in res["pipeline"]):
            if (inp, True) in p and (inp, False) in p:
                parts.append(f"speed-up of the tracked path over the baseline, {inp}: "
                             f"{p[(inp, True)]['fps'] / p[(inp, False)]['fps']:.1f}x")
    if res.get("footage"):
        parts += ["\n## Real footage (../shared/videos, every frame, default settings and model)",
                  _table(res["footage"], ["clip", "frame", "frames", "frames_with_face", "face_share", "ids", "max_faces", "fps",
                                          "latency_p95_ms"])]
    if "live" in res:
        parts += ["\n## Live (threaded runner, paced 30 fps demo source)", _table(res["live"], [
            "faces", "seconds", "capture_fps", "processed_fps", "latency_p50_ms", "latency_p95_ms", "dropped",
            "cpu_cores_used"])]
    if "gui" in res:
        parts += ["\n## Desktop window (offscreen, paced 30 fps demo source, default model)", _table(res["gui"], [
            "faces", "seconds", "model", "captured", "processed", "processed_share", "capture_fps", "processed_fps",
            "latency_p50_ms", "latency_p95_ms", "dropped"])]
    if "training" in res:
        parts += ["\n## Training throughput (batch 32, SGD step)", _table(res["training"], [
            "model", "device", "images_per_s"])]
    if "packed" in res:
        parts += ["\n## P5: packed 1-bit inference vs float (batch 8)", _table(res["packed"], [
            "model", "fp32_bytes", "packed_bytes", "size_ratio", "float_ms_per_face", "packed_ms_per_face"])]
    parts.append(f"\npeak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return "\n".join(parts)


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure speed of models, detectors, the live pipeline and training")
    p.add_argument("--quick", action="store_true", help="fewer runs and models (CI)")
    p.add_argument("--json", nargs="?", const="-", default=None, help="print JSON (or write it to a file)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (both when CUDA is present)")
    p.add_argument("--only", default="", help="comma-separated sections: " + ",".join(
        ("models", "detectors", "pipeline", "footage", "live", "gui", "training", "packed")))
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    sections = tuple(s for s in args.only.split(",") if s)
    try:
        res = run_bench(quick=args.quick, device=args.device, sections=sections)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json == "-":
        print(json.dumps(res, indent=2, default=float))
        return 0
    print(format_report(res))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=2, default=float)
        print(f"JSON written to {args.json}")
    return 0
