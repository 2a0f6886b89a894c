"""The text report of ``ferapp bench``: one markdown table per section (README's Performance
section is generated from it by ``training/update_readme.py``)."""

from __future__ import annotations

import resource
from typing import Any


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        if isinstance(v, int) and abs(v) >= 10000:
            return f"{v:,}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(cols)]
    lines = [
        "| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(cols)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(v.ljust(widths[i]) for i, v in enumerate(row)) + " |" for row in cells]
    return "\n".join(lines)


def _failed_rows(rows: list[dict[str, Any]], what: str) -> list[str]:
    """One line per row that holds an ``error`` (a sub-run that produced no statistics): its
    exit status and the last line of its output, instead of an empty table row."""
    lines = []
    for r in rows:
        if "error" in r:
            text = [ln.strip() for ln in str(r["error"] or "").splitlines() if ln.strip()]
            code = f" (exit {r['exit']})" if r.get("exit") is not None else ""
            lines.append(f"error: {what} gave no statistics{code}: {text[-1] if text else 'no output'}")
    return lines


def _speedups(rows: list[dict]) -> list[str]:
    """One line per input with both a tracked and a baseline row: the tracked path's fps ratio."""
    p = {(r["input"], r["mode"]): r for r in rows}
    tracked, base = "tracked (default)", "baseline (full scan every frame)"
    return [
        f"speed-up of the tracked path over the baseline, {inp}: "
        f"{p[(inp, tracked)]['fps'] / p[(inp, base)]['fps']:.1f}x"
        for inp in dict.fromkeys(r["input"] for r in rows)
        if (inp, tracked) in p and (inp, base) in p
    ]


def _gui_section(rows: list[dict]) -> list[str]:
    ok = [r for r in rows if "error" not in r]
    parts = ["\n## Desktop window (offscreen, paced 30 fps demo source, default model)"]
    if ok:
        parts.append(
            _table(
                ok,
                [
                    "faces",
                    "seconds",
                    "model",
                    "captured",
                    "processed",
                    "processed_share",
                    "capture_fps",
                    "processed_fps",
                    "latency_p50_ms",
                    "latency_p95_ms",
                    "dropped",
                ],
            )
        )
    parts += _failed_rows(rows, "the window's run (ferapp gui --exit-after)")
    startup_cols = ["first_paint_s", "first_result_s", "first_result_cpu_s", "build_s", "build_loop_share"]
    started = [r for r in rows if any(r.get(c) is not None for c in startup_cols)]  # also failed runs
    if started:
        parts += [
            "\nDesktop window start-up (seconds since the process started: first paint of the window, "
            "first result; CPU seconds by the first result; share of a 20 ms timer's ticks the event loop "
            "ran while the pipeline built)",
            _table(started, ["faces", *startup_cols]),
        ]
    return parts


def format_report(res: dict[str, Any]) -> str:
    hw = res["hardware"]
    parts = [
        f"Machine: {hw['cpu']}; {hw.get('isa', 'ISA unknown')}; torch {hw['torch']}; "
        + (
            f"onnxruntime {hw['onnxruntime']} (MLAS kernels: AVX2 / AVX-512 / VNNI as the CPU has them); "
            if hw.get("onnxruntime")
            else ""
        )
        + f"CUDA: {hw['cuda'] or 'none'}"
        + (f"; MPS: {hw['mps']}" if hw.get("mps") else "")
        + ("  (quick mode)" if res.get("quick") else "")
    ]
    if res.get("startup"):
        parts += [
            "\n## Start-up (fresh processes, interleaved; CPU = user + system seconds of the process)",
            _table(
                res["startup"],
                ["command", "runs", "cpu_median_s", "cpu_min_s", "wall_median_s", "wall_min_s", "error"],
            ),
        ]
    if "models" in res:
        arch = [r for r in res["models"] if "precision" not in r]
        trained = [r for r in res["models"] if "precision" in r]
        parts += [
            "\n## Models (latency per face)",
            _table(
                arch,
                [
                    "model",
                    "device",
                    "input",
                    "params",
                    "macs",
                    "b1_median_ms_per_face",
                    "b1_p95_ms_per_face",
                    "b8_median_ms_per_face",
                    "b8_p95_ms_per_face",
                ],
            ),
        ]
        if trained:
            parts += [
                "\n## Shipped models, float vs int8 (the live engine, one face; int8 through torch "
                "(ferapp.zoo.quantize) and through onnxruntime (ferapp.zoo.onnx_net), what the live CPU path runs)",
                _table(
                    trained,
                    [
                        "model",
                        "device",
                        "precision",
                        "runtime",
                        "input",
                        "engine_median_ms_per_face",
                        "engine_p95_ms_per_face",
                    ],
                ),
            ]
    if "detectors" in res:
        parts += [
            "\n## Face detection at the default min_face (full-frame scan; check = one tracked face at its "
            "own scale; demo:4 frames, ~100 px faces, letterboxed to each size)",
            _table(
                res["detectors"],
                [
                    "detector",
                    "frame",
                    "scan_scale",
                    "smallest_face_px",
                    "scan_median_ms",
                    "scan_p95_ms",
                    "check_ms",
                    "faces_found_of_4",
                ],
            ),
        ]
    if "pipeline" in res:
        prec = next((r.get("precision") for r in res["pipeline"] if r.get("precision")), "")
        runtime = next((r.get("runtime") for r in res["pipeline"] if r.get("runtime")), "")
        prec += f" through {runtime}" if prec and runtime else ""
        parts += [
            f"\n## Pipeline throughput, every frame processed, default settings (model {res.get('default_model')}"
            + (f", {prec}" if prec else "")
            + ")",
            _table(
                res["pipeline"],
                [
                    "mode",
                    "input",
                    "frames",
                    "fps",
                    "latency_p50_ms",
                    "latency_p95_ms",
                    "faces_per_frame",
                    "cpu_ms_per_frame",
                    "cpu_cores_used",
                    "overlapped",
                ],
            ),
        ]
        parts += _speedups(res["pipeline"])
    if res.get("footage"):
        parts += [
            "\n## Real footage (the sample clips in FERAPP_VIDEOS_DIR, every frame, default settings and model)",
            _table(
                res["footage"],
                [
                    "clip",
                    "frame",
                    "frames",
                    "frames_with_face",
                    "face_share",
                    "ids",
                    "max_faces",
                    "fps",
                    "latency_p95_ms",
                ],
            ),
        ]
    if "live" in res:
        parts += [
            "\n## Live (threaded runner, paced 30 fps demo source)",
            _table(
                res["live"],
                [
                    "faces",
                    "seconds",
                    "capture_fps",
                    "processed_fps",
                    "latency_p50_ms",
                    "latency_p95_ms",
                    "dropped",
                    "cpu_cores_used",
                ],
            ),
        ]
    if "gui" in res:
        parts += _gui_section(res["gui"])
    if "training" in res:
        parts += [
            "\n## Training throughput (batch 32, SGD step)",
            _table(res["training"], ["model", "device", "images_per_s"]),
        ]
    if "packed" in res:
        parts += [
            "\n## P5: packed 1-bit inference vs float (batch 8)",
            _table(
                res["packed"],
                [
                    "model",
                    "fp32_bytes",
                    "packed_bytes",
                    "size_ratio",
                    "float_ms_per_face",
                    "packed_ms_per_face",
                ],
            ),
        ]
    if res.get("scale"):
        from ferapp.bench.scale import TABLES, scale_note

        parts.append("\n## Scale (processes on this machine)")
        for work in dict.fromkeys(r["work"] for r in res["scale"]):
            title, cols = TABLES[work]
            parts += [f"{title}:", _table([r for r in res["scale"] if r["work"] == work], cols)]
        parts.append(scale_note(hw, res["scale"]))
    parts.append(f"\npeak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return "\n".join(parts)
