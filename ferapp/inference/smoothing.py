"""Per-face temporal smoothing of class probabilities (EMA keyed by face_id)."""

from __future__ import annotations

import numpy as np


class EmaSmoother:
    """p_t = alpha * p_{t-1} + (1 - alpha) * raw_t per face id. alpha=0 turns it off (raw).

    No default ``alpha``: it depends on the use (``ferapp.config``, ``Inference.smoothing``)."""

    def __init__(self, alpha: float, forget_after: int = 30):
        self.alpha = 0.0
        self.set_alpha(alpha)
        self.forget_after = forget_after
        self._state: dict[int, tuple[np.ndarray, int]] = {}
        self._tick = 0

    def set_alpha(self, alpha: float) -> None:
        if not (isinstance(alpha, int | float) and 0.0 <= alpha < 1.0):  # NaN fails this too
            raise ValueError(f"smoothing must be a number in [0, 1), not {alpha!r}")
        self.alpha = float(alpha)

    def reset(self) -> None:
        self._state.clear()

    def __call__(self, face_id: int, probs: np.ndarray) -> np.ndarray:
        self._tick += 1
        if self.alpha <= 0.0 or face_id < 0:
            out = probs
        else:
            prev = self._state.get(face_id)
            out = probs if prev is None else self.alpha * prev[0] + (1.0 - self.alpha) * probs
        self._state[face_id] = (out, self._tick)
        if self._tick % 64 == 0:  # forget faces gone for a while
            self._state = {k: v for k, v in self._state.items() if self._tick - v[1] <= self.forget_after * 4}
        return out.astype(np.float32, copy=False)
