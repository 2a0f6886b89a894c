"""The registered face detectors: dlib HOG (default), dlib CNN (MMOD) and OpenCV Haar.

Detection that does not depend on face size: every detector has a *native* smallest face
(the size it finds at scale 1, measured below) and is asked for faces of at least
``min_face`` frame pixels. It therefore runs on the grayscale frame resized by
``scale = native_min_face / min_face`` (up when the wanted faces are smaller than the native
size, down when they are larger); the detector's own image pyramid finds everything from
``min_face`` up to the frame height in that one pass. Cost grows with the scanned pixels
(``scale**2`` x the frame), so the scanned image is capped at ``max_pixels``; a cap that bites
raises the smallest findable face, and ``effective_min_face`` says by how much.

``detect_region`` runs the same detector on a window around a known face, resized so the face
is ~1.5x the native size: how a tracked face is re-confirmed at its own scale (a few ms).

Measured for HOG (dlib ``get_frontal_face_detector``) on the demo portrait rendered at known
sizes in a 640x480 frame at scale 1: found in 10/10 frames from a 59-px face box, 8/10 at
54 px, 0/10 at 45 px; hence ``native_min_face = 60``. Models load lazily in the constructor,
never at import, and only the chosen detector's.

The HOG detector is read from ``resources/detectors/dlib_frontal_face_detector.svm`` (~2 ms)
instead of ``dlib.get_frontal_face_detector()``, which decodes dlib's compiled-in description
on every call (~0.45 CPU-s, GIL held) for the identical detector (see that folder's README).
"""

from __future__ import annotations

import logging
import math

import cv2
import dlib
import numpy as np

from ferapp.config import DEFAULT_MIN_FACE, MIN_FACE_RANGE
from ferapp.detect.base import clip_box, dlib_model_path, register_detector, to_gray
from ferapp.types import Face

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 4_000_000  # scanned pixels per full-frame pass (1280x720 at min_face 40 is 3.7 MP)


class _Scaled:
    """Shared 'detect on a resized gray image, map boxes back' logic."""

    name = "?"
    native_min_face = 60.0

    def __init__(self, min_face: float = DEFAULT_MIN_FACE, max_pixels: int = DEFAULT_MAX_PIXELS):
        lo, hi = MIN_FACE_RANGE
        if not (isinstance(min_face, (int, float)) and math.isfinite(min_face) and lo <= min_face <= hi):
            raise ValueError(f"min_face must be a face width in pixels between {lo} and {hi}, not {min_face!r}")
        self.min_face = float(min_face)
        self.max_pixels = int(max_pixels)

    def scale_for(self, width: int, height: int, min_face: float | None = None) -> float:
        """Resize factor of a full-frame pass that finds faces of ``min_face`` px and up."""
        s = self.native_min_face / float(min_face or self.min_face)
        cap = math.sqrt(self.max_pixels / max(1.0, float(width) * float(height)))
        return min(s, cap)

    def effective_min_face(self, width: int, height: int) -> float:
        """Smallest face (frame pixels) a full-frame pass on a ``width`` x ``height`` frame finds."""
        return self.native_min_face / self.scale_for(width, height)

    def _run_scaled(self, gray: np.ndarray, s: float):
        """Detector on ``gray`` resized by ``s``; boxes mapped back to ``gray`` pixels."""
        if abs(s - 1.0) > 0.02:
            h, w = gray.shape[:2]
            size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
            small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
            sx, sy = size[0] / w, size[1] / h
        else:
            small, sx, sy = gray, 1.0, 1.0
        for (x, y, bw, bh), score in self._raw(small):
            yield (x / sx, y / sy, bw / sx, bh / sy), float(score)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face of at least ``min_face`` px (best score first), full-frame pixels."""
        gray = to_gray(image)
        h, w = gray.shape[:2]
        faces = []
        for (x, y, bw, bh), score in self._run_scaled(gray, self.scale_for(w, h)):
            box = clip_box(x, y, bw, bh, w, h)
            if box is not None:
                faces.append(Face(box=box, score=score))
        faces.sort(key=lambda f: -f.score)
        return faces

    def detect_region(self, image: np.ndarray, box, context: float = 0.5) -> list[Face]:
        """Faces inside ``box`` grown by ``context`` x its size on each side, scanned at the
        scale that makes a face of the box's size ~1.5x the native size."""
        gray = to_gray(image)
        H, W = gray.shape[:2]
        x, y, w, h = (float(v) for v in box)
        size = max(w, h, 1.0)
        x0, y0 = max(0, int(x - context * size)), max(0, int(y - context * size))
        x1, y1 = min(W, int(math.ceil(x + w + context * size))), min(H, int(math.ceil(y + h + context * size)))
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

    def _raw(self, gray: np.ndarray):  # -> iterable of ((x, y, w, h), score)
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(min_face={self.min_face:g})"


HOG_DETECTOR_FILE = "dlib_frontal_face_detector.svm"


def load_hog_detector():
    """dlib's frontal-face HOG detector from the shipped serialised file; built by dlib (the slow
    way, same detector) when the file is missing or unreadable by this dlib."""
    from ferapp.paths import resources_dir

    path = resources_dir() / "detectors" / HOG_DETECTOR_FILE
    try:
        return dlib.fhog_object_detector(str(path))
    except RuntimeError as e:  # missing file, or a serialisation this dlib does not read
        log.info("building dlib's HOG detector (%s unusable: %s)", path, e)
        return dlib.get_frontal_face_detector()


@register_detector("hog")
class HogDetector(_Scaled):
    """dlib's frontal-face HOG + linear SVM (5 filters: frontal, turned left/right, tilted)."""

    name = "hog"
    native_min_face = 60.0

    def __init__(self, min_face: float = DEFAULT_MIN_FACE, max_pixels: int = DEFAULT_MAX_PIXELS,
                 threshold: float = 0.0):
        super().__init__(min_face, max_pixels)
        self.threshold = float(threshold)
        self._det = load_hog_detector()  # one per instance: a dlib detector is not thread-safe

    def _raw(self, gray):
        rects, scores, _ = self._det.run(gray, 0, self.threshold)
        return [((r.left(), r.top(), r.width(), r.height()), sc) for r, sc in zip(rects, scores, strict=False)]


@register_detector("cnn")
class CnnDetector(_Scaled):
    """dlib's MMOD CNN face detector (``mmod_human_face_detector.dat``, 80x80 window); more
    robust to pose and light, but about a second per 640x480 scan on a 2-core CPU, so its scan is
    capped at 640x480 pixels: on a 640x480 frame it finds faces from 80 px (``effective_min_face``)."""

    name = "cnn"
    native_min_face = 80.0

    def __init__(self, min_face: float = DEFAULT_MIN_FACE, max_pixels: int = 640 * 480):
        super().__init__(min_face, max_pixels)
        self._det = dlib.cnn_face_detection_model_v1(str(dlib_model_path("mmod_human_face_detector.dat")))

    def _raw(self, gray):
        out = []
        for d in self._det(gray, 0):
            r = d.rect
            out.append(((r.left(), r.top(), r.width(), r.height()), d.confidence))
        return out


@register_detector("haar")
class HaarDetector(_Scaled):
    """OpenCV's Viola-Jones frontal-face Haar cascade (score = number of merged neighbours)."""

    name = "haar"
    native_min_face = 30.0

    def __init__(
        self,
        min_face: float = DEFAULT_MIN_FACE,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        cascade: str = "haarcascade_frontalface_default.xml",
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
    ):
        super().__init__(min_face, max_pixels)
        path = cv2.data.haarcascades + cascade
        self._det = cv2.CascadeClassifier(path)
        if self._det.empty():
            raise FileNotFoundError(f"OpenCV Haar cascade not found: {path}")
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors

    def _raw(self, gray):
        gray = cv2.equalizeHist(gray)
        m = int(self.native_min_face)
        rects, neighbours = self._det.detectMultiScale2(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(m, m))
        return [((int(x), int(y), int(w), int(h)), float(n)) for (x, y, w, h), n in zip(rects, np.ravel(neighbours), strict=False)]
