"""Probabilities that mean what they say: expected calibration error and temperature scaling.

``ece(probs, y)``: the gap between confidence and accuracy, averaged over 15 equal-width
confidence bins weighted by their size (Guo et al. 2017). ``fit_temperature(logits, y)``: the T
that minimises the negative log-likelihood of softmax(logits / T) on a validation split (we fit
on FER2013 PublicTest, never on PrivateTest); shipped as ``temperature`` in a model's config.
"""

from __future__ import annotations

import numpy as np


def ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    probs = np.asarray(probs, np.float64)
    y = np.asarray(y)
    if len(y) == 0:
        return 0.0
    conf = probs.max(1)
    correct = (probs.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def _nll(logits: np.ndarray, y: np.ndarray, t: float) -> float:
    z = logits / t
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Grid search then golden-section refinement of T in [0.05, 20] (NLL is unimodal in log T)."""
    logits = np.asarray(logits, np.float64)
    y = np.asarray(y, np.int64)
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 61))
    k = int(np.argmin([_nll(logits, y, t) for t in grid]))
    lo, hi = np.log(grid[max(0, k - 1)]), np.log(grid[min(len(grid) - 1, k + 1)])
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    for _ in range(40):
        if _nll(logits, y, np.exp(a)) < _nll(logits, y, np.exp(b)):
            hi = b
        else:
            lo = a
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    return float(np.exp((lo + hi) / 2))
