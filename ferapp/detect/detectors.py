"""The registered face detectors: dlib HOG (default), dlib CNN (MMOD) and OpenCV Haar.

Each runs on a grayscale copy downscaled to ``max_width`` (speed) and maps boxes back to
full-frame pixels. Models load lazily in the constructor, never at import.
"""

from __future__ import annotations

import cv2
import dlib
import numpy as np

from ferapp.detect.base import clip_box, dlib_model_path, register_detector, to_gray
from ferapp.types import Face


class _Downscaling:
    """Shared 'detect on a downscaled gray image, map boxes back' logic."""

    name = "?"

    def __init__(self, max_width: int | None = 320, upsample: int = 0):
        self.max_width = max_width
        self.upsample = int(upsample)

    def _small(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        gray = to_gray(image)
        w = gray.shape[1]
        if self.max_width and w > self.max_width:
            s = self.max_width / w
            size = (self.max_width, max(1, int(round(gray.shape[0] * s))))
            return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), s
        return gray, 1.0

    def detect(self, image: np.ndarray) -> list[Face]:
        small, s = self._small(image)
        h, w = image.shape[:2]
        faces = []
        for (x, y, bw, bh), score in self._raw(small):
            box = clip_box(x / s, y / s, bw / s, bh / s, w, h)
            if box is not None:
                faces.append(Face(box=box, score=float(score)))
        faces.sort(key=lambda f: -f.score)
        return faces

    def _raw(self, gray: np.ndarray):  # -> iterable of ((x, y, w, h), score)
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_width={self.max_width})"


@register_detector("hog")
class HogDetector(_Downscaling):
    """dlib's frontal-face HOG + linear SVM (finds faces >= ~80 px at the detection scale)."""

    name = "hog"

    def __init__(self, max_width: int | None = 320, upsample: int = 0, threshold: float = 0.0):
        super().__init__(max_width, upsample)
        self.threshold = float(threshold)
        self._det = dlib.get_frontal_face_detector()

    def _raw(self, gray):
        rects, scores, _ = self._det.run(gray, self.upsample, self.threshold)
        return [((r.left(), r.top(), r.width(), r.height()), sc) for r, sc in zip(rects, scores, strict=False)]


@register_detector("cnn")
class CnnDetector(_Downscaling):
    """dlib's MMOD CNN face detector (``mmod_human_face_detector.dat``); slower, more robust."""

    name = "cnn"

    def __init__(self, max_width: int | None = 320, upsample: int = 0):
        super().__init__(max_width, upsample)
        self._det = dlib.cnn_face_detection_model_v1(str(dlib_model_path("mmod_human_face_detector.dat")))

    def _raw(self, gray):
        out = []
        for d in self._det(gray, self.upsample):
            r = d.rect
            out.append(((r.left(), r.top(), r.width(), r.height()), d.confidence))
        return out


@register_detector("haar")
class HaarDetector(_Downscaling):
    """OpenCV's Viola-Jones frontal-face Haar cascade (score = number of merged neighbours)."""

    name = "haar"

    def __init__(
        self,
        max_width: int | None = 320,
        cascade: str = "haarcascade_frontalface_default.xml",
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 30,
    ):
        super().__init__(max_width, 0)
        path = cv2.data.haarcascades + cascade
        self._det = cv2.CascadeClassifier(path)
        if self._det.empty():
            raise FileNotFoundError(f"OpenCV Haar cascade not found: {path}")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size

    def _raw(self, gray):
        gray = cv2.equalizeHist(gray)
        rects, neighbours = self._det.detectMultiScale2(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
        )
        return [((int(x), int(y), int(w), int(h)), float(n)) for (x, y, w, h), n in zip(rects, np.ravel(neighbours), strict=False)]
