"""Callbacks: a base class with no-op hooks and one dispatcher (Lightning-style, no Lightning).

Hooks are plain method calls made from the training thread; a GUI bridges them to Qt
signals itself. ``self.trainer`` is set by the dispatcher before ``on_run_start`` so a
callback can ask the trainer to stop (``trainer.should_stop = True``) or write a checkpoint
(``trainer.save_state(path)``).

Order of calls for one run: on_run_start -> per fold [on_fold_start -> per epoch
[on_epoch_start -> on_batch_end* -> on_epoch_end] -> on_fold_end] -> on_run_end (exactly once).
A plain ``Trainer.fit`` is one fold; ``run_training`` adds the fold hooks around it.

A callback that keeps state across epochs (the best score so far, epochs without improvement)
returns it from ``state_dict()``; the trainer saves it in every checkpoint and hands it back
through ``load_state_dict()`` on resume (Lightning's habit), so a resumed run continues from
the true best instead of a fresh -inf.

Under torchrun every rank calls its callbacks with the same (all-reduced) metrics; the CLI
gives progress bars and epoch lines to rank 0 only and ``run_training`` gives the checkpoint
writer to rank 0 only.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any


class Callback:
    """Base class: override the hooks you need; every hook is a no-op here."""

    trainer: Any = None

    def on_run_start(self, info: dict[str, Any]) -> None: ...

    def on_fold_start(self, fold: str, index: int, total: int) -> None: ...

    def on_epoch_start(self, epoch: int, total_epochs: int, num_batches: int) -> None: ...

    def on_batch_end(self, step: int, loss: float | None) -> None: ...

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None: ...

    def on_fold_end(self, fold: str, result: Any) -> None: ...

    def on_run_end(self, outcome: Any) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must carry for this callback (plain types); {} when nothing."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class CallbackList(Callback):
    """The one dispatcher: forwards every hook to each callback in order."""

    def __init__(self, callbacks=()):
        self.callbacks: list[Callback] = [c for c in (callbacks or ()) if c is not None]

    def set_trainer(self, trainer: Any) -> None:
        self.trainer = trainer
        for c in self.callbacks:
            c.trainer = trainer

    def _call(self, name: str, *args: Any) -> None:
        for c in self.callbacks:
            getattr(c, name)(*args)

    def on_run_start(self, info):
        self._call("on_run_start", info)

    def on_fold_start(self, fold, index, total):
        self._call("on_fold_start", fold, index, total)

    def on_epoch_start(self, epoch, total_epochs, num_batches):
        self._call("on_epoch_start", epoch, total_epochs, num_batches)

    def on_batch_end(self, step, loss):
        self._call("on_batch_end", step, loss)

    def on_epoch_end(self, epoch, metrics):
        self._call("on_epoch_end", epoch, metrics)

    def on_fold_end(self, fold, result):
        self._call("on_fold_end", fold, result)

    def on_run_end(self, outcome):
        self._call("on_run_end", outcome)

    def _keys(self) -> list[str]:
        seen: dict[str, int] = {}
        keys = []
        for c in self.callbacks:
            name = type(c).__name__
            seen[name] = seen.get(name, 0) + 1
            keys.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
        return keys

    def state_dict(self) -> dict[str, Any]:
        out = {}
        for key, c in zip(self._keys(), self.callbacks, strict=True):
            st = c.state_dict()
            if st:
                out[key] = st
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, c in zip(self._keys(), self.callbacks, strict=True):
            if key in (state or {}):
                c.load_state_dict(state[key])


class ProgressBar(Callback):
    """A tqdm bar per epoch (batches), with the running loss as postfix."""

    def __init__(self, file=None, leave: bool = False):
        self.file = file if file is not None else sys.stderr
        self.leave = leave
        self._bar = None

    def on_epoch_start(self, epoch, total_epochs, num_batches):
        from tqdm import tqdm

        self._close()
        self._bar = tqdm(
            total=num_batches,
            desc=f"epoch {epoch + 1}/{total_epochs}",
            file=self.file,
            leave=self.leave,
            dynamic_ncols=True,
            unit="batch",
        )

    def on_batch_end(self, step, loss):
        if self._bar is not None:
            self._bar.update(1)
            if loss is not None:
                self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_epoch_end(self, epoch, metrics):
        self._close()

    def on_run_end(self, outcome):
        self._close()

    def _close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def format_metrics(metrics: dict[str, float]) -> str:
    parts = []
    for k, v in metrics.items():
        if isinstance(v, float):
            parts.append(f"{k}={v:.3g}" if k == "lr" else f"{k}={v:.4f}")
        else:
            parts.append(f"{k}={v}")
    return " ".join(parts)


class EpochLine(Callback):
    """Prints one line per epoch: ``[fold] epoch 3/30 train_loss=... val_acc=... lr=...``."""

    def __init__(self, file=None, prefix: str = ""):
        self.file = file if file is not None else sys.stdout
        self.prefix = prefix
        self._fold = ""
        self._total = 0

    def on_fold_start(self, fold, index, total):
        self._fold = f"[{fold} {index + 1}/{total}] "

    def on_epoch_start(self, epoch, total_epochs, num_batches):
        self._total = total_epochs

    def on_epoch_end(self, epoch, metrics):
        print(
            f"{self.prefix}{self._fold}epoch {epoch + 1}/{self._total} {format_metrics(metrics)}",
            file=self.file,
            flush=True,
        )


class CheckpointCallback(Callback):
    """Writes ``last.pt`` every epoch (and every ``every`` steps, mid-epoch, when set) and
    ``best.pt`` whenever the monitored metric improves.

    The checkpoints are the trainer's full state (model, optimizers, scheduler, epoch, step,
    RNG, best weights), so either one can be passed as ``resume``. The best score and path are
    part of that state: after a resume ``best.pt`` is replaced only by a better epoch.
    """

    def __init__(self, directory: str | Path, monitor: str = "val_acc", mode: str = "max", every: int = 0):
        self.dir = Path(directory)
        self.monitor = monitor
        self.mode = mode
        self.every = int(every or 0)
        self.best = -math.inf if mode == "max" else math.inf
        self.best_path: Path | None = None

    def _better(self, v: float) -> bool:
        return v > self.best if self.mode == "max" else v < self.best

    def state_dict(self):
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "best": float(self.best),
            "best_path": str(self.best_path) if self.best_path else "",
        }

    def load_state_dict(self, state):
        if state.get("monitor") != self.monitor or state.get("mode") != self.mode:
            return
        self.best = float(state["best"])
        self.best_path = Path(state["best_path"]) if state.get("best_path") else None
        if self.best_path is not None and self.trainer is not None:
            self.trainer.best_state_path = self.best_path

    def on_batch_end(self, step, loss):
        if self.every and step % self.every == 0:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.trainer.save_state(self.dir / "last.pt")

    def on_epoch_end(self, epoch, metrics):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.trainer.save_state(self.dir / "last.pt")
        v = metrics.get(self.monitor)
        if v is None:  # no validation this epoch (no val set, or P3's HSIC phase): last.pt only
            return
        if self._better(v):
            self.best = v
            self.best_path = self.trainer.save_state(self.dir / "best.pt")
            self.trainer.best_state_path = self.best_path
