"""The training engine: one Trainer for all five papers, Qt-free.

Shape (nanoGPT / Lightning habits, ~no framework): a typed ``TrainConfig`` built from the
model's paper recipe plus overrides; one try/except funnel so a run ends exactly once as
``finished`` / ``cancelled`` / ``failed``; a ``threading.Event`` checked between batches
(cancelling mid-epoch writes ``last.pt`` with epoch/batch so ``resume`` continues from that
batch); self-describing checkpoints (model, optimizers, schedule, epoch, step, RNG);
CUDA + AMP when present, else CPU; scalars read from the device only every few steps.

Data: every image goes through ``ferapp.preprocess.preprocess_face`` (the same function live
inference uses) exactly once into a float tensor cache; augmentation then runs on tensors.
Shuffling and augmentation draw from generators seeded by (seed, epoch, batch), so a run is
reproducible and a resumed run sees the same batches as an uninterrupted one.

Under torchrun (``ferapp train --nproc N``) the same loop trains one model with N processes:
every rank builds the same global batch and trains on its slice, DDP averages the gradients,
BatchNorm uses the global batch's statistics (``ferapp.train.distributed`` says how and why);
with ``checkpoint_every`` a ``last.pt`` is also written every N steps, so an elastic restart
loses little work.
"""

from __future__ import annotations

import copy
import math
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ferapp.inference.device import cpu_has_bf16
from ferapp.train import algorithms as alg
from ferapp.train import checkpoint, distributed
from ferapp.train.augment import apply_augment, mix_batch, random_five_crop
from ferapp.train.callbacks import Callback, CallbackList
from ferapp.train.options import TrainConfig, validate
from ferapp.train.schedules import make_schedule
from ferapp.train.strategies import make_strategy
from ferapp.zoo.registry import get_recipe

STATE_FORMAT = checkpoint.STATE_FORMAT


@dataclass
class FitResult:
    outcome: str  # finished | cancelled | failed
    message: str = ""
    epochs_completed: int = 0
    global_step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_val_acc: float | None = None
    best_epoch: int | None = None
    last_checkpoint: str | None = None
    best_checkpoint: str | None = None
    wall_time_s: float = 0.0
    stop_reason: str = ""
    traceback: str = ""


@dataclass
class EncodedSet:
    """Preprocessed tensors of a dataset: x (N, C, H, W) float32, y (N,) int64."""

    x: torch.Tensor
    y: torch.Tensor
    label_names: tuple[str, ...] = ()
    t: torch.Tensor | None = None  # (N, K) float soft training targets, or None (one-hot of y)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, idx) -> EncodedSet:
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return EncodedSet(self.x[idx], self.y[idx], self.label_names, None if self.t is None else self.t[idx])


def encode_images(images: np.ndarray, cfg) -> torch.Tensor:
    """uint8 crops (N, H, W[, 3]) -> float32 (N, C, H, W) through the shared preprocess_face."""
    from ferapp.preprocess import preprocess_face

    if len(images) == 0:
        h, w = cfg.input_size
        return torch.zeros((0, cfg.channels, h, w))
    return torch.from_numpy(np.stack([preprocess_face(np.asarray(im), cfg) for im in images]))


def encode_dataset(ds, cfg) -> EncodedSet:
    if isinstance(ds, EncodedSet):
        return ds
    return EncodedSet(
        encode_images(ds.images, cfg),
        torch.as_tensor(np.asarray(ds.labels), dtype=torch.long),
        tuple(ds.label_names),
    )


def torch_device(name: str) -> torch.device:
    """The torch.device for a device setting ("auto", "cpu", "cuda:1"): the one rule is
    ``ferapp.inference.device.resolve_device`` (a device name); training wants the object."""
    from ferapp.inference.device import resolve_device

    return torch.device(resolve_device(name))


def _mix_seed(*parts: int) -> int:
    s = 1469598103934665603
    for p in parts:
        s = ((s ^ (int(p) & 0xFFFFFFFF)) * 1099511628211) % (1 << 63)
    return s


class Cancelled(Exception):
    pass


class Trainer:
    """``Trainer(model, cfg, tcfg, callbacks, cancel).fit(train, val) -> FitResult``.

    ``manage_run=False`` leaves on_run_start/on_run_end to an outer orchestrator
    (``run_training`` calls them once around all folds)."""

    def __init__(
        self,
        model: nn.Module,
        cfg=None,
        tcfg: TrainConfig | None = None,
        callbacks: list[Callback] | CallbackList | None = None,
        cancel: threading.Event | None = None,
        manage_run: bool = True,
    ):
        self.model = model
        self.cfg = cfg if cfg is not None else model.cfg
        self.tcfg = tcfg if tcfg is not None else TrainConfig.from_recipe(get_recipe(self.cfg.name))
        self.callbacks = callbacks if isinstance(callbacks, CallbackList) else CallbackList(callbacks or [])
        self.cancel = cancel if cancel is not None else threading.Event()
        self.manage_run = manage_run
        self.should_stop = False
        self.stop_reason = ""
        self.epoch = 0  # next epoch to run (0-based)
        self.batch_in_epoch = 0  # next batch inside self.epoch
        self.global_step = 0
        self.history: list[dict[str, float]] = []
        self.best_val_acc: float | None = None
        self.best_epoch: int | None = None
        self.best_state_path: Path | None = None
        self._best_weights: dict[str, torch.Tensor] | None = None
        self._epoch_loss_sum = 0.0
        self._epoch_count = 0
        self.device = torch.device("cpu")
        self.dist = distributed.SINGLE
        self.run_id = distributed.run_id()  # saved in checkpoints: an elastic restart resumes only its own

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        t = self.tcfg
        if t.num_threads:
            torch.set_num_threads(int(t.num_threads))
        validate(t.to_dict(), what="training option")  # also a TrainConfig built or edited by hand
        self.dist = distributed.context()
        why = distributed.refusal(t.algorithm, self.dist.world_size)
        if why:
            raise ValueError(why)
        if self.uses_soft_targets(t) and (t.loss != "ce" or t.algorithm != "backprop"):
            raise ValueError(
                "soft targets, distillation, label smoothing, mixup and cutmix need loss 'ce' "
                f"with backprop (this run: loss {t.loss!r}, algorithm {t.algorithm!r})"
            )
        self.device = torch_device(t.device)
        if self.device.type == "mps":  # an operation Apple MPS lacks: train on the CPU, with a message
            from ferapp.inference.device import training_device

            self.device = torch.device(
                training_device(self.model, (self.cfg.channels, *self.cfg.net_input_size), "mps")[0]
            )
        self.use_amp = bool(t.amp and self.device.type == "cuda" and t.algorithm != "hsic")
        self.cpu_bf16 = bool(
            t.cpu_bf16 and self.device.type == "cpu" and t.algorithm != "hsic" and cpu_has_bf16()
        )
        torch.manual_seed(t.seed)
        if self.dist.sharded:
            distributed.convert_batchnorm(self.model)  # BN statistics of the global batch
        if self.cpu_bf16:  # once, and before DDP registers the parameters; batches follow in step()
            self.model.to(memory_format=torch.channels_last)
        self.model.to(self.device)
        self.num_classes = self.cfg.num_classes
        self.strategy = make_strategy(self)
        if self.dist.active and self.strategy.name != "hsic":
            self.strategy.distribute(lambda m: distributed.wrap(m, self.dist))
        self.optimizers = self.strategy.optimizers
        self.schedule = make_schedule(t, self.optimizers)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        if t.resume:
            self.load_state(t.resume)

    @staticmethod
    def uses_soft_targets(t: TrainConfig) -> bool:
        return bool(t.soft_targets or t.distill_from or t.label_smoothing > 0 or t.mixup > 0 or t.cutmix > 0)

    # ------------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        """The training state saved in a checkpoint's ``extra`` (``ferapp.train.checkpoint``)."""
        return checkpoint.trainer_state(self)

    def save_state(self, path: str | Path) -> Path:
        """Self-describing checkpoint (model + config + training state), resumable with ``resume``."""
        return checkpoint.save(self, path)

    def load_state(self, path: str | Path) -> None:
        checkpoint.restore(self, path)

    # ------------------------------------------------------------------ steps
    def _net_input(self, xb: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Training view of a batch: augmentation, then P5's five-crop (random or all five)."""
        xb = apply_augment(xb, self.tcfg.augment, g)
        fc = self.cfg.five_crop
        if fc:
            if self.tcfg.five_crop == "all":
                from ferapp.preprocess import five_crops

                xb = five_crops(xb, fc).flatten(0, 1)
            else:
                xb = random_five_crop(xb, fc, g)
        return xb

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """Raw outputs (N, C) for preprocessed tensors, five-crop averaged when the cfg says so
        (the same ``logits_from_input`` as live inference and ``ferapp eval``)."""
        from ferapp.zoo.predict import logits_from_input

        if self.dist.sharded:  # each rank predicts its slice; every rank gets all rows
            lo, hi = distributed.shard_bounds(len(x), self.dist.rank, self.dist.world_size)
            d, self.dist = self.dist, distributed.SINGLE
            try:
                part = self.predict(x[lo:hi], batch)
            finally:
                self.dist = d
            return distributed.gather_rows(part, len(x), d)
        self.model.eval()
        outs = []
        for i in range(0, len(x), batch):
            xb = x[i : i + batch].to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, enabled=self.use_amp):
                o = logits_from_input(self.model, xb, self.cfg).float()
            outs.append(o)
        return torch.cat(outs) if outs else torch.zeros(0, self.num_classes, device=self.device)

    def _validate(self, val: EncodedSet) -> dict[str, float]:
        out = self.predict(val.x)
        y = val.y.to(out.device)
        loss = alg.classification_loss(self.tcfg.loss if self.tcfg.loss == "squared_hinge" else "ce", out, y)
        return {"val_loss": float(loss), "val_acc": float((out.argmax(1) == y).float().mean())}

    # -------------------------------------------------------------------- fit
    def fit(self, train, val=None) -> FitResult:
        t0 = time.perf_counter()
        self.callbacks.set_trainer(self)
        outcome, message, tb = "finished", "", ""
        last_ckpt: Path | None = None
        try:
            if self.manage_run:
                self.callbacks.on_run_start({"arch": self.cfg.name, "tcfg": self.tcfg.to_dict()})
            self._setup()
            tr = encode_dataset(train, self.cfg)
            va = encode_dataset(val, self.cfg) if val is not None and len(val) > 0 else None
            if len(tr) < 2:
                raise ValueError(f"training set has {len(tr)} samples; need at least 2")
            self._loop(tr, va)
        except Cancelled:
            outcome = "cancelled"
            last_ckpt = self._save_last()
        except KeyboardInterrupt:
            outcome = "cancelled"
            # under DDP the interrupt may have come mid-step (mid-collective): that state is not saved
            last_ckpt = None if self.dist.active else self._save_last()
        except Exception as e:  # the one funnel: every error ends the run as failed
            outcome, message, tb = "failed", f"{type(e).__name__}: {e}", traceback.format_exc()
        if outcome == "finished":
            if self._best_weights is not None and self.tcfg.restore_best:
                self.model.load_state_dict(self._best_weights)
            if self.tcfg.out_dir and self.dist.is_main:
                last_ckpt = Path(self.tcfg.out_dir) / "last.pt"
                last_ckpt = last_ckpt if last_ckpt.exists() else self._save_last()
        if self.dist.sharded:
            distributed.revert_batchnorm(self.model)
        if outcome == "cancelled":
            message = "cancelled by user" + (f" (checkpoint {last_ckpt})" if last_ckpt else "")
        result = FitResult(
            outcome=outcome,
            message=message,
            epochs_completed=self.epoch,
            global_step=self.global_step,
            history=list(self.history),
            best_val_acc=self.best_val_acc,
            best_epoch=self.best_epoch,
            last_checkpoint=str(last_ckpt) if last_ckpt else None,
            best_checkpoint=str(self.best_state_path) if self.best_state_path else None,
            wall_time_s=time.perf_counter() - t0,
            stop_reason=self.stop_reason,
            traceback=tb,
        )
        if self.manage_run:
            self.callbacks.on_run_end(result)
        return result

    def _save_last(self) -> Path | None:
        if not self.tcfg.out_dir or not self.dist.is_main:  # rank 0 alone writes
            return None
        try:
            return self.save_state(Path(self.tcfg.out_dir) / "last.pt")
        except Exception:
            return None

    def _sharded_step(
        self, xb: torch.Tensor, yb: torch.Tensor, m: int, phase: str, epoch: int, b: int
    ) -> torch.Tensor:
        """This rank's slice of a global batch of ``m`` samples (``xb`` may hold several rows per
        sample: P5's five crops). Returns this rank's share of the global batch's mean loss."""
        ctx = self.dist
        lo, hi = distributed.shard_bounds(m, ctx.rank, ctx.world_size)
        k = xb.shape[0] // m
        share = (hi - lo) / m
        torch.manual_seed(_mix_seed(self.tcfg.seed, epoch, b, ctx.rank, 29))  # dropout masks of this slice
        loss = self.strategy.step(xb[lo * k : hi * k], yb[lo * k : hi * k], phase, ctx.world_size * share)
        return loss * share if hi > lo else torch.zeros_like(loss)

    def _loop(self, tr: EncodedSet, va: EncodedSet | None) -> None:
        t = self.tcfg
        n = len(tr)
        x_all = (
            tr.x.to(self.device) if self.device.type != "cpu" else tr.x
        )  # the whole set on the GPU (CUDA, MPS)
        y_all = self._targets(tr, x_all.device)
        nb = self._batches_per_epoch(n)
        while self.epoch < t.epochs:
            if self.should_stop or self.schedule.should_stop:
                self.stop_reason = self.stop_reason or "lr schedule reached min_lr"
                break
            epoch = self.epoch
            phase = self.strategy.phase(epoch)
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(_mix_seed(t.seed, epoch))).to(
                x_all.device
            )
            self.callbacks.on_epoch_start(epoch, t.epochs, nb)
            self.model.train()
            self.strategy.begin_epoch(phase)
            t_epoch = time.perf_counter()
            self._train_batches(x_all, y_all, perm, nb, phase, epoch)
            self.strategy.end_epoch(phase)
            metrics = self._epoch_metrics(va, phase, epoch)
            metrics["epoch_time_s"] = time.perf_counter() - t_epoch
            self._step_schedule(phase, epoch, metrics)
            self.epoch = epoch + 1
            self.batch_in_epoch = 0
            self._epoch_loss_sum, self._epoch_count = 0.0, 0
            self.history.append(dict(metrics))
            self.callbacks.on_epoch_end(epoch, metrics)
        if self.schedule.should_stop and not self.stop_reason:
            self.stop_reason = "lr schedule reached min_lr"

    def _targets(self, tr: EncodedSet, device: torch.device) -> torch.Tensor:
        """Class indices, or (soft targets) one row of probabilities per sample, label-smoothed."""
        t = self.tcfg
        if not self.uses_soft_targets(t):
            return tr.y.to(device)
        tt = tr.t if tr.t is not None else torch.nn.functional.one_hot(tr.y, self.num_classes).float()
        if t.label_smoothing > 0:
            tt = tt * (1.0 - t.label_smoothing) + t.label_smoothing / tt.shape[1]
        return tt.to(device)

    def _batches_per_epoch(self, n: int) -> int:
        t = self.tcfg
        nb = math.ceil(n / t.batch_size)
        if n % t.batch_size == 1 and nb > 1:
            nb -= 1  # a batch of one breaks BatchNorm / HSIC; drop it
        if t.max_batches_per_epoch:
            nb = min(nb, int(t.max_batches_per_epoch))
        return nb

    def _train_batches(
        self, x_all: torch.Tensor, y_all: torch.Tensor, perm: torch.Tensor, nb: int, phase: str, epoch: int
    ) -> None:
        """One epoch's batches from ``self.batch_in_epoch`` on (a resumed epoch continues)."""
        t, ctx, bs = self.tcfg, self.dist, self.tcfg.batch_size
        on_cuda = self.device.type != "cpu"  # an accelerator: read the loss back only every log_every steps
        every = int(t.checkpoint_every or 0)
        loss_acc = None
        last_read: float | None = None
        for b in range(self.batch_in_epoch, nb):
            if not ctx.active and self.cancel.is_set():  # under DDP the ranks agree on stopping below
                raise Cancelled()
            idx = perm[b * bs : (b + 1) * bs]
            loss = self._train_batch(x_all[idx], y_all[idx], phase, epoch, b)
            loss_acc = loss if loss_acc is None else loss_acc + loss
            self.global_step += 1
            self.batch_in_epoch = b + 1
            stop = False
            if (
                not on_cuda
                or self.global_step % t.log_every == 0
                or b == nb - 1
                or (every and self.global_step % every == 0)
            ):
                stop, last_read = self._read_loss(loss_acc, loss)
                loss_acc = None
            self.callbacks.on_batch_end(self.global_step, last_read)
            if stop:
                raise Cancelled()

    def _train_batch(self, x: torch.Tensor, y: torch.Tensor, phase: str, epoch: int, b: int) -> torch.Tensor:
        """Augment, mix and step one batch; returns its loss (a tensor: no device sync)."""
        t = self.tcfg
        g = torch.Generator().manual_seed(_mix_seed(t.seed, epoch, b, 17))
        xb, yb = self._net_input(x, g), y
        if self.uses_soft_targets(t) and (t.mixup > 0 or t.cutmix > 0):
            xb, yb = mix_batch(xb, yb, g, t.mixup, t.cutmix)
        if self.cfg.five_crop and t.five_crop == "all":
            yb = yb.repeat_interleave(5, dim=0)
        if self.dist.sharded:
            return self._sharded_step(xb, yb, len(x), phase, epoch, b)
        return self.strategy.step(xb, yb, phase)

    def _read_loss(self, loss_acc: torch.Tensor, loss: torch.Tensor) -> tuple[bool, float]:
        """Add the losses since the last read to the epoch's sum; returns (any rank asked to
        stop, the last batch's loss)."""
        ctx = self.dist
        stop = False
        if ctx.active:  # the global batches' loss, and whether any rank was asked to stop
            s, last_read, flag = distributed.sum_across(
                torch.stack(
                    [
                        loss_acc.float().reshape(()),
                        loss.float().reshape(()),
                        torch.tensor(float(self.cancel.is_set()), device=loss.device),
                    ]
                ),
                ctx,
            )
            stop = flag > 0
        else:
            s = float(loss_acc)  # the only device->host sync
            last_read = float(loss)
        self._epoch_loss_sum += s
        self._epoch_count = self.batch_in_epoch
        return stop, last_read

    def _epoch_metrics(self, va: EncodedSet | None, phase: str, epoch: int) -> dict[str, float]:
        """Train loss and lr of the epoch, and validation (keeping the best weights) if due."""
        metrics: dict[str, float] = {
            "train_loss": self._epoch_loss_sum / max(1, self._epoch_count),
            "lr": self.strategy.lr(phase),
        }
        if phase != "train":
            metrics["phase"] = phase  # type: ignore[assignment]
        if va is not None and self.strategy.validates(phase):
            metrics.update(self._validate(va))
            if self.best_val_acc is None or metrics["val_acc"] > self.best_val_acc:
                self.best_val_acc, self.best_epoch = metrics["val_acc"], epoch
                self._best_weights = copy.deepcopy(
                    {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
                )
        return metrics

    def _step_schedule(self, phase: str, epoch: int, metrics: dict[str, float]) -> None:
        if not self.strategy.schedules(phase):
            return
        t = self.tcfg
        if "val_acc" not in metrics:
            watched = metrics["train_loss"]
        elif t.plateau_metric == "val_error":
            watched = 1.0 - metrics["val_acc"]
        else:
            watched = metrics["val_loss"]
        self.schedule.step(epoch, watched)
