"""`ferapp bench`: measured speed of every stage and model (tables + JSON). Numbers are printed, never asserted.

Sections: start-up (a one-frame ``ferapp analyze``, ``import torch``, commands that load no
torch; fresh processes, median CPU and wall), models (params, MACs, latency per face at batch
1 / 8), detectors (640x480, 1 and 4 faces), end-to-end pipeline (tracked fast path vs the
untracked full-resolution baseline; unpaced throughput and a paced 30 fps live run with the
threaded runner), training throughput, P5's packed 1-bit inference vs float, and scale
(training images/s with 1 and 2 processes under torch.distributed, and batch analysis of
../shared/videos with 1 and 2 worker processes; ``ferapp.bench.scale``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ferapp.bench.pipeline import (
    bench_footage,
    bench_gui,
    bench_live,
    bench_pipeline_throughput,
)
from ferapp.bench.report import format_report
from ferapp.bench.scale import bench_scale
from ferapp.bench.stages import (
    bench_detectors,
    bench_models,
    bench_packed,
    bench_training,
    hardware,
)
from ferapp.bench.startup import bench_startup

__all__ = [
    "add_parser",
    "bench_detectors",
    "bench_footage",
    "bench_gui",
    "bench_live",
    "bench_models",
    "bench_packed",
    "bench_pipeline_throughput",
    "bench_scale",
    "bench_startup",
    "bench_training",
    "cmd_bench",
    "format_report",
    "hardware",
    "run_bench",
]

SECTIONS = (
    "startup",
    "models",
    "detectors",
    "pipeline",
    "footage",
    "live",
    "gui",
    "training",
    "packed",
    "scale",
)


def run_bench(quick: bool = False, device: str = "cpu", sections: tuple[str, ...] = ()) -> dict[str, Any]:
    from ferapp.inference.device import configure_threads
    from ferapp.zoo import list_models, quick_bench_models
    from ferapp.zoo.store import default_model_name

    configure_threads()
    sections = sections or SECTIONS
    out: dict[str, Any] = {"hardware": hardware(), "quick": quick}
    names = quick_bench_models() if quick else list_models()  # quick: as each model module declares
    devices = [device] if device != "auto" else (["cpu", "cuda"] if out["hardware"]["cuda"] else ["cpu"])
    default = default_model_name()
    out["default_model"] = default
    if "startup" in sections:  # fresh processes (their own runs interleaved)
        out["startup"] = bench_startup(quick)
    if "models" in sections:
        out["models"] = [r for d in devices for r in bench_models(names, d, quick)]
    if "detectors" in sections:
        out["detectors"] = bench_detectors(quick)
    if "pipeline" in sections:
        n = 60 if quick else 300
        from ferapp.bench.pipeline import BASELINE, SERIAL, TRACKED

        rows = [
            bench_pipeline_throughput(default, case, n, mode)
            for case in ("demo", "book.mkv", "demo:4")
            for mode in ((TRACKED, SERIAL, BASELINE) if case == "book.mkv" else (TRACKED, BASELINE))
        ]
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
    if "scale" in sections:
        out["scale"] = bench_scale(quick)
    return out


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure speed of models, detectors, the live pipeline and training")
    p.add_argument("--quick", action="store_true", help="fewer runs and models (CI)")
    p.add_argument("--json", nargs="?", const="-", default=None, help="print JSON (or write it to a file)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (both when CUDA is present)")
    p.add_argument("--only", default="", help="comma-separated sections: " + ",".join(SECTIONS))
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
