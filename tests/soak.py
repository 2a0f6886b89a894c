"""Soak test: the live pipeline at full speed for N minutes with memory and threads sampled.

    python tests/soak.py --minutes 30      # the long run reported in the closing note
    python tests/soak.py --minutes 1       # what CI runs

Passes (exit 0) when RSS growth after warm-up is under 50 MB, the thread count does not
grow, every runner thread is gone within one second of stop, and the finalised timeline reads
back with every row written. Prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def rss_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--faces", type=int, default=1)
    ap.add_argument("--model", default=None)
    ap.add_argument("--sample-s", type=float, default=5.0)
    ap.add_argument("--json", default=None, help="write the figures to this file")
    args = ap.parse_args(argv)

    import tempfile

    from ferapp.capture import open_source
    from ferapp.inference.pipeline import Pipeline
    from ferapp.inference.runner import Runner
    from ferapp.record.timeline import TimelineWriter

    tmp = tempfile.mkdtemp(prefix="ferapp-soak-")
    writer = TimelineWriter(os.path.join(tmp, "soak.csv"), {"soak": True})
    pipe = Pipeline(model=args.model, smoothing=0.6)
    src = open_source("demo" if args.faces == 1 else f"demo:{args.faces}", realtime=False)
    lock = threading.Lock()

    def on_result(r):
        with lock:
            writer.write(r)

    threads_before = threading.active_count()
    runner = Runner(src, pipe, on_result=on_result)
    runner.start()
    total = args.minutes * 60.0
    warmup = min(30.0, total * 0.25)
    t0 = time.monotonic()
    samples = []
    while (el := time.monotonic() - t0) < total:
        time.sleep(min(args.sample_s, max(0.05, total - el)))
        st = runner.stats()
        samples.append(
            {
                "t": round(time.monotonic() - t0, 1),
                "rss_mb": round(rss_mb(), 1),
                "threads": threading.active_count(),
                "processed": st.processed,
                "fps": round(st.processed_fps, 1),
                "p95_ms": round(st.latency_p95_ms, 1),
            }
        )
        print(json.dumps(samples[-1]), flush=True)
    st = runner.stats()
    t_stop = time.monotonic()
    stopped = runner.stop(1.0)
    stop_s = time.monotonic() - t_stop
    with lock:
        writer.close()
    threads_after = threading.active_count()
    from ferapp.record.timeline import read_timeline

    tl = read_timeline(writer.path)  # a long run loses nothing: every row written reads back
    timeline_ok = len(tl) == writer.rows and not tl.recovered and tl.meta.get("finalized") is True
    after_warm = [s for s in samples if s["t"] >= warmup] or samples[-1:]
    base = after_warm[0]["rss_mb"]
    growth = max(s["rss_mb"] for s in after_warm) - base
    max_threads = max(s["threads"] for s in samples)
    figures = {
        "minutes": args.minutes,
        "processed": st.processed,
        "mean_fps": round(st.processed / total, 1),
        "rss_after_warmup_mb": base,
        "rss_end_mb": samples[-1]["rss_mb"],
        "rss_growth_mb": round(growth, 1),
        "threads_before": threads_before,
        "threads_running_max": max_threads,
        "threads_after_stop": threads_after,
        "stop_s": round(stop_s, 3),
        "stopped_cleanly": stopped,
        "timeline_rows": writer.rows,
        "timeline_read_back": len(tl),
        "faults": st.faults,
    }
    print("SOAK", json.dumps(figures))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"figures": figures, "samples": samples}, f, indent=2)
    ok = (
        growth < 50.0
        and timeline_ok
        and stopped
        and threads_after <= threads_before
        and max_threads <= threads_before + 2
    )
    print("SOAK PASS" if ok else "SOAK FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
