"""dlib's 68-point shape predictor (iBUG 300-W layout): jaw 0-16, brows 17-26, nose 27-35,
eyes 36-41 / 42-47, mouth 48-67.

Loading the 100 MB model is the one expensive step of building a face finder: ~0.5 CPU-s on a
2-core AMD EPYC (quiet), all of it inside dlib's deserialiser with the GIL held (reading the
file is 0.1 s of it; dlib has no other way to load it, and the 5-point model, 10x faster to
load, lacks the eye and mouth points). So it is loaded once per process and shared by every
``LandmarkPredictor`` (dlib's predictor is const: safe to call from several threads), and the
window loads it before it shows itself (``ferapp.startup``), never while it is on screen.
"""

from __future__ import annotations

import threading

import dlib
import numpy as np

from ferapp.detect.base import dlib_model_path, to_gray

LEFT_EYE = slice(36, 42)  # subject's right eye, image left
RIGHT_EYE = slice(42, 48)
DEFAULT_MODEL = "shape_predictor_68_face_landmarks.dat"

_PREDICTORS: dict[str, object] = {}  # model file name -> the loaded dlib predictor
_LOAD_LOCK = threading.Lock()  # two threads asking at once load it once


def shape_predictor(model: str = DEFAULT_MODEL):
    """The process's one dlib predictor for ``model`` (loaded on first use)."""
    with _LOAD_LOCK:
        sp = _PREDICTORS.get(model)
        if sp is None:
            sp = _PREDICTORS[model] = dlib.shape_predictor(str(dlib_model_path(model)))
        return sp


def is_loaded(model: str = DEFAULT_MODEL) -> bool:
    return model in _PREDICTORS


class LandmarkPredictor:
    """``predict(gray, box) -> (68, 2) float32`` in image pixels. ~1 ms per face."""

    def __init__(self, model: str = DEFAULT_MODEL):
        self._sp = shape_predictor(model)

    def predict(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        gray = to_gray(image)
        x, y, w, h = (int(v) for v in box)
        shape = self._sp(gray, dlib.rectangle(x, y, x + w - 1, y + h - 1))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def predict_many(self, image: np.ndarray, boxes) -> list[np.ndarray]:
        gray = to_gray(image)  # convert once for all faces
        return [self.predict(gray, b) for b in boxes]


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) eye centres in image order (left = smaller x for a frontal face)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return lm[LEFT_EYE].mean(axis=0), lm[RIGHT_EYE].mean(axis=0)


def eye_angle(landmarks: np.ndarray) -> float:
    """Angle of the eye line in degrees (0 = level; positive = right eye lower in the image)."""
    l, r = eye_centres(landmarks)
    return float(np.degrees(np.arctan2(r[1] - l[1], r[0] - l[0])))
