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

from ferapp.config import settings
from ferapp.detect.landmarks import eye_centres

# FER2013's framing, measured (not guessed) by ``python training/measure_framing.py --n 3000``
# (training/reports/framing.json): 3,000 FER2013 Training faces upscaled 4x, detected and fitted
# with the live path (2,347 found), landmarks expressed in units of the 48x48 crop after
# levelling the eye line. Medians: eye line at 0.394 of the crop height, chin (landmark 8) at
# 1.025 (FER2013 cuts at or just above the chin), landmark width 0.829 of the crop, landmark
# centre at 0.499.
# Side: of the ways to estimate the crop side from one fit, the geometric mean of the eye-chin
# and width estimates has the smallest median error (7.0%, against 7.5% eye-chin only, 8.0% width
# only, and 8.9-12.9% for estimators from the expression-stable points: eye distance, eye-nose).
# Position: the eye line at its median height and the landmarks' horizontal extent centred. The
# script also measures placing the crop by the mean of the 68 landmarks (or of the nose + eye
# points): its median centre error is lower (3.6-3.7% of the side against 5.5%), but through the
# live path on PublicTest (``--eval-live``) it classified worse (resnet20_long: 68.66% / 68.84%
# against 69.65% on the same 2,824 faces): a fixed eye position matters more to the nets than
# reproducing each dataset crop's own offset, so the eye-line placement stays.
EYES_AT = 0.394
CHIN_AT = 1.025
WIDTH = 0.829
CENTRE_X = 0.499


def alignment_matrix(
    landmarks: np.ndarray,
    out_size: tuple[int, int] = (48, 48),
    eyes_at: float = EYES_AT,
    chin_at: float = CHIN_AT,
    width: float = WIDTH,
    centre_x: float = CENTRE_X,
) -> np.ndarray:
    """2x3 affine mapping image pixels to the aligned crop of size ``out_size`` (H, W): the eye
    line levelled, at ``eyes_at`` of the height, the chin at ``chin_at``, the landmarks
    ``width`` of the crop wide and centred at ``centre_x`` (FER2013's framing, see above)."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    l, r = eye_centres(lm)
    angle = math.degrees(math.atan2(r[1] - l[1], r[0] - l[0]))
    centre = (float((l[0] + r[0]) / 2), float((l[1] + r[1]) / 2))
    rot = cv2.getRotationMatrix2D(centre, angle, 1.0)  # levels the eye line
    pts = lm @ rot[:, :2].T + rot[:, 2]
    x0, x1 = pts[:, 0].min(), pts[:, 0].max()
    eye_y, chin_y = pts[36:48, 1].mean(), pts[8, 1]
    oh, ow = out_size
    # crop side (source pixels) from the eye-chin distance and from the landmark width
    s_v = max(chin_y - eye_y, 1e-3) / (chin_at - eyes_at)
    s_w = max(x1 - x0, 1e-3) / width
    height = max(math.sqrt(s_v * s_w), 1.0)
    side = height * ow / oh  # crop width in source pixels
    left = (x0 + x1) / 2 - centre_x * side
    top = eye_y - eyes_at * height
    s = ow / side
    scale = np.array([[s, 0, -left * s], [0, s, -top * s], [0, 0, 1]])
    return (scale @ np.vstack([rot, [0, 0, 1]]))[:2]


def _warp(image: np.ndarray, m: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Warp with anti-aliasing: render at up to 4x the output (``out_size`` (H, W)), then INTER_AREA down."""
    oh, ow = out_size
    s = math.hypot(m[0, 0], m[0, 1])  # output pixels per source pixel
    k = min(4.0, max(1.0, 1.0 / s)) if s > 0 else 1.0
    if k > 1.25:
        mk = m * k
        big = cv2.warpAffine(
            image,
            mk,
            (int(round(ow * k)), int(round(oh * k))),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return cv2.resize(big, (ow, oh), interpolation=cv2.INTER_AREA)
    return cv2.warpAffine(image, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    out_size: tuple[int, int] = (48, 48),
) -> np.ndarray:
    """Eye-levelled, FER2013-framed uint8 crop of ``out_size`` (H, W) - a model's ``cfg.crop_size``;
    same channels as input."""
    m = alignment_matrix(landmarks, out_size)
    return _warp(image, m, tuple(int(v) for v in out_size))


def crop_box(
    image: np.ndarray,
    box: tuple[int, int, int, int],
    out_size: tuple[int, int] = (48, 48),
    margin: float = 1.2,
) -> np.ndarray:
    """Square crop around a detector box (no landmarks), resized to ``out_size`` (H, W); border replicate."""
    x, y, w, h = (float(v) for v in box)
    oh, ow = (int(v) for v in out_size)
    side = max(margin * max(w, h), 1.0)
    cx, cy = x + w / 2, y + h / 2 - 0.05 * side  # dlib boxes sit low: shift up for the forehead
    s = ow / side
    m = np.array([[s, 0, -(cx - side / 2) * s], [0, s, -(cy - side * oh / ow / 2) * s]])
    return _warp(image, m, (oh, ow))


@functools.lru_cache(maxsize=4)
def _finder(detector: str, min_face: float):
    from ferapp.detect.finder import FaceFinder

    return FaceFinder(detector, min_face=min_face, background=False)


def extract_face(
    image: np.ndarray,
    out_size: tuple[int, int] = (48, 48),
    detector: str | None = None,
    min_face: float | None = None,
) -> np.ndarray | None:
    """Largest face of a full-size dataset image, framed like the live path: the stills
    detection of ``FaceFinder.find_still`` (the same detector, scale and landmark checks as a
    photo in ``ferapp analyze``), then ``align_face``. None if no face.

    ``min_face`` defaults to a sixth of the image's shorter side (at least 24 px): a dataset
    photo shows one large face, and scanning it for tiny faces would only cost time."""
    if image is None or image.size == 0:
        return None
    mf = float(min_face) if min_face else max(24.0, min(image.shape[:2]) / 6.0)
    faces = _finder(detector or settings().detection.detector, round(mf, 1)).find_still(image)
    if not faces:
        return None
    face = max(faces, key=lambda f: f.box[2] * f.box[3])
    return align_face(image, face.landmarks, out_size)
