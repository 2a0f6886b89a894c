"""FaceDetector protocol, detector registry and model-file lookup (Qt-free)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ferapp.config import settings
from ferapp.types import Face


@runtime_checkable
class FaceDetector(Protocol):
    """``detect(image_bgr)`` -> faces with (x, y, w, h) int boxes in full-frame pixels."""

    name: str

    def detect(self, image: np.ndarray) -> list[Face]: ...


_DETECTORS: dict[str, Callable[..., FaceDetector]] = {}


def register_detector(name: str):
    """Decorator for a detector class/factory; ``create_detector(name, **kw)`` calls it."""

    def deco(factory):
        _DETECTORS[name] = factory
        return factory

    return deco


def _ensure_registered() -> None:
    import ferapp.detect.detectors  # noqa: F401


def list_detectors() -> list[str]:
    _ensure_registered()
    return sorted(_DETECTORS)


def create_detector(name: str | None = None, **kw) -> FaceDetector:
    """Build a registered detector (default: ``settings().detection.detector``); an unknown name
    fails loudly with the known names."""
    _ensure_registered()
    if name is None:
        name = settings().detection.detector
    try:
        factory = _DETECTORS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown face detector {name!r}; known: {', '.join(sorted(_DETECTORS))}"
        ) from None
    return factory(**kw)


def dlib_models_dir() -> Path:
    """``face_recognition_models/models`` located without importing the package
    (its ``__init__`` imports pkg_resources, which may be absent)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "dlib model files not found: install the 'face-recognition-models' package "
            "(pip install face-recognition-models)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def dlib_model_path(filename: str) -> Path:
    """Full path of a dlib model file (e.g. 'shape_predictor_68_face_landmarks.dat')."""
    p = dlib_models_dir() / filename
    if not p.is_file():
        raise FileNotFoundError(
            f"dlib model file '{filename}' missing from {p.parent}; reinstall the "
            "'face-recognition-models' package"
        )
    return p


def clip_box(x: float, y: float, w: float, h: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Round and clip a box to the image; None if nothing is left."""
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def to_gray(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
