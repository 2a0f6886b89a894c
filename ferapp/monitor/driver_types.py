"""The driver monitor's data: its thresholds (:class:`DriverMonitorConfig`) and the frozen
snapshot it returns after each update (:class:`DriverState`), plus the per-face recording
columns derived from a snapshot. Qt-free; see ``ferapp.monitor.state`` for the rules."""

from __future__ import annotations

from dataclasses import dataclass, field

from ferapp.labels import LABEL_INDEX
from ferapp.monitor.rules import AlertEvent

NAN = float("nan")


@dataclass(frozen=True)
class DriverMonitorConfig:
    """Every threshold of the driver monitor (seconds, degrees, ratios).

    Until a driver's calibration completes the *population* thresholds are in force
    (``ear_closed_population`` for the eyes; the pose is relative to the median pose seen so
    far); after ``calibration_s`` seconds with this driver's face they are replaced by
    thresholds relative to his or her own open-eye EAR and neutral pose. Where each default
    comes from is written beside it and in the README ("Driver monitoring").
    """

    calibration_s: float = 3.0  # seconds of face (not of clock) that calibrate one driver
    # Eyes closed before calibration: EAR < 0.18. The usual fixed threshold is 0.2 (open eyes
    # 0.25-0.35, Soukupova & Cech 2016); on the nine real webcam clips of ../shared/videos
    # (three people, faces 60-80 px, eyes open; median EAR 0.26) 0.20 counted 26% of one
    # signer's frames (eat.mkv) as closed and 0.18 at most 9% (longest run 0.13 s).
    ear_closed_population: float = 0.18
    ear_baseline_default: float = 0.28  # used if calibration saw no usable eye samples
    ear_baseline_min: float = 0.15  # calibrated baseline is clipped into [min, max]
    ear_baseline_max: float = 0.45
    ear_closed_ratio: float = 0.75  # closed when EAR < ratio * baseline
    ear_open_margin: float = 0.05  # open again when EAR > (ratio + margin) * baseline
    drowsy_closed_s: float = 1.5
    blink_rate_window_s: float = 60.0
    perclos_window_s: float = 60.0
    perclos_threshold: float = 0.15  # PERCLOS > 0.15 ~ drowsy (Wierwille et al. 1994; Dinges & Grace 1998)
    perclos_margin: float = 0.03  # PERCLOS alert ends below threshold - margin
    perclos_min_observed_s: float = 20.0
    # Inner-lip MAR of a yawn: on the nine real clips (signing, mouths moving; 629 frames) 99%
    # of frames are below 0.25 and one frame is above 0.6 (book.mkv, 0.65); a yawn needs 1 s.
    mar_yawn: float = 0.6
    mar_margin: float = 0.1  # yawn ends when MAR < mar_yawn - margin
    yawn_min_s: float = 1.0
    yaw_limit_deg: float = 30.0
    pitch_down_deg: float = 20.0
    pose_margin_deg: float = 5.0  # back on the road when inside the limits by this margin
    distraction_s: float = 2.0  # NHTSA visual-manual guidelines (2013): glances off the road <= 2 s
    calibrate_pose: bool = True
    face_lost_s: float = 2.0
    face_gap_s: float = 0.5  # detector drop-outs shorter than this do not interrupt eye/mouth rules
    emotion_labels: tuple[str, ...] = ("angry", "fear", "sad")
    emotion_prob: float = 0.5  # watched label's probability must exceed this ...
    emotion_margin: float = 0.1  # ... and the episode ends below emotion_prob - margin
    emotion_s: float = 5.0
    cooldown_s: float = 5.0  # after an alert ends, the same type stays quiet this long
    # Who is driving (``ferapp.monitor.identity``): a new track is another person when the mean
    # dlib face descriptor of its first ``identity_frames`` near-frontal frames lies farther
    # than ``person_distance`` from the calibrated driver's. Measured on the nine real clips
    # (three signers, faces 60-80 px): same person 0.09-0.45, different people 0.47-0.68.
    person_distance: float = 0.46
    identity_frames: int = 3
    severities: dict = field(
        default_factory=lambda: {
            "drowsy": "critical",
            "perclos": "critical",
            "yawn": "warning",
            "distraction": "warning",
            "face_lost": "warning",
            "emotion": "warning",
        }
    )

    def __post_init__(self):
        unknown = [n for n in self.emotion_labels if n not in LABEL_INDEX]
        if unknown:
            raise ValueError(f"unknown emotion labels {unknown}; known: {sorted(LABEL_INDEX)}")
        if not 0 < self.ear_closed_ratio < 1:
            raise ValueError("ear_closed_ratio must be in (0, 1)")


@dataclass(frozen=True)
class DriverState:
    """Snapshot after one update (measures are NaN when no face was seen)."""

    t: float
    face: bool
    ear: float
    ear_left: float
    ear_right: float
    mar: float
    yaw: float
    pitch: float
    roll: float
    eyes_closed: bool
    perclos: float
    blinks: int
    blink_rate: float
    yawns: int
    looking_away: bool
    looking_away_s: float
    calibrated: bool
    calibration_progress: float  # 0..1
    ear_baseline: float  # the calibrated open-eye EAR (NaN before calibration)
    ear_threshold: float  # EAR below which eyes count as closed (population value before calibration)
    mar_threshold: float
    perclos_threshold: float
    thresholds: str = "population"  # "population" defaults or "calibrated" for this driver
    alerts: tuple[str, ...] = ()  # types of alerts active now
    open_events: tuple[AlertEvent, ...] = ()
    started: tuple[AlertEvent, ...] = ()  # events that opened in this update
    ended: tuple[AlertEvent, ...] = ()  # events that closed in this update

    @property
    def event_text(self) -> str:
        """Comma-joined active alert types ("" when none): the ``event`` recording column."""
        return ",".join(self.alerts)


def driver_extras(state: DriverState) -> dict:
    """The per-face recording columns (see ``ferapp.monitor.events.DRIVER_COLUMNS``)."""
    return {
        "ear": state.ear,
        "mar": state.mar,
        "yaw": state.yaw,
        "pitch": state.pitch,
        "roll": state.roll,
        "perclos": state.perclos,
        "event": state.event_text,
    }
