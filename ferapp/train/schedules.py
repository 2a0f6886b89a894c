"""Learning-rate schedules stepped once per epoch, all with state_dict for resume.

``plateau10`` is P1's rule: divide the lr by 10 each time the validation error stops
falling (for ``plateau_patience`` epochs, default 3; the watched value is the validation loss
by default, see ``TrainConfig.plateau_metric``); training stops once the lr has reached ``min_lr`` and the error stops falling again
(our reading of "stop when it reaches 0.00005": the final lr is used, then training ends).
"""

from __future__ import annotations

import math


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


class Cosine(Schedule):
    def __init__(self, optimizers, base_lr, epochs: int, min_lr: float = 0.0):
        super().__init__(optimizers, base_lr)
        self.epochs, self.min_lr = max(1, epochs), min_lr

    def step(self, epoch, metric):
        t = min(epoch + 1, self.epochs) / self.epochs
        self._set(self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * t)))


class Step(Schedule):
    def __init__(self, optimizers, base_lr, step_size: int, gamma: float = 0.1):
        super().__init__(optimizers, base_lr)
        self.step_size, self.gamma = max(1, step_size), gamma

    def step(self, epoch, metric):
        self._set(self.base_lr * self.gamma ** ((epoch + 1) // self.step_size))


class Plateau10(Schedule):
    """Minimises ``metric`` (validation error): after ``patience`` epochs without an improvement
    larger than ``threshold``, lr /= factor; stop when that would go below ``min_lr``."""

    def __init__(self, optimizers, base_lr, min_lr: float = 5e-5, patience: int = 1, factor: float = 10.0,
                 threshold: float = 1e-4):
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


def make_schedule(name: str, optimizers, base_lr: float, epochs: int, min_lr: float = 0.0, extra=None) -> Schedule:
    extra = extra or {}
    if name == "cosine":
        return Cosine(optimizers, base_lr, epochs, min_lr)
    if name == "plateau10":
        return Plateau10(optimizers, base_lr, min_lr=min_lr or 5e-5, patience=int(extra.get("plateau_patience", 3)))
    if name == "step":
        return Step(optimizers, base_lr, int(extra.get("step_size", max(1, epochs // 3))), float(extra.get("gamma", 0.1)))
    if name == "constant":
        return Constant(optimizers, base_lr)
    raise ValueError(f"unknown schedule {name!r} (cosine, plateau10, step, constant)")
