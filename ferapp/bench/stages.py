"""Per-stage measurements of ``ferapp bench``: models, training steps, detectors, P5 packed.

Times are wall-clock medians / p95 over repeated calls after a warm-up; nothing is asserted.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any

import numpy as np


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def hardware() -> dict[str, Any]:
    import torch

    from ferapp.inference.device import cpu_features, device_description, mps_available

    return {
        "cpu": device_description("cpu"),
        "isa": cpu_features(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": _onnxruntime_version(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "mps": "Apple GPU" if mps_available() else None,
    }


def _onnxruntime_version() -> str | None:
    try:
        import onnxruntime

        return onnxruntime.__version__
    except ImportError:
        return None


def time_fn(fn, warmup: int, runs: int) -> list[float]:
    """Milliseconds of each of ``runs`` calls of ``fn`` after ``warmup`` untimed ones (the one timing loop)."""
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
        row: dict[str, Any] = {
            "model": name,
            "params": count_params(model),
            "macs": count_macs(model, (1, cfg.channels, h, w)),
            "input": f"{cfg.input_size[0]}x{cfg.input_size[1]}x{cfg.channels}",
            "five_crop": bool(cfg.five_crop),
            "device": device,
        }
        for bs in (1, 8):
            x = torch.randn(bs, cfg.channels, *cfg.input_size, device=device)

            def run(x=x):
                with torch.inference_mode():
                    torch.softmax(logits_from_input(model, x, cfg), dim=1)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()

            t = time_fn(run, 3, runs)
            row[f"b{bs}_median_ms_per_face"] = statistics.median(t) / bs
            row[f"b{bs}_p95_ms_per_face"] = _pct(t, 95) / bs
        rows.append(row)
    if device == "cpu":
        rows += bench_int8(quick)
    return rows


def bench_int8(quick: bool = False) -> list[dict[str, Any]]:
    """Each trained model that ships an int8 network (``int8.onnx`` and/or ``int8.json``): the
    live engine's cost per face (one crop, so with the model's test-time views, e.g. the mirror
    image): its float network (torch), its int8 network through torch (``ferapp.zoo.quantize``)
    and through onnxruntime (``ferapp.zoo.onnx_net``, what the live CPU path runs), interleaved
    so all see the same machine load."""
    from ferapp.inference.engine import ExpressionEngine
    from ferapp.zoo.onnx_net import int8_onnx_path
    from ferapp.zoo.store import list_trained_models

    rows = []
    runs = 10 if quick else 40
    crop = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    for entry in list_trained_models():
        variants = [("float", "torch")]
        variants += [("int8", "torch")] if (entry.path / "int8.json").exists() else []
        variants += [("int8", "onnxruntime")] if int8_onnx_path(entry.path) is not None else []
        if len(variants) == 1:
            continue
        engines = [
            ExpressionEngine(str(entry.path), device="cpu", precision=p, optimize=True, runtime=r)
            for p, r in variants
        ]
        times: list[list[float]] = [[] for _ in engines]
        for _ in range(4):  # interleaved rounds
            for k, eng in enumerate(engines):
                times[k] += time_fn(lambda eng=eng: eng.classify([crop]), 2, max(3, runs // 4))
        for eng, t in zip(engines, times, strict=True):
            rows.append(
                {
                    "model": entry.name,
                    "device": "cpu",
                    "precision": eng.precision,
                    "runtime": eng.runtime,
                    "input": f"{eng.cfg.input_size[0]}x{eng.cfg.input_size[1]}x{eng.cfg.channels}"
                    + (" +mirror" if eng.cfg.flip_tta else ""),
                    "engine_median_ms_per_face": statistics.median(t),
                    "engine_p95_ms_per_face": _pct(t, 95),
                }
            )
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

        t = time_fn(step, 1, steps)
        rows.append(
            {
                "model": name,
                "device": device,
                "batch": bs,
                "images_per_s": bs / (statistics.median(t) / 1000.0),
            }
        )
    return rows


# -- detectors ----------------------------------------------------------------------------
def _demo_frames(faces: int, n: int) -> list[np.ndarray]:
    from ferapp.capture import open_source

    with open_source(f"demo:{faces}" if faces > 1 else "demo", realtime=False, max_frames=n) as src:
        return [f.image for f in iter(src.read, None)]


def bench_detectors(quick: bool = False) -> list[dict[str, Any]]:
    """Cost of one full-frame scan at the default min_face, per detector and frame size, and of
    the per-face check at the face's own scale (what the tracked path pays every 10 frames)."""

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
            rows.append(
                {
                    "detector": name,
                    "frame": f"{size[0]}x{size[1]}",
                    "min_face": det.min_face,
                    "scan_scale": round(det.scale_for(*size), 2),
                    "smallest_face_px": round(det.effective_min_face(*size), 1),
                    "scan_median_ms": statistics.median(t),
                    "scan_p95_ms": _pct(t, 95),
                    "faces_found_of_4": float(np.mean(found)),
                }
            )
        img = frames[0]
        boxes = [f.box for f in det.detect(img)] or [(100, 100, 100, 100)]
        t = time_fn(
            lambda det=det, img=img, b=boxes[0]: det.detect_region(img, b), 1, 3 if name == "cnn" else 20
        )
        rows[-1 if name == "cnn" else -2]["check_ms"] = statistics.median(t)  # the 640x480 row
    return rows


def _letterbox(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``img`` scaled to fit ``size`` (w, h) without distortion, centred on black bars."""
    import cv2

    w, h = size
    s = min(w / img.shape[1], h / img.shape[0])
    small = cv2.resize(
        img,
        (int(round(img.shape[1] * s)), int(round(img.shape[0] * s))),
        interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
    )
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


# -- P5 packed ----------------------------------------------------------------------------
def bench_packed(quick: bool = False) -> list[dict[str, Any]]:
    import tempfile

    import torch

    from ferapp.zoo import create_model, packed

    rows = []
    for name in ["bdnn2"] if quick else ["bdnn2", "bdnn4"]:
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
        t_f = time_fn(run_float, 2, runs)
        t_p = time_fn(lambda: pk(xn), 2, runs)
        rows.append(
            {
                "model": name,
                "fp32_bytes": size_float,
                "packed_bytes": size_packed,
                "size_ratio": size_float / max(1, size_packed),
                "float_ms_per_face": statistics.median(t_f) / 8,
                "packed_ms_per_face": statistics.median(t_p) / 8,
            }
        )
    return rows
