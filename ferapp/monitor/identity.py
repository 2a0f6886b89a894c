"""Who is driving: is a newly tracked face the calibrated driver or another person?

A tracker gives a face a new id after it lost it for a while (a long occlusion, the driver
leaning out of view, a restart of the source). A new id alone says nothing about the person,
so the driver monitor asks this module, and restarts the per-driver calibration only for a
different person (``DriverMonitor.new_person``).

The comparison uses dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``
from the face-recognition-models package the landmark predictor already comes from): a
128-D descriptor of a 150x150 face chip aligned on the 68 landmarks. The driver's reference is
the mean descriptor of up to ``REFERENCE_CHIPS`` near-frontal chips kept during calibration; a
new track is compared by the mean descriptor of its first ``frames`` near-frontal chips. The
chips are cut when seen (cheap, no network); descriptors are computed only when a decision is
needed (the network loads on first use, ~0.1 s, then ~0.1-0.2 CPU-s per chip on a 2-core CPU),
so a drive in which the track never changes costs nothing.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

log = logging.getLogger(__name__)

REFERENCE_CHIPS = 5
CHIP_SIZE = 150

_model = None
_model_lock = threading.Lock()


def _face_model():
    global _model
    with _model_lock:
        if _model is None:
            import dlib

            from ferapp.detect.base import dlib_model_path

            _model = dlib.face_recognition_model_v1(
                str(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat"))
            )
        return _model


def face_chip(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """The 150x150 RGB chip dlib's descriptor expects, aligned on the 68 landmarks (None when
    the face cannot be cut)."""
    import dlib

    lm = np.asarray(landmarks, np.float64)
    if image is None or lm.shape != (68, 2) or not np.all(np.isfinite(lm)):
        return None
    x0, y0 = lm.min(axis=0)
    x1, y1 = lm.max(axis=0)
    rect = dlib.rectangle(int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1)))
    shape = dlib.full_object_detection(
        rect, dlib.points([dlib.point(int(round(x)), int(round(y))) for x, y in lm])
    )
    rgb = np.ascontiguousarray(image[:, :, ::-1]) if image.ndim == 3 else np.dstack([image] * 3)
    try:
        return np.asarray(dlib.get_face_chip(rgb, shape, CHIP_SIZE, 0.25))
    except RuntimeError:
        return None


def descriptor(chips: list[np.ndarray]) -> np.ndarray:
    """Mean 128-D descriptor of aligned chips."""
    model = _face_model()
    vecs = [np.asarray(model.compute_face_descriptor(np.ascontiguousarray(c)), np.float64) for c in chips]
    return np.mean(vecs, axis=0)


class DriverIdentity:
    """The calibrated driver's reference chips and the decision about a new track.

    ``compare`` is injectable (tests): ``compare(reference_chips, candidate_chips) -> distance``.
    """

    def __init__(self, threshold: float, frames: int = 3, compare=None):
        self.threshold = float(threshold)
        self.frames = max(1, int(frames))
        self._compare = compare or (lambda a, b: float(np.linalg.norm(descriptor(a) - descriptor(b))))
        self.reference: list[np.ndarray] = []
        self.candidate: list[np.ndarray] | None = None  # chips of a track being checked
        self.last_distance = float("nan")

    @property
    def has_reference(self) -> bool:
        return bool(self.reference)

    @property
    def pending(self) -> bool:
        return self.candidate is not None

    def clear(self) -> None:
        self.reference.clear()
        self.candidate = None

    def add_reference(self, chip: np.ndarray | None) -> None:
        if chip is not None and len(self.reference) < REFERENCE_CHIPS:
            self.reference.append(chip)

    def begin(self) -> None:
        """A new track appeared: collect its chips (only when there is someone to compare with)."""
        self.candidate = [] if self.reference else None

    def add_candidate(self, chip: np.ndarray | None) -> bool | None:
        """Add one chip of the new track; returns None until decided, then True for the same
        person, False for another one."""
        if self.candidate is None or chip is None:
            return None
        self.candidate.append(chip)
        if len(self.candidate) < self.frames:
            return None
        chips, self.candidate = self.candidate, None
        try:
            self.last_distance = self._compare(self.reference, chips)
        except Exception as e:  # a missing model file must not stop the monitor: keep the driver
            log.warning("driver identity check failed (%s); keeping the current calibration", e)
            return True
        same = self.last_distance <= self.threshold
        log.info(
            "new face track: descriptor distance %.3f -> %s",
            self.last_distance,
            "same driver" if same else "another person",
        )
        return same
