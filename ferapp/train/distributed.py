"""Distributed data-parallel training on ``torch.distributed`` (torchrun, ``ferapp train --nproc N``).

How a run with N processes works (nanoGPT's ``train.py`` shape; torchrun does the launching):

- **Process group.** ``torchrun`` (or ``ferapp train --nproc N``, which starts the same elastic
  launcher, ``torch.distributed.run``) sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR; each
  worker joins with :func:`init`: backend ``nccl`` on CUDA (one GPU per local rank), ``gloo`` on
  the CPU, every collective bounded by a timeout (``--dist-timeout``) so a lost peer ends the
  job instead of hanging it.
- **One global batch, split.** Every rank draws the same shuffle and the same augmentation of
  the whole global batch B from the existing (seed, epoch, batch) generators, then keeps its own
  contiguous slice (:func:`shard_bounds`). Each rank's loss is weighted by
  ``N * n_rank / n_batch`` so that DDP's gradient average equals the gradient of the mean loss
  over the whole batch, also when B is not a multiple of N.
- **BatchNorm: global statistics, not SyncBatchNorm.** A BN layer normalises with the mean and
  variance of the batch it sees, so a rank that normalised its slice with the slice's statistics
  would train a different network from the 1-process run. ``torch.nn.SyncBatchNorm`` computes
  them over the global batch, but in torch 2.13 it refuses CPU tensors ("SyncBatchNorm expected
  input tensor to be on GPU"), i.e. the gloo/CPU case this project trains and tests on. So every
  BatchNorm layer is converted to :class:`GlobalBatchNorm` while DDP runs (same parameters,
  buffers and state-dict keys; converted back when the fit ends): one ``all_reduce`` of the
  per-channel sums (shifted by the running mean for accuracy) gives the global mean and biased
  variance, autograd carries the gradient back through that ``all_reduce``, and the running
  statistics are updated with the global unbiased variance exactly like ``BatchNorm``. One code
  path on CPU and CUDA (the cost is SyncBatchNorm's: one collective per BN layer forward and
  backward). With this, parameters after K steps on N ranks equal those of one process with
  batch B within float tolerance (``tests/test_distributed.py``).
- **Dropout** is the one draw that is not shared: each rank draws its slice's masks from a
  generator seeded by (seed, epoch, batch, rank), so a run is reproducible for a given number
  of processes and resumes exactly, but differs from a 1-process run by those masks.
- **Only rank 0 writes** checkpoints, reports, model folders, progress bars and logs. Losses
  are all-reduced (the epoch's train loss is that of the global batches); validation and test
  predictions are sharded over the ranks and gathered, so every rank holds the same metrics
  (and takes the same best-model and schedule decisions).
- **Resume and elastic restarts.** The training state is independent of the number of
  processes, so a checkpoint resumes with the same or a different N. An elastic restart
  (``--max-restarts``) re-runs the command: each fold then continues from its own ``last.pt``
  when that checkpoint belongs to this run (the run id of ``ferapp train --nproc`` or torchrun's
  ``--rdzv-id``). Rank 0 reads a checkpoint and broadcasts its bytes, so the other ranks need
  no access to the run folder.
- HSIC (P3) is refused for N > 1: its terms are kernel (Gram) matrices over the whole batch,
  which per-rank slices cannot reproduce.

Nothing here imports torch at module import time (``ferapp train --help`` stays torch-free).
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT_S = 900.0
_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank, world size, local rank and backend ("" = no process group)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str = ""

    @property
    def active(self) -> bool:
        """A process group exists (also for a 1-process torchrun job)."""
        return bool(self.backend)

    @property
    def sharded(self) -> bool:
        """Batches are split over more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = DistContext()


# ---------------------------------------------------------------- environment (no torch needed)
def launched_by_torchrun() -> bool:
    return all(k in os.environ for k in _TORCHRUN_VARS)


def env_rank() -> int:
    """This process's global rank as torchrun set it (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0") or 0) if launched_by_torchrun() else 0


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1) if launched_by_torchrun() else 1


def env_local_world_size() -> int:
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1) if launched_by_torchrun() else 1


def restart_count() -> int:
    """How often torchrun has restarted this worker group (0 on the first attempt)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)


def run_id() -> str:
    """The id shared by every rank and every elastic restart of one job: ``ferapp train --nproc``'s
    FERAPP_RUN_ID, else torchrun's rendezvous id; "" when there is none."""
    rid = os.environ.get("FERAPP_RUN_ID") or os.environ.get("TORCHELASTIC_RUN_ID") or ""
    return "" if rid == "none" else rid


def refusal(algorithm: str, world_size: int) -> str:
    """Why a run cannot be split over ``world_size`` processes ("" when it can)."""
    if world_size > 1 and algorithm == "hsic":
        return (
            "algorithm 'hsic' (P3) cannot train with more than one process: its HSIC terms are kernel "
            "matrices over the whole batch, which per-process slices cannot reproduce; use one process"
        )
    return ""


# ----------------------------------------------------------------------------- process group
def context() -> DistContext:
    """The process group this process belongs to (``SINGLE`` when there is none)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    return DistContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0") or 0),
        local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1),
        backend=str(dist.get_backend()),
    )


def init(device: str = "auto", timeout_s: float = DEFAULT_TIMEOUT_S) -> DistContext:
    """Join the process group torchrun describes (env://); a no-op outside torchrun.

    nccl on CUDA with one GPU per local rank, gloo on the CPU; every collective times out after
    ``timeout_s`` seconds (a lost peer fails the job instead of hanging it)."""
    if not launched_by_torchrun():
        return SINGLE
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    from ferapp.inference.device import resolve_device

    if dist.is_initialized():
        return context()
    dev = str(resolve_device(device))
    local_rank = int(os.environ["LOCAL_RANK"])
    if dev.startswith("cuda"):
        n = torch.cuda.device_count()
        if local_rank >= n:
            raise ValueError(
                f"local rank {local_rank} has no GPU of its own ({n} CUDA device(s) on this node): "
                f"start at most {n} processes per node"
            )
        torch.cuda.set_device(local_rank)
        backend = "nccl"
    elif dev == "cpu":
        backend = "gloo"
    else:
        raise ValueError(
            f"distributed training runs on CUDA (nccl) or the CPU (gloo), not on {dev!r}: "
            "use --device cpu or cuda"
        )
    from torch.distributed.rendezvous import rendezvous

    timeout = timedelta(seconds=float(timeout_s))
    store, rank, world_size = next(rendezvous("env://", timeout=timeout))
    # torchrun keeps one store for every restart of the group: without a prefix of its own, a
    # restarted group reads the dead attempt's gloo addresses and fails to connect
    store = dist.PrefixStore(f"ferapp/attempt_{restart_count()}/", store)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=timeout)
    return context()


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def device_for(ctx: DistContext):
    """The device collectives of ``ctx`` take their tensors on."""
    import torch

    return torch.device("cuda", torch.cuda.current_device()) if ctx.backend == "nccl" else torch.device("cpu")


# -------------------------------------------------------------------------------- splitting
def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows [lo, hi) of ``n`` that ``rank`` takes: contiguous, sizes differ by at most one, the
    first ``n % world_size`` ranks take one more; every row belongs to exactly one rank."""
    base, extra = divmod(int(n), int(world_size))
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def sum_across(values, ctx: DistContext) -> list[float]:
    """Sum of a few floats (or a 1-D tensor) over all ranks, as Python floats on every rank."""
    import torch
    import torch.distributed as dist

    t = (
        values.detach().float().reshape(-1)
        if isinstance(values, torch.Tensor)
        else torch.tensor(values, dtype=torch.float32)
    )
    t = t.to(device_for(ctx)).clone()
    dist.all_reduce(t)
    return [float(v) for v in t.tolist()]


def gather_rows(local, n: int, ctx: DistContext):
    """Concatenate every rank's rows (rank r holds rows ``shard_bounds(n, r, N)``) on every rank."""
    import torch
    import torch.distributed as dist

    sizes = [shard_bounds(n, r, ctx.world_size) for r in range(ctx.world_size)]
    most = max(hi - lo for lo, hi in sizes)
    dev = device_for(ctx)
    buf = torch.zeros((most, *local.shape[1:]), dtype=local.dtype, device=dev)
    buf[: local.shape[0]] = local.to(dev)
    parts = [torch.empty_like(buf) for _ in range(ctx.world_size)]
    dist.all_gather(parts, buf)
    return torch.cat([p[: hi - lo] for p, (lo, hi) in zip(parts, sizes, strict=True)]).to(local.device)


def broadcast_bytes(data: bytes | None, ctx: DistContext) -> bytes:
    """Rank 0's ``data`` on every rank (raw bytes over the process group; no pickling)."""
    import torch
    import torch.distributed as dist

    dev = device_for(ctx)
    size = torch.tensor([len(data) if ctx.is_main and data is not None else 0], dtype=torch.int64, device=dev)
    dist.broadcast(size, 0)
    buf = (
        torch.frombuffer(bytearray(data or b""), dtype=torch.uint8).to(dev)
        if ctx.is_main and size.item()
        else torch.empty(int(size.item()), dtype=torch.uint8, device=dev)
    )
    if size.item():
        dist.broadcast(buf, 0)
    return bytes(buf.cpu().numpy().tobytes())


def main_decides(value: str, ctx: DistContext) -> str:
    """Rank 0's ``value`` on every rank (a path, a flag: one decision for the whole job)."""
    if not ctx.active:
        return value
    return broadcast_bytes(value.encode("utf-8") if ctx.is_main else None, ctx).decode("utf-8")


def read_file(path: str | Path, ctx: DistContext) -> bytes:
    """A file's bytes, read by rank 0 alone and sent to every rank (other nodes need no shared
    folder). An unreadable file raises the same OSError on every rank."""
    if not ctx.active:
        return Path(path).read_bytes()
    data, err = None, ""
    if ctx.is_main:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            err = f"{type(e).__name__}: {e}"
    err = main_decides(err, ctx)
    if err:
        if err.startswith("FileNotFoundError"):
            raise FileNotFoundError(err.split(": ", 1)[1])
        raise OSError(err)
    return broadcast_bytes(data, ctx)


def torch_load(path: str | Path, ctx: DistContext) -> Any:
    """``torch.load(path, weights_only=True)`` with the bytes read by rank 0 (see :func:`read_file`);
    in a single process the zoo's safe loader (``ferapp.zoo.io.safe_torch_load``)."""
    import torch

    if not ctx.active:
        from ferapp.zoo.io import safe_torch_load

        return safe_torch_load(Path(path))
    return torch.load(io.BytesIO(read_file(path, ctx)), map_location="cpu", weights_only=True)


# ---------------------------------------------------------------------------- BatchNorm
def _sum_across_ranks_class():
    import torch
    import torch.distributed as dist

    class _SumAcrossRanks(torch.autograd.Function):
        """all_reduce(SUM) with its gradient: every rank's loss depends on every rank's input."""

        @staticmethod
        def forward(ctx, t):
            t = t.clone()
            dist.all_reduce(t)
            return t

        @staticmethod
        def backward(ctx, g):
            g = g.clone()
            dist.all_reduce(g)
            return g

    return _SumAcrossRanks


def _global_bn_class():
    import torch
    import torch.distributed as dist
    from torch.nn.modules.batchnorm import _BatchNorm

    _SumAcrossRanks = _sum_across_ranks_class()

    class GlobalBatchNorm(_BatchNorm):
        """BatchNorm{1,2,3}d whose training statistics are those of the global batch (all ranks).

        See the module docstring for why this and not ``torch.nn.SyncBatchNorm``. In eval mode,
        or without a multi-process group, it is plain ``BatchNorm``."""

        def _check_input_dim(self, input):
            if input.dim() < 2:
                raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

        def forward(self, x):
            if not (
                self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
            ):
                return super().forward(x)
            self._check_input_dim(x)
            c = x.shape[1]
            dims = [0, *range(2, x.dim())]
            shape = [1, c] + [1] * (x.dim() - 2)
            # shift by the running mean (identical on every rank) for an accurate one-pass variance;
            # a copy: the buffer is updated in place below
            shift = (
                self.running_mean.detach().float().clone()
                if self.running_mean is not None
                else torch.zeros(c, device=x.device)
            )
            xs = x.float() - shift.view(shape)
            n_local = float(x.numel() // c) if c else 0.0
            stats = torch.cat([xs.sum(dims), (xs * xs).sum(dims), xs.new_full((1,), n_local)])
            stats = _SumAcrossRanks.apply(stats)
            count = stats[2 * c]
            mean_s = stats[:c] / count
            var = (stats[c : 2 * c] / count - mean_s * mean_s).clamp_min(0.0)
            y = (xs - mean_s.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
            if self.affine:
                y = y * self.weight.view(shape) + self.bias.view(shape)
            if self.track_running_stats:
                with torch.no_grad():
                    self.num_batches_tracked.add_(1)
                    f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                    self.running_mean.mul_(1 - f).add_((mean_s + shift).detach(), alpha=f)
                    unbiased = var.detach() * count / (count - 1).clamp_min(1.0)
                    self.running_var.mul_(1 - f).add_(unbiased, alpha=f)
            return y.to(x.dtype)

    GlobalBatchNorm.__module__ = __name__
    return GlobalBatchNorm


_GBN = None


def global_batchnorm_class():
    global _GBN
    if _GBN is None:
        _GBN = _global_bn_class()
    return _GBN


def convert_batchnorm(module):
    """Replace every BatchNorm1d/2d/3d in ``module`` by a :class:`GlobalBatchNorm` sharing its
    parameters and buffers (state-dict keys unchanged). Returns the (possibly new) module."""
    import torch.nn as nn

    gbn = global_batchnorm_class()

    def make(m):
        if type(m) not in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
            return None
        new = gbn(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
        new._ferapp_original = type(m)
        return new

    return _swap(module, make)


def revert_batchnorm(module):
    """Undo :func:`convert_batchnorm` (the trained model is plain PyTorch again)."""
    gbn = _GBN
    if gbn is None:
        return module
    return _swap(
        module,
        lambda m: (
            m._ferapp_original(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
            if isinstance(m, gbn)
            else None
        ),
    )


def _swap(module, make):
    """``module`` with every submodule ``m`` for which ``make(m)`` gives a new module replaced by it
    (the new one takes over ``m``'s parameters and buffers)."""
    new = make(module)
    if new is not None:
        _share_state(module, new)
        return new
    for name, child in module.named_children():
        swapped = _swap(child, make)
        if swapped is not child:
            setattr(module, name, swapped)
    return module


def _share_state(src, dst) -> None:
    if src.affine:
        dst.weight, dst.bias = src.weight, src.bias
    if src.track_running_stats:
        dst.running_mean, dst.running_var = src.running_mean, src.running_var
        dst.num_batches_tracked = src.num_batches_tracked
    dst.train(src.training)


def wrap(module, ctx: DistContext):
    """``module`` in DistributedDataParallel (buffers are not re-broadcast each step: with global
    BatchNorm statistics they are identical on every rank already)."""
    import inspect
    import warnings

    import torch
    from torch.nn.parallel import DistributedDataParallel

    params = inspect.signature(DistributedDataParallel.__init__).parameters
    kw: dict[str, Any] = (
        {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
    )
    if ctx.backend == "nccl":
        kw["device_ids"] = [torch.cuda.current_device()]
    # a weight with a size-1 dimension (a 1-channel input conv) has two equally valid stride layouts;
    # DDP then warns on every backward that its gradient's strides differ from the bucket's: harmless
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    return DistributedDataParallel(module, **kw)


# ------------------------------------------------------------------------------ launching
def launch(
    worker_argv: list[str], nproc: int, max_restarts: int = 0, env: dict[str, str] | None = None
) -> int:
    """``ferapp train --nproc N``: run ``python -m ferapp <worker_argv>`` in ``nproc`` processes on
    this machine through torchrun's own elastic launcher (``torch.distributed.run`` with a
    standalone c10d rendezvous on a free port). Returns the exit code: 0, 1 when a rank failed
    (its error is printed), 130 / 143 when stopped by SIGINT / SIGTERM."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(
        [
            "--standalone",
            f"--nproc-per-node={int(nproc)}",
            f"--max-restarts={int(max_restarts)}",
            "-m",
            "ferapp",
            *worker_argv,
        ]
    )
    saved = dict(os.environ)
    os.environ.update(env or {})  # the workers inherit this environment
    try:
        run(args)
    except ChildFailedError as e:
        rank, failure = e.get_first_failure()
        print(f"error: training failed on rank {rank}: {failure_line(failure)}", file=sys.stderr)
        return 1
    except SignalException as e:
        print(f"stopped by {e.sigval.name}", file=sys.stderr)
        return 128 + int(e.sigval)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return 0


def failure_line(failure) -> str:
    """One line for a failed rank: its recorded error, else its exit code or signal."""
    msg = failure.message
    if isinstance(msg, dict):
        msg = msg.get("message", "")
    msg = str(msg or "").strip().splitlines()
    if msg and "exitcode" not in msg[0].lower() and "signal" not in msg[0].lower():
        line = msg[-1] if msg[0].startswith("Traceback") else msg[0]
        return line.removeprefix(f"{WorkerFailed.__name__}: ")
    sig = failure.signal_name()
    return f"killed by {sig}" if failure.exitcode < 0 else f"exit code {failure.exitcode}"


class WorkerFailed(RuntimeError):
    """A rank's run failed: raised out of the worker so torchrun records this rank's error and
    ends the whole job with it."""


def run_worker(fn):
    """Call ``fn()`` under torchrun's ``@record`` (a raised error goes to the job's error file)."""
    from torch.distributed.elastic.multiprocessing.errors import record

    return record(fn)()


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "SINGLE",
    "DistContext",
    "WorkerFailed",
    "broadcast_bytes",
    "context",
    "convert_batchnorm",
    "env_local_world_size",
    "env_rank",
    "env_world_size",
    "gather_rows",
    "global_batchnorm_class",
    "init",
    "launch",
    "launched_by_torchrun",
    "main_decides",
    "read_file",
    "refusal",
    "restart_count",
    "revert_batchnorm",
    "run_id",
    "run_worker",
    "shard_bounds",
    "shutdown",
    "sum_across",
    "torch_load",
    "wrap",
]
