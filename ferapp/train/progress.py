"""A training run as a UI follows it (Qt-free): progress and ETA, what it kept, what to do next.

:class:`RunProgress` is fed the engine's callbacks (fold / epoch starts, the batch count) and
gives the share done, the estimated time left and the status line of the training wizard.
``checkpoints_of`` lists the checkpoints a run left on disk, ``training_hint`` says what to do
after a failure, ``format_eta`` prints seconds as ``m:ss`` / ``h:mm:ss``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path


def format_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class RunProgress:
    """Where a run is, from its callbacks. ``fold_index`` and ``epoch`` count from 0; the time
    base is whatever clock the caller passes as ``now`` (``time.monotonic()`` in the wizard).

    The total is folds x epochs x batches per epoch of the epoch running now (the later folds
    are assumed to be like it); the ETA extrapolates the mean time per batch so far.
    """

    fold: str = ""
    fold_index: int = 0
    folds: int = 1
    epoch: int = 0
    epochs: int = 1
    batches_per_epoch: int = 1
    t0: float | None = None
    last_loss: float = math.nan

    def fold_started(self, fold: str, index: int, total: int) -> None:
        self.fold, self.fold_index, self.folds = fold, index, total

    def epoch_started(self, epoch: int, total: int, num_batches: int) -> None:
        self.epoch, self.epochs, self.batches_per_epoch = epoch, total, num_batches

    def total_batches(self) -> int:
        return max(1, self.folds * self.epochs * self.batches_per_epoch)

    def permille(self, done: int) -> int:
        """Share done in 1/1000 (a progress bar's value), never above 1000."""
        return int(1000 * done / max(self.total_batches(), done))

    def eta_s(self, done: int, now: float) -> float | None:
        """Seconds left at the mean pace so far; None before the first batch."""
        if not done:
            return None
        total = max(self.total_batches(), done)
        elapsed = now - (self.t0 if self.t0 is not None else now)
        return elapsed / done * (total - done)

    def status(self, done: int, now: float) -> str:
        """ "Fold 1/3 (f) · epoch 2/5 · 40/300 batches · loss 1.234 · ETA 0:42"."""
        total = max(self.total_batches(), done)
        loss = f" · loss {self.last_loss:.3f}" if math.isfinite(self.last_loss) else ""
        return (
            f"Fold {self.fold_index + 1}/{self.folds} ({self.fold}) · epoch {self.epoch + 1}/{self.epochs} · "
            f"{done}/{total} batches{loss} · ETA {format_eta(self.eta_s(done, now))}"
        )


def checkpoints_of(result) -> list[str]:
    """Every checkpoint a run left on disk (per fold last.pt / best.pt), existing files only."""
    seen: list[str] = []
    for f in getattr(result, "folds", None) or []:
        for p in (f.fit.last_checkpoint, f.fit.best_checkpoint):
            if p and Path(p).is_file() and p not in seen:
                seen.append(p)
    out = getattr(result, "out_dir", None)
    if out and Path(out).is_dir():
        for p in sorted(Path(out).glob("fold*/*.pt")):
            if str(p) not in seen:
                seen.append(str(p))
    return seen


def training_hint(message: str) -> str:
    """What to do after a failed run, from the error text."""
    m = message.lower()
    if "out of memory" in m or "outofmemory" in m or "cannot allocate" in m:
        return (
            "The device ran out of memory: lower the batch size, choose a smaller model, "
            "or train on the CPU; then go Back and start again."
        )
    if "subject" in m and ("fold" in m or "protocol" in m):
        return "This protocol needs subject ids: choose kfold-5 or official on the previous page."
    if "no images" in m or "need at least" in m or "samples" in m:
        return "A fold has too few images for this protocol: choose fewer folds or a larger dataset."
    if "cuda" in m:
        return "CUDA failed: choose the CPU as device on the previous page and start again."
    return "Go Back to change the settings and start again; the checkpoints listed below are kept."
