"""Face alignment shared by live inference AND training (so a model sees the same crops).

``align_face`` levels the eye line (eye centres from landmarks 36-41 / 42-47), then cuts a
square around the face sized from the landmark extent so the framing resembles FER2013's
48x48 crops: the whole face from forehead to chin with little background. ``crop_box`` is the
fallback when only a detector box is known; ``extract_face`` is detect + landmarks + align
for full-size dataset images.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from ferapp.detect.landmarks import eye_centres

# Framing like FER2013's 48x48 crops: the eye line at EYES_AT and the chin (landmark 8) at
# CHIN_AT of the crop height (forehead above, little below the chin); the width is at least
# MARGIN x the landmark extent so wide faces keep both cheeks.
EYES_AT = 0.38
CHIN_AT = 0.92
MARGIN = 1.2


def alignment_matrix(
    landmarks: np.ndarray,
    out_size: tuple[int, int] = (48, 48),
    margin: float = MARGIN,
    eyes_at: float = EYES_AT,
    chin_at: float = CHIN_AT,
) -> np.ndarray:
    """2x3 affine mapping image pixels to the aligned crop of size ``out_size`` (w, h)."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    l, r = eye_centres(lm)
    angle = math.degrees(math.atan2(r[1] - l[1], r[0] - l[0]))
    centre = (float((l[0] + r[0]) / 2), float((l[1] + r[1]) / 2))
    rot = cv2.getRotationMatrix2D(centre, angle, 1.0)  # levels the eye line
    pts = lm @ rot[:, :2].T + rot[:, 2]
    x0, x1 = pts[:, 0].min(), pts[:, 0].max()
    eye_y, chin_y = pts[36:48, 1].mean(), pts[8, 1]
    ow, oh = out_size
    # crop height from the eye-chin distance, width from the face extent; keep the larger
    height = max((chin_y - eye_y) / (chin_at - eyes_at), margin * (x1 - x0) * oh / ow, 1.0)
    side = height * ow / oh  # crop width in source pixels
    left = (x0 + x1) / 2 - side / 2
    top = (eye_y + chin_y) / 2 - (eyes_at + chin_at) / 2 * height
    s = ow / side
    scale = np.array([[s, 0, -left * s], [0, s, -top * s], [0, 0, 1]])
    return (scale @ np.vstack([rot, [0, 0, 1]]))[:2]


def _warp(image: np.ndarray, m: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Warp with anti-aliasing: render at up to 4x the output, then INTER_AREA down."""
    ow, oh = out_size
    s = math.hypot(m[0, 0], m[0, 1])  # output pixels per source pixel
    k = min(4.0, max(1.0, 1.0 / s)) if s > 0 else 1.0
    if k > 1.25:
        mk = m * k
        big = cv2.warpAffine(
            image, mk, (int(round(ow * k)), int(round(oh * k))),
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
        )
        return cv2.resize(big, (ow, oh), interpolation=cv2.INTER_AREA)
    return cv2.warpAffine(image, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    out_size: tuple[int, int] = (48, 48),
    margin: float = MARGIN,
) -> np.ndarray:
    """Eye-levelled, FER2013-framed uint8 crop of ``out_size`` (w, h); same channels as input."""
    m = alignment_matrix(landmarks, out_size, margin)
    return _warp(image, m, tuple(int(v) for v in out_size))


def crop_box(
    image: np.ndarray,
    box: tuple[int, int, int, int],
    out_size: tuple[int, int] = (48, 48),
    margin: float = 1.2,
) -> np.ndarray:
    """Square crop around a detector box (no landmarks), resized to ``out_size``; border replicate."""
    x, y, w, h = (float(v) for v in box)
    ow, oh = (int(v) for v in out_size)
    side = max(margin * max(w, h), 1.0)
    cx, cy = x + w / 2, y + h / 2 - 0.05 * side  # dlib boxes sit low: shift up for the forehead
    s = ow / side
    m = np.array([[s, 0, -(cx - side / 2) * s], [0, s, -(cy - side * oh / ow / 2) * s]])
    return _warp(image, m, (ow, oh))


@functools.lru_cache(maxsize=8)
def _detector(name: str, max_width: int | None, upsample: int):
    from ferapp.detect.base import create_detector

    kw = {"max_width": max_width}
    if name in ("hog", "cnn"):
        kw["upsample"] = upsample
    return create_detector(name, **kw)


@functools.lru_cache(maxsize=1)
def _predictor():
    from ferapp.detect.landmarks import LandmarkPredictor

    return LandmarkPredictor()


def extract_face(
    image: np.ndarray,
    out_size: tuple[int, int] = (48, 48),
    detector: str = "hog",
    max_width: int | None = 640,
) -> np.ndarray | None:
    """Largest face of a full-size image: detect, fit landmarks, align. None if no face.

    Small images (shorter side < 400 px) get a second, upsampled detection pass.
    """
    if image is None or image.size == 0:
        return None
    faces = _detector(detector, max_width, 0).detect(image)
    if not faces and min(image.shape[:2]) < 400 and detector in ("hog", "cnn"):
        faces = _detector(detector, max_width, 1).detect(image)
    if not faces:
        return None
    face = max(faces, key=lambda f: f.box[2] * f.box[3])
    lm = _predictor().predict(image, face.box)
    return align_face(image, lm, out_size)
