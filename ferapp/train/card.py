"""Model card (README.md of a trained model folder), written from the run's report."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def pct(v: float | None, digits: int = 2, missing: str = "n/a", space: str = "") -> str:
    """A fraction as a percentage ("69.71%"); ``missing`` for None or NaN (the one formatter)."""
    return missing if v is None or not math.isfinite(v) else f"{100 * v:.{digits}f}{space}%"


def _pct(v: float | None) -> str:
    return pct(v)


def paper_accuracies(reported: dict[str, Any]) -> list[tuple[str, float]]:
    """The accuracies (in %) among a paper's reported numbers (``ModelCfg.reported``): every
    numeric entry but the parameter count and ``s_*`` timings, in the paper's order."""
    return [
        (k, v)
        for k, v in reported.items()
        if isinstance(v, int | float) and k != "params" and not k.startswith("s_")
    ]


def _departures(cfg, report: dict[str, Any]) -> list[str]:
    """Where this run departs from the paper's recipe (honest list for the card)."""
    out: list[str] = []
    rec = report.get("recipe", {})
    paper = report.get("paper_recipe", {})
    for k in ("optimizer", "lr", "batch_size", "epochs", "schedule", "loss", "algorithm"):
        if k in rec and k in paper and rec[k] != paper[k]:
            out.append(f"`{k}` = {rec[k]!r} (paper recipe: {paper[k]!r})")
    if list(rec.get("augment", [])) != list(paper.get("augment", [])):
        out.append(f"augmentation {rec.get('augment')} (paper recipe: {paper.get('augment')})")
    proto = report.get("protocol", {})
    if proto.get("subject_independent"):
        out.append(
            f"protocol {proto.get('name')} is subject-independent (the paper did not say / used image-level folds)"
        )
    folds = report.get("folds", [])
    n = report.get("dataset", {}).get("n") or 0
    if any(f["n_train"] + f["n_val"] + f["n_test"] < n for f in folds if f.get("n_train") is not None):
        out.append("training used a subsample of each fold's training part (max_train)")
    if any(f.get("epochs_completed", 0) < rec.get("epochs", 0) and f.get("stop_reason") for f in folds):
        out.append(
            "some folds stopped before the epoch budget: "
            + "; ".join(sorted({f["stop_reason"] for f in folds if f.get("stop_reason")}))
        )
    if cfg.kwargs:
        out.append(f"constructor arguments {cfg.kwargs}")
    if rec.get("max_batches_per_epoch"):
        out.append(f"at most {rec['max_batches_per_epoch']} batches per epoch")
    return out


def model_card(cfg, report: dict[str, Any]) -> str:
    ds = report.get("dataset", {})
    summ = report.get("summary") or {}
    folds = report.get("folds", [])
    labels = list(report.get("labels") or cfg.labels)
    lines = [f"# {report.get('arch', cfg.name)} — trained by ferapp", ""]
    if cfg.description:
        lines += [cfg.description, ""]
    lines += [
        "## Data",
        "",
        f"- dataset: `{ds.get('path')}` (format {ds.get('format')}, {ds.get('n')} images, "
        f"{ds.get('num_subjects')} subjects, fingerprint `{ds.get('fingerprint')}`)",
        f"- class counts: {ds.get('class_counts')}",
    ]
    for w in ds.get("warnings", []):
        lines.append(f"- reader note: {w}")
    proto = report.get("protocol", {})
    lines += [
        "",
        "## Protocol",
        "",
        f"- {proto.get('description', proto.get('name'))}",
        f"- this folder holds the model of fold `{folds[-1]['name'] if folds else '?'}` (the last fold trained)",
        "- each fold is tested with its best-validation-accuracy epoch's weights (validation = the part "
        "of the training side the protocol holds out; the test part is never used for selection)",
        "",
        "## Metrics (test part of each fold)",
        "",
        "| fold | train | val | test | accuracy | macro F1 | epochs |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in folds:
        t = f.get("test") or {}
        lines.append(
            f"| {f['name']} | {f['n_train']} | {f['n_val']} | {f['n_test']} | {_pct(t.get('accuracy'))} | "
            f"{_pct(t.get('macro_f1'))} | {f['epochs_completed']} |"
        )
    if summ:
        lines.append(
            f"| **mean ± std** | | | | **{_pct(summ.get('mean_accuracy'))} ± {_pct(summ.get('std_accuracy'))}** | "
            f"{_pct(summ.get('mean_macro_f1'))} | |"
        )
    base = report.get("baselines")
    if base:
        lines += [
            "",
            f"Baselines on the same test images: always '{base['majority_class']}' (majority class) "
            f"{_pct(base['majority'])}, chance {_pct(base['chance'])}: "
            + (
                "beaten." if base.get("beaten") else "**not beaten: this model is not better than guessing.**"
            ),
        ]
    for note in report.get("notes") or []:
        lines.append(f"- note: {note}")
    pooled = (summ or {}).get("pooled")
    if pooled:
        lines += ["", "### Per-class accuracy (pooled over folds)", "", "| class | accuracy |", "|---|---|"]
        for lab in labels:
            lines.append(f"| {lab} | {_pct(pooled['per_class_accuracy'].get(lab))} |")
        cm = np.array(pooled["confusion"])
        lines += [
            "",
            "### Confusion matrix (rows true, columns predicted; pooled)",
            "",
            "| true \\ pred | " + " | ".join(labels) + " |",
            "|---" * (len(labels) + 1) + "|",
        ]
        for lab, row in zip(labels, cm, strict=True):
            lines.append(f"| {lab} | " + " | ".join(str(int(v)) for v in row) + " |")
    if cfg.reported:
        lines += ["", "### What the paper reports", "", f"{cfg.reported}"]
    lines += [
        "",
        "## Model",
        "",
        f"- parameters: {report.get('params')}",
        f"- input: {cfg.input_size[0]}x{cfg.input_size[1]}, {cfg.channels} channel(s), "
        f"(x/255 - {cfg.mean}) / {cfg.std}"
        + (f", five-crop {cfg.five_crop} voting" if cfg.five_crop else ""),
        f"- labels: {', '.join(labels)}",
        "",
        "## Training",
        "",
        f"- wall time: {report.get('wall_time_s', 0):.1f} s on {report.get('hardware')}",
        f"- torch {report.get('torch')}, device {report.get('device')}",
        f"- recipe: `{ {k: v for k, v in report.get('recipe', {}).items() if k not in ('out_dir', 'resume')} }`",
        "",
        "## Where this departs from the paper",
        "",
    ]
    deps = _departures(cfg, report)
    lines += [f"- {d}" for d in deps] or ["- none recorded"]
    lines += ["", "## Citation", "", cfg.citation or "(none)", ""]
    return "\n".join(lines)
