"""Learning-rate schedules stepped once per epoch, all with state_dict for resume.

``plateau10`` is P1's rule: divide the lr by 10 each time the validation error stops
falling (for ``plateau_patience`` epochs, default 3; the watched value is the validation loss
by default, see ``TrainConfig.plateau_metric``); training stops once the lr has reached ``min_lr`` and the error stops falling again
(our reading of "stop when it reaches 0.00005": the final lr is used, then training ends).
"""

from __future__ import annotations

import math

import torch


class Schedule:
    def __init__(self, optimizers, base_lr: float):
        self.optimizers = list(optimizers)
        self.base_lr = base_lr
        self.lr = base_lr
        self.should_stop = False

    def _set(self, lr: float) -> None:
        self.lr = lr
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)  # per-group multiplier (BNN latent weights)

    def step(self, epoch: int, metric: float | None) -> None:  # called after epoch `epoch` (0-based)
        pass

    def state_dict(self) -> dict:
        return {"lr": self.lr, "should_stop": self.should_stop}

    def load_state_dict(self, s: dict) -> None:
        self.should_stop = bool(s.get("should_stop", False))
        self._set(float(s["lr"]))


class Constant(Schedule):
    pass


class _TorchSchedule(Schedule):
    """A torch ``LRScheduler`` per optimizer (torch keeps each param group's ``lr_scale`` ratio,
    since it scales every group's initial lr); ``factor(k)`` is the lr multiplier after k epochs."""

    def __init__(self, optimizers, base_lr):
        super().__init__(optimizers, base_lr)
        self.k = 0
        self.scheds = [self._make(o) for o in self.optimizers]

    def _make(self, opt):
        return torch.optim.lr_scheduler.LambdaLR(opt, self.factor)

    def factor(self, k: int) -> float:
        raise NotImplementedError

    def step(self, epoch, metric):
        for s in self.scheds:
            s.step()
        self.k = epoch + 1
        self.lr = self.base_lr * self.factor(self.k)

    def state_dict(self):
        return {**super().state_dict(), "k": self.k, "torch": [s.state_dict() for s in self.scheds]}

    def load_state_dict(self, s):
        if "torch" not in s:  # a checkpoint from before the torch schedulers: restore the lr only
            return super().load_state_dict(s)
        self.should_stop = bool(s.get("should_stop", False))
        self.k = int(s["k"])
        for sch, st in zip(self.scheds, s["torch"], strict=True):
            sch.load_state_dict(st)
        self.lr = float(s["lr"])


class Cosine(_TorchSchedule):
    """Cosine from lr to ``min_lr`` over ``epochs`` (torch ``LambdaLR``: unlike
    ``CosineAnnealingLR``, the floor of a scaled param group is scaled too)."""

    def __init__(self, optimizers, base_lr, epochs: int, min_lr: float = 0.0):
        self.epochs, self.min_lr = max(1, epochs), min_lr
        super().__init__(optimizers, base_lr)

    def factor(self, k):
        if self.base_lr <= 0:
            return 1.0
        t = min(k, self.epochs) / self.epochs
        return (self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * t))) / self.base_lr


class Step(_TorchSchedule):
    """lr x ``gamma`` every ``step_size`` epochs (torch ``StepLR``)."""

    def __init__(self, optimizers, base_lr, step_size: int, gamma: float = 0.1):
        self.step_size, self.gamma = max(1, step_size), gamma
        super().__init__(optimizers, base_lr)

    def _make(self, opt):
        return torch.optim.lr_scheduler.StepLR(opt, self.step_size, self.gamma)

    def factor(self, k):
        return self.gamma ** (k // self.step_size)


class Plateau10(Schedule):
    """(Hand-written: torch's ``ReduceLROnPlateau`` clamps at ``min_lr`` instead of ending the
    run there, which is P1's rule.) Minimises ``metric`` (validation error): after ``patience`` epochs without an improvement
    larger than ``threshold``, lr /= factor; stop when that would go below ``min_lr``."""

    def __init__(
        self,
        optimizers,
        base_lr,
        min_lr: float = 5e-5,
        patience: int = 1,
        factor: float = 10.0,
        threshold: float = 1e-4,
    ):
        super().__init__(optimizers, base_lr)
        self.min_lr, self.patience, self.factor, self.threshold = min_lr, max(1, patience), factor, threshold
        self.best = math.inf
        self.bad = 0
        self.reductions = 0

    def step(self, epoch, metric):
        if metric is None:
            return
        if metric < self.best - self.threshold:
            self.best, self.bad = metric, 0
            return
        self.bad += 1
        if self.bad < self.patience:
            return
        self.bad = 0
        new = self.lr / self.factor
        if new < self.min_lr * (1 - 1e-6):
            self.should_stop = True
        else:
            self.reductions += 1
            self._set(new)

    def state_dict(self):
        return {**super().state_dict(), "best": self.best, "bad": self.bad, "reductions": self.reductions}

    def load_state_dict(self, s):
        super().load_state_dict(s)
        self.best, self.bad, self.reductions = float(s["best"]), int(s["bad"]), int(s["reductions"])


def make_schedule(t, optimizers) -> Schedule:
    """The schedule of a ``TrainConfig`` ``t`` (schedule, lr, epochs, min_lr, plateau_patience, step_size, gamma)."""
    name, base_lr = t.schedule, t.lr
    if name == "cosine":
        return Cosine(optimizers, base_lr, t.epochs, t.min_lr)
    if name == "plateau10":
        return Plateau10(optimizers, base_lr, min_lr=t.min_lr or 5e-5, patience=t.plateau_patience)
    if name == "step":
        return Step(optimizers, base_lr, t.step_size or max(1, t.epochs // 3), t.gamma)
    if name == "constant":
        return Constant(optimizers, base_lr)
    raise ValueError(f"unknown schedule {name!r} (cosine, plateau10, step, constant)")
