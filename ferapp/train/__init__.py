"""Training engine (Qt-free): Trainer with callbacks and cooperative cancel, the papers'
algorithms (HSIC bottleneck, BNN, center loss), evaluation, run orchestration and the
``train`` / ``eval`` commands."""

from ferapp.train.callbacks import (
    Callback,
    CallbackList,
    CheckpointCallback,
    EarlyStopping,
    EpochLine,
    ProgressBar,
)
from ferapp.train.trainer import FitResult, TrainConfig, Trainer

__all__ = [
    "Callback", "CallbackList", "CheckpointCallback", "EarlyStopping", "EpochLine", "ProgressBar",
    "FitResult", "TrainConfig", "Trainer",
]
