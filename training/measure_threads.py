"""How many torch threads should `ferapp train` use on the CPU? (issue 28 item 4)

Trains a small (cc_lenet5) and a large (resnet20) model with 1 and with 2 torch threads, each
through the real ``Trainer`` (recipe batch size, SGD, mirror augmentation) on random tensors,
on the machine as it is ("idle") and with one CPU-burning process per core beside it ("busy").
Every (condition, model, threads) cell is measured ``--reps`` times, interleaved (A/B/A/B...),
so a change in the machine's load hits both arms alike; the result is the median images/s per
cell and the ratio 2 threads / 1 thread.

    .venv/bin/python training/measure_threads.py --reps 5 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time


def _burn() -> None:  # one busy core
    x = 1.0
    while True:
        x = x * 1.000001 + 1e-9


def _images_per_s(arch: str, threads: int, steps: int, budget_s: float) -> tuple[float, float]:
    """(images/s, CPU-s per image) of ``steps`` training steps after two warm-up steps (fewer when
    they take longer than ``budget_s``: a thrashing configuration is measured, not waited out)."""
    import threading

    import torch

    from ferapp.train import Callback, TrainConfig, Trainer
    from ferapp.train.trainer import EncodedSet
    from ferapp.zoo import create_model, get_recipe

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = create_model(arch)
    cfg = model.cfg
    bs = get_recipe(arch).batch_size
    h, w = cfg.input_size
    n = bs * (steps + 2)
    data = EncodedSet(torch.randn(n, cfg.channels, h, w), torch.randint(0, cfg.num_classes, (n,)))
    marks: list[tuple[float, float]] = []
    done = [0]
    cancel = threading.Event()

    class Clock(Callback):
        def on_batch_end(self, step, loss):
            if step == 2:
                marks.append((time.perf_counter(), time.process_time()))
            elif step > 2:
                done[0] = step - 2
                if time.perf_counter() - marks[0][0] > budget_s:
                    cancel.set()

    tc = TrainConfig.from_recipe(
        get_recipe(arch), epochs=1, num_threads=threads, device="cpu", max_batches_per_epoch=steps + 2
    )
    t_end = [0.0, 0.0]

    class End(Callback):
        def on_batch_end(self, step, loss):
            t_end[:] = [time.perf_counter(), time.process_time()]

    res = Trainer(model, cfg, tc, [Clock(), End()], cancel).fit(data)
    assert res.outcome in ("finished", "cancelled"), res.message
    wall, cpu = t_end[0] - marks[0][0], t_end[1] - marks[0][1]
    return done[0] * bs / wall, cpu / (done[0] * bs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--models", default="cc_lenet5,resnet20")
    ap.add_argument(
        "--steps", default="cc_lenet5=100,resnet20=15", help="training steps timed per measurement"
    )
    ap.add_argument("--budget", type=float, default=30.0, help="seconds at most per measurement")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    steps = {k: int(v) for k, v in (s.split("=") for s in args.steps.split(","))}
    models = args.models.split(",")
    cells: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    for rep in range(args.reps):
        for cond in ("idle", "busy"):
            burners = []
            if cond == "busy":
                burners = [mp.Process(target=_burn, daemon=True) for _ in range(os.cpu_count() or 2)]
                for b in burners:
                    b.start()
                time.sleep(0.5)  # let the burners reach the run queue
            try:
                for arch in models:
                    for threads in (1, 2) if rep % 2 == 0 else (2, 1):
                        ips, cpi = _images_per_s(arch, threads, steps.get(arch, 50), args.budget)
                        cells.setdefault((cond, arch, threads), []).append((ips, cpi))
                        print(
                            f"rep {rep} {cond:<4} {arch:<10} {threads} thread(s): {ips:8.1f} images/s, "
                            f"{1000 * cpi:.2f} CPU-ms/image",
                            flush=True,
                        )
            finally:
                for b in burners:
                    b.terminate()
                    b.join()
    from ferapp.inference.device import cpu_name

    print(f"\nCPU {cpu_name()}, {os.cpu_count()} logical cores; median of {args.reps} interleaved runs")
    rows = []
    for cond in ("idle", "busy"):
        for arch in models:
            one = statistics.median(v[0] for v in cells[(cond, arch, 1)])
            two = statistics.median(v[0] for v in cells[(cond, arch, 2)])
            rows.append(
                {
                    "condition": cond,
                    "model": arch,
                    "threads1_images_per_s": one,
                    "threads2_images_per_s": two,
                    "ratio_2_over_1": two / one,
                    "threads1_runs": [v[0] for v in cells[(cond, arch, 1)]],
                    "threads2_runs": [v[0] for v in cells[(cond, arch, 2)]],
                }
            )
            print(
                f"{cond:<4} {arch:<10} 1 thread {one:8.1f} img/s   2 threads {two:8.1f} img/s   "
                f"2/1 = {two / one:.2f}x"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {"cpu": cpu_name(), "cores": os.cpu_count(), "reps": args.reps, "rows": rows}, f, indent=1
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
