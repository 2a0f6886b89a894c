"""Training engine (Qt-free): Trainer with callbacks and cooperative cancel, the papers'
algorithms as strategies (HSIC bottleneck, BNN, center loss), the training-option schema,
evaluation, run orchestration and the ``train`` / ``eval`` commands.

Names are imported lazily so that ``ferapp.train.options`` (the CLI's flags) loads no torch."""

from __future__ import annotations

import importlib

_NAMES = {
    "Callback": "callbacks",
    "CallbackList": "callbacks",
    "CheckpointCallback": "callbacks",
    "EpochLine": "callbacks",
    "ProgressBar": "callbacks",
    "FitResult": "trainer",
    "Trainer": "trainer",
    "TrainConfig": "options",
}
__all__ = list(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"ferapp.train.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'ferapp.train' has no attribute {name!r}")
