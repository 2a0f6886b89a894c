"""FaceFinder: find every face of ``min_face`` px and up, then follow it cheaply.

Three costs, three schedules (numbers: 640x480, 2-core CPU, see ``ferapp bench``):

- **Full-frame scan** (the detector at the scale ``min_face`` needs, ``base.ScaledDetector``; HOG
  at min_face 40 scans the frame at 1.5x, tens of ms): finds new faces. It runs on every
  frame while nothing is tracked, and every ``scan_every`` frames otherwise, on a background
  thread (``background=True``, ``scan_worker.py``) so the per-frame path never waits for it.
  ``deterministic`` (batch analysis) merges each scan exactly ``scan_delay`` frames after it
  started, waiting if needed, so results do not depend on timing; live use merges a scan as
  soon as it is done.
- **Landmark refit** (dlib's 68-point fit inside the previous box, ~1 ms per face, every
  frame): follows each face; the box comes from the landmarks' extent with the box/extent
  relation measured at the face's last confirmation. A fit that is implausible (box
  collapses, balloons or jumps; eye/face proportions wrong) or whose appearance no longer
  matches the face seen at its last confirmation (a hand over it, the person gone) is dropped.
- **Confirmation at the face's own scale** (the detector on a window around the face, a few
  ms, every ``verify_every`` frames per face, staggered): corrects drift and keeps a face
  only while the detector still sees it there now and then; a face unconfirmed for
  ``max_unconfirmed`` checks in a row (a box that slid onto a hand or onto the background)
  is dropped. A face the full scan or a check missed is *not* dropped for that alone: head
  turns and hands crossing the face are followed by the landmark fit.

A face the scan finds that no track holds is started only when the detector sees it again in
the current frame at the face's own scale (a second look at another scale), which removes most
false positives of a single pass.
``FaceTracker`` turns tracks into stable ids, remembering a lost face for ``max_missed`` frames
so a face that comes back keeps its id. Stills (photos) use ``find_still``: detection per image,
nothing carried from one image to the next.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import cv2
import numpy as np

from ferapp.config import settings
from ferapp.detect.base import FaceDetector, clip_box, to_gray
from ferapp.detect.landmarks import LandmarkPredictor, eye_centres
from ferapp.detect.registry import create_detector
from ferapp.detect.scan_worker import ScanWorker
from ferapp.detect.tracker import FaceTracker, iou
from ferapp.types import Face

_PATCH = 24
MIN_SIMILARITY = 0.5  # normalised cross-correlation with the appearance at the last confirmation
# a new face needs one of its two looks (scan, second look) to score at least this (HOG SVM
# margin; on the nine real webcam clips 95% of true faces score >= 0.15 on the second look,
# a mission patch on the demo astronaut's suit 0.085 and 0.017)
MIN_SCORE = 0.1
MAX_DRIFT = 1.2  # box size between confirmations: within [1/1.2, 1.2] x the confirmed size


def landmark_extent(lm: np.ndarray) -> tuple[float, float, float, float]:
    (x0, y0), (x1, y1) = lm.min(axis=0), lm.max(axis=0)
    return float(x0), float(y0), float(max(x1 - x0, 1.0)), float(max(y1 - y0, 1.0))


def _patch(gray: np.ndarray, box) -> np.ndarray:
    """Zero-mean, unit-norm 24x24 patch of ``box`` (all zeros if flat or empty)."""
    x, y, w, h = box
    roi = gray[max(0, y) : y + h, max(0, x) : x + w]
    if roi.size == 0:
        return np.zeros(_PATCH * _PATCH, np.float32)
    p = cv2.resize(roi, (_PATCH, _PATCH), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    p -= p.mean()
    n = float(np.linalg.norm(p))
    return p / n if n > 1e-3 * _PATCH else np.zeros_like(p)


def plausible_landmarks(lm: np.ndarray) -> bool:
    """Eye distance vs face width of a real face (a fit on a hand or a wall fails this)."""
    l, r = eye_centres(lm)
    iod = float(np.hypot(*(r - l)))
    ew = float(lm[:, 0].max() - lm[:, 0].min())
    eh = float(lm[:, 1].max() - lm[:, 1].min())
    return 0.2 < iod / max(ew, 1.0) < 0.7 and 0.5 < eh / max(ew, 1.0) < 2.0


@dataclasses.dataclass
class _Fit:
    box: tuple[int, int, int, int]
    rel: tuple[float, float, float, float]  # detector box relative to the landmark extent
    template: np.ndarray  # normalised gray patch of the box at the last confirmation
    lm: np.ndarray
    size: float = 0.0  # box side at the last confirmation
    since_verify: int = 0
    unconfirmed: int = 0
    history: deque = dataclasses.field(default_factory=lambda: deque(maxlen=64))  # (frame_no, box)

    def box_at(self, frame_no: int):
        for n, b in reversed(self.history):
            if n <= frame_no:
                return b
        return self.box


class FaceFinder:
    """``find(image_bgr) -> list[Face]`` with landmarks (if ``landmarks``) and stable face_id."""

    def __init__(
        self,
        detector: str | FaceDetector | None = None,
        min_face: float | None = None,
        landmarks: bool = True,
        tracker: FaceTracker | None = None,
        scan_every: int | None = None,
        verify_every: int | None = None,
        max_unconfirmed: int | None = None,
        background: bool = True,
        deterministic: bool = True,
        scan_delay: int | None = None,
        **detector_kw,
    ):
        """A parameter left at None is the setting's (``ferapp.config``: detection, tracking)."""
        s, t = settings(), settings().tracking
        detector = s.detection.detector if detector is None else detector
        min_face = s.detection.min_face if min_face is None else min_face
        scan_every = t.scan_every if scan_every is None else scan_every
        verify_every = t.verify_every if verify_every is None else verify_every
        max_unconfirmed = t.max_unconfirmed if max_unconfirmed is None else max_unconfirmed
        scan_delay = t.scan_delay if scan_delay is None else scan_delay
        if isinstance(detector, str):
            self.detector = create_detector(detector, min_face=min_face, **detector_kw)
            scan_det = create_detector(detector, min_face=min_face, **detector_kw) if background else None
        else:
            self.detector, scan_det = detector, None  # an instance is not shared across threads
        self.min_face = float(getattr(self.detector, "min_face", min_face))
        self.landmarks = bool(landmarks)
        self.predictor = LandmarkPredictor()  # also needed for tracking when landmarks=False
        self.tracker = tracker or FaceTracker()
        self.scan_every = max(1, int(scan_every))
        self.verify_every = max(1, int(verify_every))
        self.max_unconfirmed = max(1, int(max_unconfirmed))
        self.deterministic = bool(deterministic)
        self.scan_delay = max(1, int(scan_delay))
        self._worker = ScanWorker(scan_det) if scan_det is not None else None
        self.stats = {"frames": 0, "scans": 0, "checks": 0, "refits": 0, "dropped": 0, "started": 0}
        self.reset()

    @property
    def name(self) -> str:
        return getattr(self.detector, "name", "?")

    @property
    def tracked(self) -> int:
        return len(self._fits)

    def reset(self) -> None:
        self._fits: list[_Fit] = []
        self._frame_no = -1
        self._last_scan = -(10**9)
        self._scan_started: int | None = None
        if getattr(self, "_worker", None) is not None:
            self._worker.cancel()
        self.tracker.reset()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def __del__(self):  # the worker is a daemon thread; stop it with its finder
        try:
            self.close()
        except Exception:
            pass

    # -- public --------------------------------------------------------------------------
    def find(self, image: np.ndarray, gray: np.ndarray | None = None) -> list[Face]:
        """Faces in the next frame of a stream. ``gray``: the frame's grayscale if the caller
        already has it (not modified afterwards)."""
        self.stats["frames"] += 1
        self._frame_no += 1
        n = self._frame_no
        gray = to_gray(image) if gray is None else gray
        self._refit(gray, n)
        self._verify(gray)
        self._collect_scan(gray, n)
        self._maybe_scan(gray, n)
        return self.tracker.update(self._faces())

    def find_still(self, image: np.ndarray) -> list[Face]:
        """Faces of one photo: a full scan of this image only, ids 0..n-1 from left to right."""
        self.stats["frames"] += 1
        gray = to_gray(image)
        self.stats["scans"] += 1
        faces = []
        for f in self._dedupe(self.detector.detect(gray)):
            box = self._second_look(gray, f.box, same_frame=True, score=f.score)
            if box is None or any(iou(box, o.box) > 0.3 for o in faces):
                continue
            lm = self.predictor.predict(gray, box)
            if plausible_landmarks(lm):
                faces.append(Face(box=box, score=f.score, landmarks=lm if self.landmarks else None))
        faces.sort(key=lambda f: f.box[0])
        return [dataclasses.replace(f, face_id=i) for i, f in enumerate(faces)]

    def find_full(self, image: np.ndarray) -> list[Face]:
        """Full scan + landmarks on every frame (the untracked baseline); ids still assigned."""
        self.stats["frames"] += 1
        gray = to_gray(image)
        self.stats["scans"] += 1
        faces = []
        for f in self._dedupe(self.detector.detect(gray)):
            lm = self.predictor.predict(gray, f.box)
            faces.append(dataclasses.replace(f, landmarks=lm if self.landmarks else None))
        return self.tracker.update(faces)

    # -- internals -----------------------------------------------------------------------
    def _faces(self) -> list[Face]:
        return [Face(box=f.box, score=1.0, landmarks=f.lm if self.landmarks else None) for f in self._fits]

    @staticmethod
    def _dedupe(faces: list[Face]) -> list[Face]:
        out: list[Face] = []
        for f in faces:  # best score first
            if all(iou(f.box, o.box) < 0.3 for o in out):
                out.append(f)
        return out

    def _second_look(self, gray: np.ndarray, box, same_frame: bool, score: float = 1.0):
        """A new face must be seen again in the current frame at its own scale (a second look
        at another scale: most single-pass false positives fail it). Returns its box or None.
        ``same_frame`` False: the scan is frames old, so look a little wider."""
        self.stats["checks"] += 1
        again = self._dedupe(self.detector.detect_region(gray, box, context=0.3 if same_frame else 0.6))
        if same_frame:
            again = [f for f in again if iou(f.box, box) > 0.3]
        if not again or max(score, again[0].score) < MIN_SCORE:
            return None
        return again[0].box

    def _new_fit(self, gray: np.ndarray, box, n: int) -> _Fit | None:
        lm = self.predictor.predict(gray, box)
        if not plausible_landmarks(lm):
            return None
        ex, ey, ew, eh = landmark_extent(lm)
        x, y, w, h = box
        fit = _Fit(
            tuple(box),
            ((x - ex) / ew, (y - ey) / eh, w / ew, h / eh),
            _patch(gray, box),
            lm,
            size=float(max(w, h)),
        )
        fit.history.append((n, fit.box))
        return fit

    def _refit(self, gray: np.ndarray, n: int) -> None:
        H, W = gray.shape[:2]
        keep = []
        for fit in self._fits:
            self.stats["refits"] += 1
            lm = self.predictor.predict(gray, fit.box)
            ex, ey, ew, eh = landmark_extent(lm)
            rx, ry, rw, rh = fit.rel
            bx, by, bw, bh = ex + rx * ew, ey + ry * eh, rw * ew, rh * eh
            # between confirmations the size may drift only so far from the confirmed size: a fit
            # that shrinks its own box frame after frame (head tilted back, face half covered)
            # would otherwise collapse; the centre still follows the landmarks
            k = (
                float(np.clip(max(bw, bh) / max(fit.size, 1.0), 1 / MAX_DRIFT, MAX_DRIFT))
                * fit.size
                / max(bw, bh, 1.0)
            )
            raw = (bx + bw / 2 - k * bw / 2, by + bh / 2 - k * bh / 2, k * bw, k * bh)
            box = clip_box(*raw, W, H)
            if (
                box is None
                or not self._plausible(fit.box, raw, box, lm)
                or float(_patch(gray, box) @ fit.template) < MIN_SIMILARITY
            ):
                self.stats["dropped"] += 1
                continue
            fit.box, fit.lm = box, lm
            fit.since_verify += 1
            fit.history.append((n, box))
            keep.append(fit)
        self._fits = keep

    def _verify(self, gray: np.ndarray) -> None:
        keep = []
        for fit in self._fits:
            if fit.since_verify < self.verify_every:
                keep.append(fit)
                continue
            self.stats["checks"] += 1
            fit.since_verify = 0
            found = [f for f in self.detector.detect_region(gray, fit.box) if iou(f.box, fit.box) > 0.2]
            if found:
                self._confirm(fit, gray, max(found, key=lambda f: iou(f.box, fit.box)).box)
                keep.append(fit)
            else:
                fit.unconfirmed += 1
                if fit.unconfirmed < self.max_unconfirmed:
                    keep.append(fit)
                else:
                    self.stats["dropped"] += 1
        self._fits = keep

    def _confirm(self, fit: _Fit, gray: np.ndarray, box) -> None:
        """The detector saw this face at ``box`` in the current frame: refresh the geometry."""
        new = self._new_fit(gray, box, self._frame_no)
        fit.unconfirmed = 0
        if new is not None:
            fit.box, fit.rel, fit.template, fit.lm, fit.size = (
                new.box,
                new.rel,
                new.template,
                new.lm,
                new.size,
            )
            fit.history.append((self._frame_no, new.box))

    def _maybe_scan(self, gray: np.ndarray, n: int) -> None:
        due = not self._fits or n - self._last_scan >= self.scan_every
        if not due or self._scan_started is not None:
            return
        inline = self._worker is None or (not self._fits and self.deterministic)
        self._last_scan = n
        self.stats["scans"] += 1
        if inline:
            self._merge(n, self.detector.detect(gray), gray)
        else:
            self._scan_started = n
            self._worker.submit(n, gray)

    def _collect_scan(self, gray: np.ndarray, n: int) -> None:
        if self._scan_started is None or self._worker is None:
            return
        if self.deterministic:
            if n - self._scan_started < self.scan_delay:
                return
            res = self._worker.wait()
        else:
            res = self._worker.poll()
            if res is None:
                if not self._worker.pending:
                    self._scan_started = None
                return
        self._scan_started = None
        if res is not None:
            self._merge(res[0], res[1], gray)

    def _merge(self, k: int, detections: list[Face], gray: np.ndarray) -> None:
        """Detections of frame ``k`` into the tracks of the current frame."""
        n = self._frame_no
        for det in self._dedupe(detections):
            owner = max(self._fits, key=lambda f: iou(det.box, f.box_at(k)), default=None)
            if owner is not None and iou(det.box, owner.box_at(k)) > 0.3:
                owner.unconfirmed = 0
                if k == n:
                    self._confirm(owner, gray, det.box)
                continue
            box = self._second_look(gray, det.box, same_frame=k == n, score=det.score)
            if box is None or any(iou(box, f.box) > 0.3 for f in self._fits):
                continue
            fit = self._new_fit(gray, box, n)
            if fit is not None:
                self.stats["started"] += 1
                self._fits.append(fit)

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
        return plausible_landmarks(lm)
