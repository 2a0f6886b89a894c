"""FaceFinder: the fast live path (detect rarely, follow faces with the landmark fit).

The full detector (~15-30 ms on a 2-core CPU) runs on the first frame, every
``detect_every`` frames, and on the frame after a track is lost. In between, each tracked
face is re-fitted by running the 68-point shape predictor (~1 ms) inside its previous box;
the new box is derived from the landmarks' extent using the box/extent relation measured at
the last detection, so boxes keep the detector's geometry. A fit that is implausible (box
collapses or balloons, jumps, leaves the frame, eye/jaw proportions wrong, or the patch
no longer correlates with the face seen at the last detection) drops the track so
the next frame re-detects. ``FaceTracker`` keeps ids stable through all of this.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from ferapp.detect.base import FaceDetector, clip_box, create_detector, to_gray
from ferapp.detect.landmarks import LandmarkPredictor, eye_centres
from ferapp.detect.tracker import FaceTracker
from ferapp.types import Face


def landmark_extent(lm: np.ndarray) -> tuple[float, float, float, float]:
    (x0, y0), (x1, y1) = lm.min(axis=0), lm.max(axis=0)
    return float(x0), float(y0), float(max(x1 - x0, 1.0)), float(max(y1 - y0, 1.0))


@dataclasses.dataclass
class _Fit:
    box: tuple[int, int, int, int]
    rel: tuple[float, float, float, float]  # detector box relative to the landmark extent
    template: np.ndarray  # normalised gray patch of the box at the last detection


_PATCH = 24
MIN_SIMILARITY = 0.5  # normalised cross-correlation with the last detected appearance


def _patch(gray: np.ndarray, box) -> np.ndarray:
    """Zero-mean, unit-norm 24x24 patch of ``box`` (all zeros if flat or empty)."""
    x, y, w, h = box
    roi = gray[max(0, y): y + h, max(0, x): x + w]
    if roi.size == 0:
        return np.zeros(_PATCH * _PATCH, np.float32)
    p = cv2.resize(roi, (_PATCH, _PATCH), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    p -= p.mean()
    n = float(np.linalg.norm(p))
    return p / n if n > 1e-3 * _PATCH else np.zeros_like(p)


class FaceFinder:
    """``find(image_bgr) -> list[Face]`` with landmarks (if ``landmarks``) and stable face_id."""

    def __init__(
        self,
        detector: str | FaceDetector = "hog",
        detect_every: int = 10,
        landmarks: bool = True,
        max_width: int | None = 320,
        tracker: FaceTracker | None = None,
        **detector_kw,
    ):
        if isinstance(detector, str):
            detector = create_detector(detector, max_width=max_width, **detector_kw)
        self.detector = detector
        self.detect_every = max(1, int(detect_every))
        self.landmarks = bool(landmarks)
        self.predictor = LandmarkPredictor()  # also needed for tracking when landmarks=False
        self.tracker = tracker or FaceTracker()
        self.stats = {"frames": 0, "detections": 0, "refits": 0, "dropped": 0}
        self.reset()

    @property
    def name(self) -> str:
        return getattr(self.detector, "name", "?")

    def reset(self) -> None:
        self._fits: list[_Fit] = []
        self._since_detect = 0
        self._lost = True  # first frame detects
        self.tracker.reset()

    # -- public --------------------------------------------------------------------------
    def find(self, image: np.ndarray, gray: np.ndarray | None = None) -> list[Face]:
        """``gray``: the frame's grayscale if the caller already has it (saves a conversion)."""
        self.stats["frames"] += 1
        gray = to_gray(image) if gray is None else gray
        if self._lost or not self._fits or self._since_detect >= self.detect_every - 1:
            faces = self._detect(image, gray)
        else:
            faces = self._refit(gray)
            self._since_detect += 1
        return self.tracker.update(faces)

    def find_full(self, image: np.ndarray) -> list[Face]:
        """Detect + landmarks on every frame (the untracked baseline); ids still assigned."""
        self.stats["frames"] += 1
        return self.tracker.update(self._detect(image, to_gray(image)))

    # -- internals -----------------------------------------------------------------------
    def _detect(self, image: np.ndarray, gray: np.ndarray) -> list[Face]:
        self.stats["detections"] += 1
        self._since_detect, self._lost = 0, False
        faces, fits = [], []
        for f in self.detector.detect(image):
            lm = self.predictor.predict(gray, f.box)
            ex, ey, ew, eh = landmark_extent(lm)
            x, y, w, h = f.box
            rel = ((x - ex) / ew, (y - ey) / eh, w / ew, h / eh)
            fits.append(_Fit(f.box, rel, _patch(gray, f.box)))
            faces.append(dataclasses.replace(f, landmarks=lm if self.landmarks else None))
        self._fits = fits
        return faces

    def _refit(self, gray: np.ndarray) -> list[Face]:
        H, W = gray.shape[:2]
        faces, keep = [], []
        for fit in self._fits:
            self.stats["refits"] += 1
            lm = self.predictor.predict(gray, fit.box)
            ex, ey, ew, eh = landmark_extent(lm)
            rx, ry, rw, rh = fit.rel
            bx, by, bw, bh = ex + rx * ew, ey + ry * eh, rw * ew, rh * eh
            box = clip_box(bx, by, bw, bh, W, H)
            if (
                box is None
                or not self._plausible(fit.box, (bx, by, bw, bh), box, lm)
                or float(_patch(gray, box) @ fit.template) < MIN_SIMILARITY  # face gone
            ):
                self.stats["dropped"] += 1
                self._lost = True  # re-detect on the next frame
                continue
            fit.box = box
            keep.append(fit)
            faces.append(Face(box=box, score=1.0, landmarks=lm if self.landmarks else None))
        self._fits = keep
        return faces

    @staticmethod
    def _plausible(prev, raw, box, lm) -> bool:
        px, py, pw, ph = prev
        bx, by, bw, bh = raw
        area_ratio = (bw * bh) / max(pw * ph, 1.0)
        if not 0.6 < area_ratio < 1.6:  # collapsed or ballooned
            return False
        shift = np.hypot(bx + bw / 2 - (px + pw / 2), by + bh / 2 - (py + ph / 2))
        if shift > 0.5 * max(pw, ph):  # jumped
            return False
        if box[2] * box[3] < 0.6 * bw * bh:  # mostly outside the frame
            return False
        l, r = eye_centres(lm)
        iod = float(np.hypot(*(r - l)))
        ew = float(lm[:, 0].max() - lm[:, 0].min())
        return 0.2 < iod / max(ew, 1.0) < 0.7  # eye distance vs face width of a real face
