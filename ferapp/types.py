"""Small frozen result types shared by capture, detection, inference, recording and the GUI.

They carry numpy arrays; treat them as immutable (the runner never mutates an array after
wrapping it in one of these).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ferapp.labels import LABELS


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame from a source. ``image`` is BGR uint8 (H, W, 3)."""

    image: np.ndarray
    index: int  # 0-based frame counter within the source
    timestamp: float  # seconds since the source started (media time for files)
    wall_time: float  # time.time() when captured
    name: str | None = None  # file name for image sources
    still: bool = False  # a photo (image / folder source): never tracked from one frame to the next

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]


@dataclass(frozen=True, slots=True)
class Face:
    """A detected face. ``box`` is (x, y, w, h) in frame pixels."""

    box: tuple[int, int, int, int]
    score: float = 1.0
    landmarks: np.ndarray | None = None  # (68, 2) float32 in frame pixels
    face_id: int = -1


@dataclass(frozen=True, slots=True)
class Expression:
    """Class probabilities in canonical LABELS order."""

    probs: np.ndarray  # (7,) float32, sums to 1

    @property
    def index(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def label(self) -> str:
        return LABELS[self.index]

    @property
    def confidence(self) -> float:
        return float(self.probs[self.index])


@dataclass(frozen=True, slots=True)
class FaceResult:
    face: Face
    expression: Expression | None
    extras: dict = field(default_factory=dict)  # e.g. driver-monitoring measures


@dataclass(frozen=True, slots=True)
class FrameResult:
    """Everything the pipeline learned about one processed frame."""

    frame: Frame
    faces: tuple[FaceResult, ...]
    model: str
    detector: str
    source: str
    latency_s: float = 0.0  # capture -> result
    extras: dict = field(default_factory=dict)
