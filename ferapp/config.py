"""ferapp's settings: one typed, frozen object with every default of the app, in one place.

    from ferapp.config import settings
    settings().detection.detector        # "hog"
    settings().inference.smoothing(live=True)

``settings()`` is the one accessor. The CLI (its parsers and help texts), the window (its
remembered QSettings fall back to these values, ``ferapp.gui.settings``), the pipeline, the
face finder, the detectors and batch analysis read their defaults from it at the moment they
need them (a parameter left at ``None`` means "the setting"), never from a literal of their
own. Change a default here and every one of them follows; ``overridden(...)`` swaps the object
for a block of code (tests, an embedding program).

Sections: ``detection`` (which detector, smallest face, scan pixel cap), ``tracking`` (how the
face finder scans, re-confirms and keeps faces), ``inference`` (device, CPU threads, smoothing),
``recording`` and ``display`` (the window's defaults).

Smoothing has two defaults, one per use, on purpose: a live view (the window, and its
recordings, which record what is shown) smooths each face's probabilities with an EMA of 0.6,
because raw per-frame labels flicker between neighbouring classes and are hard to read; an
analysis of a file (``ferapp analyze``, batch analysis, the window's File > Analyze, the
pipeline with ``realtime=False``) writes the raw per-frame numbers (0.0): a timeline is a
measurement, smoothing cannot be undone afterwards, and the reader can smooth as they like.
Both are written in the sidecar's ``smoothing`` key.

Why frozen dataclasses and not pydantic-settings: the CLI reads these defaults to build its
parsers before it loads dlib, OpenCV or torch, so this module imports only the standard
library (``ferapp --help`` costs 0.5 CPU-s; pydantic and pydantic-core are not installed and
would be a new dependency and a few hundred ms of import for every start). pydantic-settings'
strength is reading a configuration from environment variables and files, which ferapp does not
do for these values: a user changes them per run with command-line flags, and the window
remembers its own in QSettings; the few environment overrides ferapp has (folders,
``FERAPP_TORCH_THREADS``) stay where they are documented (``ferapp.paths``, ``torch_threads``).
Validation is ``__post_init__`` on each section: a bad default fails at import, loudly.

Not here: the driver monitor's thresholds. They stay in ``ferapp.monitor.DriverMonitorConfig``
(also a frozen dataclass, one place): they are the parameters of the alert rules, each measured
and documented beside its value, tested with the rules, and none of them is a user setting (no
flag, no window control, nothing remembered); the only driver setting a user has is on/off
(``--driver``, the Driver button). Moving ~40 thresholds here would separate them from the rules
they parameterise and make this light module depend on the monitor. The training schema
(``ferapp.train.options``) is likewise its own typed object.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


def _check(ok: bool, what: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"setting {what} is out of range: {value!r}")


@dataclass(frozen=True)
class Detection:
    """The face detector and the smallest face it looks for."""

    detector: str = "hog"  # dlib HOG: the fastest robust one on a CPU (see ferapp.detect.detectors)
    # Smallest face width found, in frame pixels: a person ~2 m from a 640x480 webcam, or 2-4
    # people at one camera. HOG then scans 640x480 frames at 1.5x (see ferapp/detect/detectors.py).
    min_face: float = 40.0
    min_face_range: tuple[float, float] = (8.0, 4096.0)  # what --min-face and the detectors accept
    # Pixels scanned per full-frame pass (1280x720 at min_face 40 is 3.7 MP); a cap that bites
    # raises the smallest face found (``effective_min_face``). The CNN detector has its own cap.
    max_pixels: int = 4_000_000

    def __post_init__(self) -> None:
        lo, hi = self.min_face_range
        _check(0 < lo <= hi, "detection.min_face_range", self.min_face_range)
        _check(lo <= self.min_face <= hi, "detection.min_face", self.min_face)
        _check(self.max_pixels > 0, "detection.max_pixels", self.max_pixels)
        _check(bool(self.detector), "detection.detector", self.detector)


@dataclass(frozen=True)
class Tracking:
    """How the face finder (``ferapp.detect.finder``) and tracker (``ferapp.detect.tracker``) work."""

    scan_every: int = 30  # full-frame scan every N frames while faces are tracked (every frame otherwise)
    verify_every: int = 10  # re-confirm each tracked face with the detector every N frames
    max_unconfirmed: int = 3  # a face failing this many re-confirmations in a row is dropped
    scan_delay: int = 8  # batch analysis merges a background scan exactly N frames after it started
    iou_threshold: float = 0.3  # a detection continues a track when their boxes overlap this much
    max_distance: float = 0.8  # ... or, failing that, its centre moved less than this x the box size
    max_missed: int = 45  # updates (frames) a lost face keeps its id: 1.5 s at 30 fps

    def __post_init__(self) -> None:
        for name in ("scan_every", "verify_every", "max_unconfirmed", "scan_delay", "max_missed"):
            _check(getattr(self, name) >= 1, f"tracking.{name}", getattr(self, name))
        _check(0.0 < self.iou_threshold <= 1.0, "tracking.iou_threshold", self.iou_threshold)
        _check(self.max_distance > 0, "tracking.max_distance", self.max_distance)


@dataclass(frozen=True)
class Inference:
    """Where and how the expression model runs, and how its output is smoothed over time."""

    device: str = "auto"  # auto (CUDA when available, else CPU), cpu, cuda or cuda:N
    # torch's CPU threads; None: FERAPP_TORCH_THREADS, else the cores less one (the window keeps one)
    threads: int | None = None
    live_smoothing: float = 0.6  # per-face EMA of a live view (see the module docstring)
    analysis_smoothing: float = 0.0  # per-frame analysis of a file: the raw numbers

    def __post_init__(self) -> None:
        for name in ("live_smoothing", "analysis_smoothing"):
            v = getattr(self, name)
            _check(isinstance(v, int | float) and 0.0 <= v < 1.0, f"inference.{name}", v)
        _check(self.threads is None or self.threads >= 1, "inference.threads", self.threads)

    def smoothing(self, live: bool) -> float:
        """The smoothing default of a live view (``live``) or of a file's analysis."""
        return float(self.live_smoothing if live else self.analysis_smoothing)

    def torch_threads(self) -> int:
        """torch's CPU thread count: ``threads``, else FERAPP_TORCH_THREADS (a positive integer;
        anything else is ignored with a warning), else the cores less one, at least 1."""
        if self.threads is not None:
            return int(self.threads)
        env = os.environ.get("FERAPP_TORCH_THREADS", "").strip()
        if env:
            if env.isdigit() and int(env) >= 1:
                return int(env)
            log.warning("FERAPP_TORCH_THREADS=%r is not a positive integer; ignored", env)
        return max(1, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True)
class Recording:
    """The window's Record defaults."""

    video: bool = False  # also record the annotated video (an MP4 beside the timeline)
    fallback_fps: float = 30.0  # a video's frame rate when the source does not say its own

    def __post_init__(self) -> None:
        _check(
            math.isfinite(self.fallback_fps) and self.fallback_fps > 0,
            "recording.fallback_fps",
            self.fallback_fps,
        )


@dataclass(frozen=True)
class Display:
    """The window's live display defaults."""

    landmarks: bool = True  # draw the 68 landmarks on each face


@dataclass(frozen=True)
class Settings:
    detection: Detection = field(default_factory=Detection)
    tracking: Tracking = field(default_factory=Tracking)
    inference: Inference = field(default_factory=Inference)
    recording: Recording = field(default_factory=Recording)
    display: Display = field(default_factory=Display)

    def replace(self, **sections: dict[str, Any]) -> Settings:
        """A copy with some fields changed, by section: ``s.replace(detection={"min_face": 30})``."""
        changed: dict[str, Any] = {}
        for name, fields in sections.items():
            section: Any = getattr(self, name, None)
            if not dataclasses.is_dataclass(section) or isinstance(section, type):
                raise ValueError(
                    f"unknown settings section {name!r}; known: "
                    f"{', '.join(f.name for f in dataclasses.fields(self))}"
                )
            changed[name] = dataclasses.replace(section, **fields)
        return dataclasses.replace(self, **changed)


_current = Settings()


def settings() -> Settings:
    """The settings in force: every default of the app (the one accessor)."""
    return _current


@contextlib.contextmanager
def overridden(new: Settings | None = None, /, **sections: dict[str, Any]) -> Iterator[Settings]:
    """Use ``new`` (or the current settings with ``sections`` changed, see ``Settings.replace``)
    for the duration of a ``with`` block; the previous settings are restored however it ends."""
    global _current
    before = _current
    _current = (new or before).replace(**sections)
    try:
        yield _current
    finally:
        _current = before
