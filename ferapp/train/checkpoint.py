"""Training checkpoints: the ``Trainer``'s full state (optimizers, schedule, strategy extras,
position inside the epoch, history, RNG, the best weights and score so far, the callbacks'
state) in the zoo's self-describing checkpoint format, so a cancelled or interrupted run
resumes at the batch it stopped at and keeps its true best model (Lightning's
``ModelCheckpoint.state_dict`` habit: the best score is state, not a fresh -inf).

The state does not depend on the number of processes (positions and losses are those of the
global batch; every rank holds the same weights), so a checkpoint resumes with any number of
processes. Files are written atomically (``ferapp.zoo.io``: temp file in the same folder,
fsync, rename): a crash or SIGKILL never leaves a torn ``last.pt``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

STATE_FORMAT = "ferapp-train-state/1"


def trainer_state(tr) -> dict[str, Any]:
    """The training state saved in a checkpoint's ``extra`` (plain types + tensors only)."""
    s: dict[str, Any] = {
        "train_state": STATE_FORMAT,
        "tcfg": {k: v for k, v in tr.tcfg.to_dict().items() if k not in ("resume",)},
        "optimizers": [o.state_dict() for o in tr.optimizers],
        "schedule": tr.schedule.state_dict(),
        "scaler": tr.scaler.state_dict() if tr.use_amp else {},
        "epoch": tr.epoch,
        "batch_in_epoch": tr.batch_in_epoch,
        "global_step": tr.global_step,
        "epoch_loss_sum": tr._epoch_loss_sum,
        "epoch_count": tr._epoch_count,
        "history": tr.history,
        "best_val_acc": tr.best_val_acc,
        "best_epoch": tr.best_epoch,
        "best_state_dict": tr._best_weights or {},
        "callbacks": tr.callbacks.state_dict(),
        "world_size": tr.dist.world_size,
        "run_id": tr.run_id,
        "rng_cpu": torch.get_rng_state(),
    }
    if tr.history and "val_acc" in tr.history[-1]:
        s["val_acc"] = tr.history[-1]["val_acc"]
    if tr.device.type == "cuda":
        s["rng_cuda"] = torch.cuda.get_rng_state(tr.device)
    s.update(tr.strategy.state())
    return s


def save(tr, path: str | Path) -> Path:
    """Self-describing checkpoint in the zoo's format (``ferapp.zoo.io``): model weights +
    config, and the training state in ``extra`` -- loadable by ``resolve_model`` / ``ferapp
    eval`` and resumable with ``TrainConfig.resume``."""
    from ferapp.zoo.io import save_checkpoint

    return save_checkpoint(path, tr.model, tr.cfg, trainer_state(tr))


def run_id_of(path: str | Path) -> str | None:
    """The run id a training checkpoint was written by (None: unreadable or not a training state)."""
    from ferapp.zoo.io import safe_torch_load

    try:
        s = (safe_torch_load(Path(path)) or {}).get("extra") or {}
    except Exception:
        return None
    return str(s.get("run_id") or "") if s.get("train_state") == STATE_FORMAT else None


def load_resumable(path: str | Path, arch: str, ctx=None) -> dict[str, Any]:
    """The checkpoint at ``path`` if it can resume a run of ``arch``; ValueError otherwise
    (missing, unreadable, not ferapp's format, no training state, another architecture).
    ``ferapp train --resume`` asks it before training, :func:`restore` when resuming; under DDP
    (``ctx``) rank 0 reads the file and every rank loads its bytes."""
    from ferapp.train import distributed
    from ferapp.zoo.errors import CheckpointError
    from ferapp.zoo.io import CKPT_FORMAT

    try:
        obj = distributed.torch_load(path, ctx or distributed.SINGLE)
    except FileNotFoundError:
        raise ValueError(f"resume checkpoint not found: {path}") from None
    except CheckpointError as e:  # "<path>: cannot be loaded as ... (why)"
        raise ValueError(f"cannot read checkpoint {e}") from None
    except Exception as e:
        raise ValueError(
            f"cannot read checkpoint {path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from e
    if not isinstance(obj, dict) or obj.get("format") != CKPT_FORMAT:
        raise ValueError(f"{path} is not a ferapp checkpoint")
    if (obj.get("extra") or {}).get("train_state") != STATE_FORMAT:
        raise ValueError(
            f"checkpoint {path} holds no training state (it cannot be resumed; "
            "use --init-from to fine-tune from it)"
        )
    if obj.get("arch") != arch:
        raise ValueError(f"checkpoint {path} is for {obj.get('arch')!r}, not {arch!r}")
    return obj


def restore(tr, path: str | Path) -> None:
    """Continue ``tr`` from a checkpoint of the same architecture and algorithm (ValueError otherwise)."""
    obj = load_resumable(path, tr.cfg.name, tr.dist)
    s = obj["extra"]
    tr.model.load_state_dict(obj["state_dict"])
    if len(s["optimizers"]) != len(tr.optimizers):
        raise ValueError("checkpoint optimizer layout differs from this run's algorithm")
    for o, os_ in zip(tr.optimizers, s["optimizers"], strict=True):
        o.load_state_dict(os_)
    tr.schedule.load_state_dict(s["schedule"])
    if tr.use_amp and s.get("scaler"):
        tr.scaler.load_state_dict(s["scaler"])
    tr.strategy.load_state(s)
    tr.epoch, tr.batch_in_epoch = int(s["epoch"]), int(s["batch_in_epoch"])
    tr.global_step = int(s["global_step"])
    tr._epoch_loss_sum, tr._epoch_count = float(s["epoch_loss_sum"]), int(s["epoch_count"])
    tr.history = list(s.get("history") or [])
    tr.best_val_acc, tr.best_epoch = s.get("best_val_acc"), s.get("best_epoch")
    tr._best_weights = dict(s.get("best_state_dict") or {}) or None
    tr.callbacks.load_state_dict(s.get("callbacks") or {})
    torch.set_rng_state(s["rng_cpu"])
    if tr.device.type == "cuda" and "rng_cuda" in s:
        torch.cuda.set_rng_state(s["rng_cuda"], tr.device)
