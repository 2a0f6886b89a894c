"""The FaceDetector protocol, the ScaledDetector base class, and dlib model-file lookup (Qt-free).

Detection that does not depend on face size: a ``ScaledDetector`` has a *native* smallest face
(the size it finds at scale 1) and is asked for faces of at least ``min_face`` frame pixels. It
therefore runs on the grayscale frame resized by ``scale = native_min_face / min_face`` (up when
the wanted faces are smaller than the native size, down when they are larger); the detector's own
image pyramid finds everything from ``min_face`` up to the frame height in that one pass. Cost
grows with the scanned pixels (``scale**2`` x the frame), so the scanned image is capped at
``max_pixels``; a cap that bites raises the smallest findable face, and ``effective_min_face``
says by how much. ``detect_region`` runs the same detector on a window around a known face,
resized so the face is ~1.5x the native size. The registry is ``ferapp.detect.registry``.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ferapp.config import settings
from ferapp.types import Face

Box = tuple[float, float, float, float]  # (x, y, w, h)


@runtime_checkable
class FaceDetector(Protocol):
    """What the finder, the bench and the no-face hint ask of a face detector.

    Boxes are ``(x, y, w, h)`` ints in full-frame pixels, best score first. Subclass
    :class:`ScaledDetector` to get everything but the raw detection; a detector written from
    scratch implements every member below, and is registered with
    ``ferapp.detect.register_detector`` (or a ``ferapp.detectors`` entry point)."""

    name: str  # the registry name (written into timelines' metadata)
    min_face: float  # smallest face width asked for, in frame pixels
    native_min_face: float  # smallest face width it finds at scale 1
    max_pixels: int  # pixel cap of one full-frame scan (bounds its cost on large frames)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Full-frame scan: every face of at least ``min_face`` px in a BGR or gray image."""
        ...

    def detect_region(self, image: np.ndarray, box: Box, context: float = 0.5) -> list[Face]:
        """Faces inside ``box`` grown by ``context`` x its size on each side, looked for at the
        scale of a face of that box's size: how a tracked face is re-confirmed (a few ms)."""
        ...

    def scale_for(self, width: int, height: int, min_face: float | None = None) -> float:
        """Resize factor of a full-frame scan of a ``width`` x ``height`` frame that finds faces of
        ``min_face`` (default: the detector's) px and up, after the ``max_pixels`` cap."""
        ...

    def effective_min_face(self, width: int, height: int, min_face: float | None = None) -> float:
        """Smallest face (frame pixels) such a scan really finds: ``min_face``, or more where the
        pixel cap bites."""
        ...


_METHODS = tuple(n for n, v in vars(FaceDetector).items() if callable(v) and not n.startswith("_"))
PROTOCOL_MEMBERS = (*FaceDetector.__annotations__, *_METHODS)  # name, min_face, ..., effective_min_face


def missing_members(obj: object) -> list[str]:
    """Members of :class:`FaceDetector` that ``obj`` lacks (a method that is not callable counts
    as missing); empty for a complete detector."""
    out = []
    for m in PROTOCOL_MEMBERS:
        v = getattr(obj, m, None)
        if v is None or (m in _METHODS and not callable(v)):
            out.append(m)
    return out


class ScaledDetector:
    """A detector from one raw function: subclasses implement ``detect_raw(gray)`` (boxes and
    scores on the image they are given, finding faces of about ``native_min_face`` px and up)
    and set ``name`` and ``native_min_face``; this class runs it on the frame resized so faces
    of ``min_face`` px look ``native_min_face`` px (capped at ``max_pixels`` scanned pixels) or on
    a window around a known face, and maps the boxes back to frame pixels."""

    name = "?"
    native_min_face = 60.0
    max_pixels_default: int | None = None  # a detector's own cap; None = the settings' detection.max_pixels

    def __init__(self, min_face: float | None = None, max_pixels: int | None = None):
        """``min_face`` / ``max_pixels``: None = the settings' (``ferapp.config``, detection)."""
        det = settings().detection
        min_face = det.min_face if min_face is None else min_face
        if max_pixels is None:
            max_pixels = det.max_pixels if self.max_pixels_default is None else self.max_pixels_default
        lo, hi = det.min_face_range
        if not (isinstance(min_face, int | float) and math.isfinite(min_face) and lo <= min_face <= hi):
            raise ValueError(
                f"min_face must be a face width in pixels between {lo} and {hi}, not {min_face!r}"
            )
        self.min_face = float(min_face)
        self.max_pixels = int(max_pixels)

    def detect_raw(self, gray: np.ndarray) -> Iterable[tuple[Box, float]]:
        """``((x, y, w, h), score)`` of the faces in ``gray`` (uint8, as given, no resizing)."""
        raise NotImplementedError

    def scale_for(self, width: int, height: int, min_face: float | None = None) -> float:
        s = self.native_min_face / float(min_face or self.min_face)
        cap = math.sqrt(self.max_pixels / max(1.0, float(width) * float(height)))
        return min(s, cap)

    def effective_min_face(self, width: int, height: int, min_face: float | None = None) -> float:
        return self.native_min_face / self.scale_for(width, height, min_face)

    def _run_scaled(self, gray: np.ndarray, s: float):
        """``detect_raw`` on ``gray`` resized by ``s``; boxes mapped back to ``gray`` pixels."""
        if abs(s - 1.0) > 0.02:
            import cv2

            h, w = gray.shape[:2]
            size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
            small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
            sx, sy = size[0] / w, size[1] / h
        else:
            small, sx, sy = gray, 1.0, 1.0
        for (x, y, bw, bh), score in self.detect_raw(small):
            yield (x / sx, y / sy, bw / sx, bh / sy), float(score)

    def detect(self, image: np.ndarray) -> list[Face]:
        gray = to_gray(image)
        h, w = gray.shape[:2]
        faces = []
        for (x, y, bw, bh), score in self._run_scaled(gray, self.scale_for(w, h)):
            box = clip_box(x, y, bw, bh, w, h)
            if box is not None:
                faces.append(Face(box=box, score=score))
        faces.sort(key=lambda f: -f.score)
        return faces

    def detect_region(self, image: np.ndarray, box: Box, context: float = 0.5) -> list[Face]:
        """Scanned at the scale that makes a face of the box's size ~1.5x the native size."""
        gray = to_gray(image)
        H, W = gray.shape[:2]
        x, y, w, h = (float(v) for v in box)
        size = max(w, h, 1.0)
        x0, y0 = max(0, int(x - context * size)), max(0, int(y - context * size))
        x1, y1 = (
            min(W, int(math.ceil(x + w + context * size))),
            min(H, int(math.ceil(y + h + context * size))),
        )
        if x1 - x0 < 8 or y1 - y0 < 8:
            return []
        s = 1.5 * self.native_min_face / size
        faces = []
        for (fx, fy, fw, fh), score in self._run_scaled(gray[y0:y1, x0:x1], s):
            b = clip_box(fx + x0, fy + y0, fw, fh, W, H)
            if b is not None:
                faces.append(Face(box=b, score=score))
        faces.sort(key=lambda f: -f.score)
        return faces

    def __repr__(self) -> str:
        return f"{type(self).__name__}(min_face={self.min_face:g})"


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


def clip_box(
    x: float, y: float, w: float, h: float, width: int, height: int
) -> tuple[int, int, int, int] | None:
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
