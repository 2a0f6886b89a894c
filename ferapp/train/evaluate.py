"""Evaluation: predictions through the shared preprocessing (+ P5 five-crop voting), metrics,
fold aggregation, and the artefacts (confusion CSV/PNG, JSON report)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch


@dataclass
class EvalResult:
    accuracy: float
    per_class_accuracy: dict[str, float | None]  # recall per true class; None when the class is absent
    macro_f1: float
    confusion: np.ndarray  # (C, C) rows = true, cols = predicted
    n: int
    labels: tuple[str, ...] = ()
    loss: float | None = None
    probs: np.ndarray | None = None  # (n, C) the predicted probabilities (evaluate() fills them)
    y: np.ndarray | None = None  # (n,) true labels, aligned with probs

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("probs", None)
        d.pop("y", None)
        d["confusion"] = self.confusion.tolist()
        d["labels"] = list(self.labels)
        return d


def predict_probs(
    model,
    cfg,
    images_uint8,
    device=None,
    batch: int = 256,
    net=None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Class probabilities (N, C) of uint8 crops: ``ferapp.zoo.predict.predict_probs`` (the one
    inference function), on ``device`` when given; ``net``: the network to run for ``model``
    (``ferapp.inference.engine.inference_net``: what the live path runs). ``progress(done, total)``
    after each batch."""
    from ferapp.zoo.predict import is_ensemble
    from ferapp.zoo.predict import predict_probs as _predict

    if device is not None and not is_ensemble(model):
        model.to(torch.device(device))
    crops = list(images_uint8)
    if progress is None:
        return _predict(model, cfg, crops, batch=batch, net=net)
    out = []
    for i in range(0, len(crops), batch):  # the same batches as one call: identical results
        out.append(_predict(model, cfg, crops[i : i + batch], batch=batch, net=net))
        progress(min(i + batch, len(crops)), len(crops))
    return np.concatenate(out) if out else _predict(model, cfg, crops, batch=batch, net=net)


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def metrics_from_confusion(cm: np.ndarray, labels) -> EvalResult:
    cm = np.asarray(cm)
    n = int(cm.sum())
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(1).astype(np.float64)
    predicted = cm.sum(0).astype(np.float64)
    per_class = {lab: (float(tp[i] / support[i]) if support[i] > 0 else None) for i, lab in enumerate(labels)}
    f1s = []
    for i in range(len(labels)):
        if support[i] == 0 and predicted[i] == 0:
            continue  # class absent from both truth and predictions: not part of the macro average
        prec = tp[i] / predicted[i] if predicted[i] > 0 else 0.0
        rec = tp[i] / support[i] if support[i] > 0 else 0.0
        f1s.append(0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
    return EvalResult(
        accuracy=float(tp.sum() / n) if n else 0.0,
        per_class_accuracy=per_class,
        macro_f1=float(np.mean(f1s)) if f1s else 0.0,
        confusion=cm,
        n=n,
        labels=tuple(labels),
    )


def evaluate(
    model,
    cfg,
    dataset,
    device=None,
    batch: int = 256,
    net=None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Accuracy, per-class accuracy, macro F1 and confusion of ``model`` on a FaceDataset
    (``net``: what to run for it, see ``predict_probs``; ``progress(images done, total)`` after
    each batch)."""
    out = predict_probs(model, cfg, dataset.images, device, batch, net=net, progress=progress)
    labels = tuple(cfg.labels)
    y = np.asarray(dataset.labels, np.int64)
    if tuple(dataset.label_names) != labels:
        y = map_labels(y, dataset.label_names, labels)
    keep = y >= 0
    pred = out.argmax(1) if len(out) else np.zeros(0, np.int64)
    res = metrics_from_confusion(confusion_matrix(y[keep], pred[keep], len(labels)), labels)
    res.probs, res.y = out[keep], y[keep]
    return res


def map_labels(y: np.ndarray, src_names, dst_names) -> np.ndarray:
    """Re-index labels from one name list to another (-1 where the class is unknown to dst)."""
    dst = {n: i for i, n in enumerate(dst_names)}
    lut = np.array([dst.get(n, -1) for n in src_names], np.int64)
    return lut[np.asarray(y, np.int64)]


def aggregate(results: list[EvalResult]) -> dict[str, Any]:
    """Mean +- std over folds (sample std, ddof=1 when >1 fold), summed confusion, pooled metrics."""
    accs = np.array([r.accuracy for r in results], np.float64)
    f1s = np.array([r.macro_f1 for r in results], np.float64)
    labels = results[0].labels if results else ()
    cm = (
        sum((r.confusion for r in results), np.zeros((len(labels), len(labels)), np.int64))
        if results
        else np.zeros((0, 0))
    )
    pooled = metrics_from_confusion(cm, labels) if results else None
    ddof = 1 if len(results) > 1 else 0
    return {
        "folds": len(results),
        "mean_accuracy": float(accs.mean()) if len(accs) else math.nan,
        "std_accuracy": float(accs.std(ddof=ddof)) if len(accs) else math.nan,
        "mean_macro_f1": float(f1s.mean()) if len(f1s) else math.nan,
        "std_macro_f1": float(f1s.std(ddof=ddof)) if len(f1s) else math.nan,
        "pooled": pooled.to_dict() if pooled else None,
    }


def write_confusion_csv(cm: np.ndarray, labels, path: str | Path) -> Path:
    path = Path(path)
    lines = ["true\\pred," + ",".join(labels)]
    for lab, row in zip(labels, np.asarray(cm), strict=True):
        lines.append(lab + "," + ",".join(str(int(v)) for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_confusion_png(cm: np.ndarray, labels, path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot state: safe from worker threads

    cm = np.asarray(cm)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, np.float64), where=rows > 0)
    fig = Figure(figsize=(1.0 + 0.8 * len(labels), 0.8 + 0.7 * len(labels)), dpi=100)
    ax = fig.add_subplot(111)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                str(int(cm[i, j])),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "to_dict"):
        return _jsonable(o.to_dict())
    return o


def write_json(obj: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_jsonable(obj), indent=2))
    tmp.replace(path)
    return path


def write_eval_artifacts(
    result: EvalResult, out_dir: str | Path, stem: str = "eval", title: str = "", extra: dict | None = None
) -> dict[str, str]:
    """confusion CSV + PNG and a JSON report for one evaluation."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv = write_confusion_csv(result.confusion, result.labels, out / f"{stem}_confusion.csv")
    png = write_confusion_png(result.confusion, result.labels, out / f"{stem}_confusion.png", title)
    js = write_json({**(extra or {}), "result": result.to_dict()}, out / f"{stem}.json")
    return {"csv": str(csv), "png": str(png), "json": str(js)}
