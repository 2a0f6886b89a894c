"""How FER2013 frames a face, measured with our own landmark fit (see training/measure_framing.py).

``embed_face`` puts a 48x48 dataset face into a larger frame the way a camera would show it
(upscaled, with background around it), so the live path (detect -> landmarks -> align) can be
run on faces whose correct framing is known. ``face_geometry`` expresses a landmark fit in
units of the crop side, in the eye-levelled frame ``align_face`` uses.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def embed_face(
    face: np.ndarray, upscale: float = 4.0, frame: tuple[int, int] = (320, 320)
) -> tuple[np.ndarray, tuple[float, float]]:
    """Upscale ``face`` (H, W uint8) by ``upscale`` (bicubic) and centre it in a ``frame``
    (H, W) filled with the face's own border colour. Returns (image, (left, top) of the face)."""
    side = int(round(face.shape[0] * upscale))
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    fh, fw = frame
    fh, fw = max(fh, side), max(fw, side)
    border = np.concatenate([big[0], big[-1], big[:, 0], big[:, -1]]).astype(np.float32)
    out = np.full((fh, fw) + big.shape[2:], int(np.median(border)), np.uint8)
    left, top = (fw - side) // 2, (fh - side) // 2
    out[top : top + side, left : left + side] = big
    return out, (float(left), float(top))


# landmarks that expressions barely move: nose bridge and tip (27-35) and the eyes (36-47)
RIGID = slice(27, 48)


def face_geometry(lm: np.ndarray, left: float, top: float, side: float) -> dict[str, float]:
    """Landmarks of a face whose crop is the square (left, top, side) -> positions in crop units
    after levelling the eye line about its centre (as ``alignment_matrix`` does)."""
    from ferapp.detect.landmarks import eye_centres

    p = (np.asarray(lm, np.float64) - [left, top]) / side
    l, r = eye_centres(p)
    ang = math.atan2(r[1] - l[1], r[0] - l[0])
    c = (l + r) / 2
    rot = np.array([[math.cos(-ang), -math.sin(-ang)], [math.sin(-ang), math.cos(-ang)]])
    q = (p - c) @ rot.T + c
    x0, x1 = q[:, 0].min(), q[:, 0].max()
    eye_y, chin_y = q[36:48, 1].mean(), q[8, 1]
    crop_c = (np.array([0.5, 0.5]) - c) @ rot.T + c  # the true crop centre in the levelled frame
    return {
        "eyes_at": float(eye_y),
        "chin_at": float(chin_y),
        "width": float(x1 - x0),
        "centre_x": float((x0 + x1) / 2),
        "centroid_x": float(q[:, 0].mean()),
        "centroid_y": float(q[:, 1].mean()),
        "rigid_x": float(q[RIGID, 0].mean()),
        "rigid_y": float(q[RIGID, 1].mean()),
        "nose_at": float(q[33, 1]),
        "eye_dist": float(np.hypot(*(r - l))),
        "crop_cx": float(crop_c[0]),
        "crop_cy": float(crop_c[1]),
        "roll_deg": math.degrees(ang),
    }
