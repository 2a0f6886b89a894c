"""Where an accuracy was measured, in a few words: "FER2013 PrivateTest", "CK+48 subject 5-fold".

Figures measured on different data or protocols are different scales (69.5 % on FER2013's
PrivateTest and 84.1 % over CK+48's folds say nothing about each other), so every list that
shows a trained model's accuracy — the GUI's model dropdown, ``ferapp models`` — names the
scale beside the number, from the model's own metadata (``config.json`` ``meta``). Qt-free,
and light: ``ferapp.data`` (image readers) is imported only to name a non-FER2013 protocol.
"""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any

DATASET_NAMES = {
    "fer2013-csv": "FER2013",
    "ckplus48": "CK+48",
    "ckplus": "CK+",
    "jaffe": "JAFFE",
    "kdef": "KDEF",
    "oulu": "Oulu-CASIA",
}


def dataset_name(fmt: str | None, path: str | None = None) -> str:
    """A dataset's short name: the format's ("CK+48"), or the folder / archive name for
    generic image folders; "" when neither is known."""
    if fmt in DATASET_NAMES:
        return DATASET_NAMES[fmt]
    if path:
        name = PurePath(str(path).split("!")[0]).name
        return name[:-4] if name.lower().endswith(".zip") else name
    return ""


def protocol_name(name: str | None, dataset: str = "") -> str:
    """ "5-fold", "subject 5-fold", "20% hold-out", "PrivateTest" (FER2013's official test set)."""
    if not name:
        return ""
    try:
        from ferapp.data.protocols import get_protocol

        p = get_protocol(name)
    except ValueError:
        return name
    if p.kind == "official":
        return "PrivateTest" if dataset == "FER2013" else "test split"
    if p.kind == "kfold":
        return f"{p.k}-fold"
    if p.kind == "subject":
        return f"subject {p.k}-fold"
    return f"{p.test_fraction:.0%} hold-out"


_WHERE = {
    "privatetest_acc": "FER2013 PrivateTest",
    "publictest_acc": "FER2013 PublicTest",
    "test_acc": "",
    "val_acc": "validation",
}


def _accuracy_and_key(meta: dict[str, Any] | None) -> tuple[float | None, str]:
    """The one order a model's accuracy is read in: FER2013 PrivateTest (the shipped models'
    ``privatetest_acc``), else the run's mean test accuracy over its protocol's folds
    (``metrics.accuracy``, what ``ferapp train`` and the wizard write), else PublicTest, test,
    validation. (accuracy as a fraction or None, the key it came from)."""
    meta = meta or {}
    metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    for key in ("privatetest_acc", "accuracy", "publictest_acc", "test_acc", "val_acc"):
        v = metrics.get(key, meta.get(key)) if key == "accuracy" else meta.get(key)
        if _number(v):
            return _fraction(v), key
    return None, ""


def model_accuracy(meta: dict[str, Any] | None) -> float | None:
    """A model's accuracy as a fraction (None: not recorded), as every list shows it and as
    the default model is chosen by (``ferapp.zoo.catalog``)."""
    return _accuracy_and_key(meta)[0]


def model_score(meta: dict[str, Any] | None) -> tuple[float | None, str]:
    """(accuracy as a fraction or None, where it was measured or "") from a model's metadata:
    :func:`model_accuracy`'s figure, and for a run's own test accuracy its dataset and protocol."""
    acc, key = _accuracy_and_key(meta)
    if key != "accuracy":
        return acc, _WHERE.get(key, "")
    meta = meta or {}
    metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    ds = meta.get("dataset") if isinstance(meta.get("dataset"), dict) else {}
    proto = meta.get("protocol")
    pname = metrics.get("protocol") or (proto.get("name") if isinstance(proto, dict) else proto)
    data = dataset_name(ds.get("format"), ds.get("path"))
    return acc, " ".join(x for x in (data, protocol_name(pname, data)) if x)


def beats_baselines(meta: dict[str, Any] | None) -> bool | None:
    """False when the run that made the model did not beat the majority-class / chance
    baselines (``meta["baselines"]``, written by ``run_training``); None when not recorded."""
    base = (meta or {}).get("baselines")
    if isinstance(base, dict) and isinstance(base.get("beaten"), bool):
        return base["beaten"]
    return None


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _fraction(v: float) -> float:
    return float(v) / 100 if v > 1 else float(v)


__all__ = [
    "DATASET_NAMES",
    "beats_baselines",
    "dataset_name",
    "model_accuracy",
    "model_score",
    "protocol_name",
]
