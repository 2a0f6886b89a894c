"""``ferapp bench --only scale``: how ferapp's work spreads over processes on this machine.

The section is a list of rows; each row names its ``work`` ("training", "batch analysis")
and :data:`TABLES` says which columns the report prints for each kind of work. A measurement
is a function ``rows(quick) -> list[dict]`` listed in :data:`ROW_SOURCES`; to add one, write the
function, append it to ``ROW_SOURCES`` and give its ``work`` a ``TABLES`` entry. Batch analysis
(``../shared/videos`` with ``--jobs 1`` / ``--jobs 2``) is ``ferapp.bench.batch_scale``.

Training rows: the real ``Trainer`` (``ferapp train``'s engine) on random tensors, with 1
process (no process group: the plain ``ferapp train`` path), with 2 gloo processes started by
torchrun's elastic launcher (the ``ferapp train --nproc 2`` path: DDP, global BatchNorm
statistics), and with 1 process x 2 threads, the other way to use two cores. The global batch
is the same in every row, so images/s compare directly.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from typing import Any

GLOBAL_BATCH = 64
TRAIN_MODELS = ("cc_lenet5", "resnet20")

TABLES: dict[str, tuple[str, list[str]]] = {
    "training": (
        "training images/s, one model trained by N processes (gloo, DDP) on random tensors, global batch "
        f"{GLOBAL_BATCH}",
        [
            "model",
            "processes",
            "threads_per_process",
            "global_batch",
            "steps",
            "images_per_s",
            "speedup_vs_1x1",
        ],
    ),
    "batch analysis": (
        "batch analysis of ../shared/videos (`ferapp analyze DIR --out-dir OUT --jobs N`, every frame, "
        "default settings and model; wall time includes model load and worker start-up)",
        [
            "input",
            "jobs",
            "recordings",
            "failed",
            "frames",
            "wall_s",
            "recordings_per_s",
            "frames_per_s",
            "speedup",
            "cpu_cores_used",
        ],
    ),
}


def _train_worker(arch: str, threads: int, steps: int, warmup: int) -> dict[str, float]:
    """One rank (or the only process): ``warmup`` + ``steps`` training steps; images/s of the timed steps."""
    import torch

    from ferapp.train import Callback, TrainConfig, Trainer, distributed
    from ferapp.train.trainer import EncodedSet
    from ferapp.zoo import create_model, get_recipe

    torch.set_num_threads(threads)
    ctx = distributed.init("cpu", 300.0)
    torch.manual_seed(0)
    model = create_model(arch)
    cfg = model.cfg
    h, w = cfg.input_size
    n = GLOBAL_BATCH * (warmup + steps)
    data = EncodedSet(torch.randn(n, cfg.channels, h, w), torch.randint(0, cfg.num_classes, (n,)))
    marks: list[float] = []

    class Clock(Callback):
        def on_batch_end(self, step, loss):
            if step in (warmup, warmup + steps):
                marks.append(time.perf_counter())

    tc = TrainConfig.from_recipe(
        get_recipe(arch),
        epochs=1,
        batch_size=GLOBAL_BATCH,
        num_threads=threads,
        device="cpu",
        max_batches_per_epoch=warmup + steps,
    )
    res = Trainer(model, cfg, tc, [Clock()]).fit(data)
    distributed.shutdown()
    if res.outcome != "finished":
        raise RuntimeError(res.message)
    return {"images_per_s": steps * GLOBAL_BATCH / (marks[1] - marks[0]), "world_size": ctx.world_size}


def _one_process(arch: str, threads: int, steps: int, warmup: int) -> dict[str, float]:
    """The plain path in a fresh process (same start-up conditions as the torchrun workers)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as ex:
        return ex.submit(_train_worker, arch, threads, steps, warmup).result()


def _processes(nproc: int, arch: str, threads: int, steps: int, warmup: int) -> dict[str, float]:
    """``nproc`` ranks under torchrun's elastic launcher (c10d rendezvous on a free local port)."""
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    cfg = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=uuid.uuid4().hex,
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.1,
    )
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        out = elastic_launch(cfg, _train_worker)(arch, threads, steps, warmup)
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    return out[0]


def training_rows(quick: bool = False) -> list[dict[str, Any]]:
    steps, warmup, rounds = (3, 1, 1) if quick else (10, 2, 3)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    configs = [(1, 1), (2, 1), (1, 2)]  # (processes, threads per process)
    runs: dict[tuple[str, int, int], list[float]] = {}
    for r in range(rounds):  # rounds interleave the configurations: a change of load hits all alike
        for arch in TRAIN_MODELS:
            for nproc, threads in configs if r % 2 == 0 else configs[::-1]:
                res = (
                    _one_process(arch, threads, steps, warmup)
                    if nproc == 1
                    else _processes(nproc, arch, threads, steps, warmup)
                )
                runs.setdefault((arch, nproc, threads), []).append(res["images_per_s"])
    rows = []
    for arch in TRAIN_MODELS:
        base = statistics.median(runs[(arch, 1, 1)])
        for nproc, threads in configs:
            ips = statistics.median(runs[(arch, nproc, threads)])
            rows.append(
                {
                    "work": "training",
                    "model": arch,
                    "processes": nproc,
                    "threads_per_process": threads,
                    "global_batch": GLOBAL_BATCH,
                    "steps": steps,
                    "images_per_s": ips,
                    "speedup_vs_1x1": ips / base,
                    "runs": runs[(arch, nproc, threads)],
                    "load_avg": load,
                }
            )
    return rows


def batch_rows(quick: bool = False) -> list[dict[str, Any]]:
    """``ferapp analyze ../shared/videos --out-dir ... --jobs 1`` and ``--jobs 2`` ([] without the clips)."""
    from ferapp.bench.batch_scale import bench_batch_scale
    from ferapp.zoo.store import default_model_name

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return [
        {"work": "batch analysis", **r, "load_avg": load}
        for r in bench_batch_scale(default_model_name(), quick)
    ]


# the scale section's measurements, in report order
ROW_SOURCES = [training_rows, batch_rows]


def bench_scale(quick: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for source in ROW_SOURCES:
        rows += source(quick)
    return rows


def scale_note(hw: dict[str, Any], rows: list[dict[str, Any]] | None = None) -> str:
    """Why the speed-up is what it is on this machine (printed under the tables)."""
    cores = hw.get("cores") or os.cpu_count() or 1
    loads = [r["load_avg"] for r in rows or [] if r.get("load_avg") is not None]
    busy = (
        f" The 1-minute load average was {loads[0]:.1f} when the measurement began: with more runnable "
        f"processes than cores, a second process or thread mostly waits for a core."
        if loads
        else ""
    )
    return (
        f"On this {cores}-core machine ({hw.get('cpu')}) N processes x 1 thread compete for the same {cores} "
        f"cores as 1 process x {cores} threads, so no row can exceed {cores}x the 1x1 row; each process also "
        "pays the gloo collectives of every step (the gradient all-reduce, one all-reduce per BatchNorm layer "
        "forward and backward for the global statistics, the loss), which a small model (cc_lenet5) feels "
        "most, and whatever else runs on the machine takes its share of the cores." + busy
    )
