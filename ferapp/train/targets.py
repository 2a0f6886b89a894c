"""Soft training targets: FER+ vote distributions and distillation from a trained model.

``build_targets`` turns a dataset + ``TrainConfig`` into (targets (N, K), keep mask, notes):
each row starts as the one-hot of its label; FER+ votes (``soft_targets``) and/or a teacher's
probabilities (``distill_from``) are mixed in with their weights. Rows FER+ marks
unknown / not-a-face are dropped from training (``keep`` False). Only training rows use the
targets; validation and test always score against the dataset's own labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def ferplus_distribution(ds, source: str, labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, Path]:
    """(N, K) FER+ vote distributions in ``labels`` order and a valid mask for a FER2013 dataset
    read in its original row layout (paths ``row:<i>``)."""
    from ferapp.data.fer2013 import ferplus_labels, find_ferplus_csv, read_ferplus_votes

    if source == "ferplus":
        found = find_ferplus_csv(Path(ds.report.path))
        if found is None:
            raise ValueError(
                f"soft_targets 'ferplus': no fer2013new.csv next to {ds.report.path}; give its path"
            )
        path = found
    else:
        path = Path(source)
    if not all(str(p).startswith("row:") for p in ds.paths[:1]):
        raise ValueError(
            "soft_targets from FER+ need a FER2013 csv dataset (rows aligned with fer2013new.csv)"
        )
    rows = np.array([int(str(p)[4:]) for p in ds.paths], dtype=np.int64)
    votes, _ = read_ferplus_votes(path)
    if rows.max(initial=0) >= len(votes):
        raise ValueError(f"{path} has {len(votes)} rows; the dataset refers to row {int(rows.max())}")
    keep_contempt = "contempt" in labels
    _, soft, reason = ferplus_labels(votes[rows], "soft", keep_contempt)
    valid = (reason != 2) & (soft.sum(1) > 0)
    return soft.astype(np.float32), valid, path


def teacher_probs(
    ref: str, images: np.ndarray, labels: tuple[str, ...], temp: float = 1.0, batch: int = 512
) -> np.ndarray:
    """Probabilities of a trained model (or ensemble) on uint8 crops, in ``labels`` order,
    softened with temperature ``temp`` (p ** (1/T), renormalised: softmax(z / T) for one net)."""
    from ferapp.inference.engine import ExpressionEngine
    from ferapp.labels import LABEL_INDEX

    eng = ExpressionEngine(ref, device="auto", optimize=False)
    out = (
        np.concatenate([eng.classify(list(images[i : i + batch])) for i in range(0, len(images), batch)])
        if len(images)
        else np.zeros((0, 7), np.float32)
    )  # canonical order
    cols = [LABEL_INDEX.get(n) for n in labels]
    if any(c is None for c in cols):
        raise ValueError(
            f"distill_from {ref!r}: the teacher has no class for {[n for n, c in zip(labels, cols, strict=True) if c is None]}"
        )
    p = np.clip(out[:, cols], 1e-8, 1.0) ** (1.0 / float(temp))
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


def build_targets(ds, tcfg, labels: tuple[str, ...], rows: np.ndarray | None = None):
    """-> (targets (N, K) float32, keep (N,) bool, notes). ``rows``: the rows a teacher must
    label (the training rows; others keep their one-hot target)."""
    n, k = len(ds), len(labels)
    t = np.zeros((n, k), np.float32)
    t[np.arange(n), np.asarray(ds.labels)] = 1.0
    keep = np.ones(n, bool)
    notes: list[str] = []
    if tcfg.soft_targets:
        w = float(tcfg.soft_weight)
        if not 0.0 <= w <= 1.0:
            raise ValueError(f"soft_weight must be in [0, 1], not {w}")
        soft, valid, path = ferplus_distribution(ds, tcfg.soft_targets, labels)
        t[valid] = (1.0 - w) * t[valid] + w * soft[valid]
        keep &= valid
        notes.append(
            f"FER+ soft targets from {path.name} (weight {w:g}); {int((~valid).sum())} rows "
            "unknown / not a face dropped from training"
        )
    if tcfg.distill_from:
        w = float(tcfg.distill_weight)
        if not 0.0 <= w <= 1.0:
            raise ValueError(f"distill_weight must be in [0, 1], not {w}")
        idx = np.arange(n) if rows is None else np.asarray(rows)
        p = teacher_probs(tcfg.distill_from, ds.images[idx], labels, tcfg.distill_temp)
        t[idx] = (1.0 - w) * t[idx] + w * p
        notes.append(
            f"distilled from {tcfg.distill_from} (weight {w:g}, T {tcfg.distill_temp:g}) on {len(idx)} rows"
        )
    return t, keep, notes
