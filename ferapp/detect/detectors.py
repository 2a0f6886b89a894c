"""The built-in face detectors: dlib HOG (default), dlib CNN (MMOD) and OpenCV Haar.

Each is a ``ScaledDetector`` (``ferapp.detect.base``: the frame is scanned at the scale that makes
``min_face`` the detector's native smallest face, capped at ``max_pixels``) with its own
``detect_raw`` and ``native_min_face``. They are declared in ``ferapp.detect.registry`` and this
module (dlib, OpenCV) is imported only when one is created.

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

import cv2
import dlib
import numpy as np

from ferapp.detect.base import ScaledDetector, dlib_model_path

log = logging.getLogger(__name__)

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


class HogDetector(ScaledDetector):
    """dlib's frontal-face HOG + linear SVM (5 filters: frontal, turned left/right, tilted)."""

    name = "hog"
    native_min_face = 60.0

    def __init__(self, min_face: float | None = None, max_pixels: int | None = None, threshold: float = 0.0):
        super().__init__(min_face, max_pixels)
        self.threshold = float(threshold)
        self._det = load_hog_detector()  # one per instance: a dlib detector is not thread-safe

    def detect_raw(self, gray):
        rects, scores, _ = self._det.run(gray, 0, self.threshold)
        return [
            ((r.left(), r.top(), r.width(), r.height()), sc) for r, sc in zip(rects, scores, strict=False)
        ]


class CnnDetector(ScaledDetector):
    """dlib's MMOD CNN face detector (``mmod_human_face_detector.dat``, 80x80 window); more
    robust to pose and light, but about a second per 640x480 scan on a 2-core CPU, so its scan is
    capped at 640x480 pixels: on a 640x480 frame it finds faces from 80 px (``effective_min_face``)."""

    name = "cnn"
    native_min_face = 80.0
    max_pixels_default = 640 * 480

    def __init__(self, min_face: float | None = None, max_pixels: int | None = None):
        super().__init__(min_face, max_pixels)
        self._det = dlib.cnn_face_detection_model_v1(str(dlib_model_path("mmod_human_face_detector.dat")))

    def detect_raw(self, gray):
        out = []
        for d in self._det(gray, 0):
            r = d.rect
            out.append(((r.left(), r.top(), r.width(), r.height()), d.confidence))
        return out


class HaarDetector(ScaledDetector):
    """OpenCV's Viola-Jones frontal-face Haar cascade (score = number of merged neighbours)."""

    name = "haar"
    native_min_face = 30.0

    def __init__(
        self,
        min_face: float | None = None,
        max_pixels: int | None = None,
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

    def detect_raw(self, gray):
        gray = cv2.equalizeHist(gray)
        m = int(self.native_min_face)
        rects, neighbours = self._det.detectMultiScale2(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(m, m)
        )
        return [
            ((int(x), int(y), int(w), int(h)), float(n))
            for (x, y, w, h), n in zip(rects, np.ravel(neighbours), strict=False)
        ]
