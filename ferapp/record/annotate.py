"""Draw a FrameResult onto a BGR frame: boxes, face id, top label + confidence, landmarks.

Pure numpy/OpenCV (no Qt) so the live view and the annotated MP4 recording share it.
Colours come from ``ferapp.labels.LABEL_COLORS`` (RGB; converted to BGR here).
"""

from __future__ import annotations

import cv2
import numpy as np

from ferapp.labels import LABEL_COLORS
from ferapp.types import FrameResult

_NO_EXPRESSION = (200, 200, 200)


def label_bgr(label: str | None) -> tuple[int, int, int]:
    r, g, b = LABEL_COLORS.get(label or "", _NO_EXPRESSION)
    return int(b), int(g), int(r)


def annotate(
    image: np.ndarray, result: FrameResult | None, landmarks: bool = True, copy: bool = True
) -> np.ndarray:
    """Return ``image`` (BGR uint8) with ``result``'s faces drawn on it."""
    out = image.copy() if copy else image
    if result is None:
        return out
    h, w = out.shape[:2]
    scale = max(0.45, min(1.2, w / 900.0))
    thick = max(1, int(round(w / 400)))
    for fr in result.faces:
        x, y, bw, bh = (int(v) for v in fr.face.box)
        expr = fr.expression
        color = label_bgr(expr.label if expr is not None else None)
        cv2.rectangle(out, (x, y), (x + bw, y + bh), color, thick, cv2.LINE_AA)
        text = f"#{fr.face.face_id}"
        if expr is not None:
            text += f" {expr.label} {expr.confidence * 100:.0f}%"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y - 4 if y - th - base - 4 >= 0 else y + bh + th + 4
        cv2.rectangle(out, (x, ty - th - base), (x + tw + 4, ty + base // 2), color, -1)
        cv2.putText(
            out, text, (x + 2, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 1, cv2.LINE_AA
        )
        if landmarks and fr.face.landmarks is not None:
            for px, py in np.asarray(fr.face.landmarks, dtype=np.float32):
                cv2.circle(out, (int(px), int(py)), max(1, thick - 1), color, -1, cv2.LINE_AA)
    return out
