"""Driver-monitoring state machine: calibration, blinks, PERCLOS, yawns, gaze-off-road, alerts.

:class:`DriverMonitor` is fed one frame at a time (time stamp, the driver's 68 landmarks or
None, the frame size and optionally the expression probabilities) and keeps everything that
needs memory across frames. It is Qt-free and single-threaded: call it from one thread (the
inference thread as a pipeline post-processor); the :class:`DriverState` it returns is frozen
and safe to hand to the GUI thread.

Thresholds: every rule is live from the first frame with a face. Until this driver's
calibration completes, the eyes count as closed below the population EAR threshold
(``ear_closed_population``) and the head pose is taken relative to the median pose seen so
far. Calibration needs ``calibration_s`` seconds *of face while looking ahead* (the time
between processed frames that both show the face, up to 1 s each; frames without the face and
glances beyond the distraction limits add nothing), then learns the open-eye EAR baseline
(median) and the neutral head pose (median yaw/pitch; the camera is rarely straight ahead of
the driver): from then on the eyes count as closed when EAR < ``ear_closed_ratio`` x baseline
(P80-style) and the distraction rule uses the pose relative to the neutral one.
``DriverState.thresholds`` says which set is in force.

Calibration belongs to a person, not to a track or a run: a blink, a head turn or a lost face
never restarts it. A new face track (the tracker gave the face a new id) is compared with the
calibrated driver by face descriptors (``ferapp.monitor.identity``); only another person
restarts calibration (:meth:`DriverMonitor.new_person`). :meth:`DriverMonitor.new_drive`
(the GUI's Start on a source) starts a new event log and keeps the person, to be confirmed
by the same check on the first face.

Definitions:
- blink: an eye closure that ends before ``drowsy_closed_s``; ``blink_rate`` = blinks per
  minute over the last ``blink_rate_window_s`` (or since the first face, if shorter).
- PERCLOS: fraction of *observed* time (frames with a face) within the last
  ``perclos_window_s`` seconds during which the eyes were closed (sample-and-hold between
  frames). It alerts only once ``perclos_min_observed_s`` seconds have been observed.
- yawn: inner-mouth MAR above ``mar_yawn`` for at least ``yawn_min_s``.
- looking away: |yaw| > ``yaw_limit_deg`` or pitch < -``pitch_down_deg`` (relative to the
  neutral pose); ``looking_away_s`` is the cumulative time spent so.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from ferapp.labels import LABEL_INDEX
from ferapp.monitor.driver_types import NAN, DriverMonitorConfig, DriverState, driver_extras
from ferapp.monitor.identity import REFERENCE_CHIPS, DriverIdentity, face_chip
from ferapp.monitor.measures import measure_face
from ferapp.monitor.rules import AlertEvent, HysteresisLatch, PerclosWindow, SustainedRule
from ferapp.types import FaceResult, FrameResult

# DriverMonitorConfig, DriverState and driver_extras live in ferapp.monitor.driver_types (re-exported)
CHIP_SPACING_S = 0.15  # seconds between the face chips of a new track that decide who it is
FRONTAL_DEG = 30.0  # identity chips only from faces within this yaw and pitch of the camera axis
__all__ = ["DriverMonitor", "DriverMonitorConfig", "DriverState", "driver_extras"]


@dataclass
class _Frame:
    """One update's time, the time since the previous update and the events it starts and ends."""

    t: float
    dt: float
    started: list[AlertEvent] = field(default_factory=list)
    ended: list[AlertEvent] = field(default_factory=list)


class DriverMonitor:
    """Stateful driver monitor; see the module docstring. Not thread-safe."""

    _closure_start: float | None  # start of the current eye closure (set by new_person and _reset_drive)

    def __init__(self, config: DriverMonitorConfig | None = None, identity: DriverIdentity | None = None):
        """``identity``: the who-is-driving check (default: dlib face descriptors with the
        config's ``person_distance``); tests inject one with their own comparison."""
        self.config = config or DriverMonitorConfig()
        c = self.config
        self.identity = identity or DriverIdentity(c.person_distance, c.identity_frames)
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Forget everything: the events of this drive and the calibrated driver."""
        self._reset_person()
        self._reset_drive()

    def new_drive(self) -> None:
        """A new run (the GUI's Start): a new event log, blink count, PERCLOS window and face
        track; the calibrated driver is kept, and the first face is checked to be the same
        person (another one restarts calibration)."""
        self._reset_drive()
        self._check_first = self.identity.has_reference

    def new_person(self, chips: list | None = None) -> None:
        """Another driver: calibration starts again (population thresholds meanwhile).
        ``chips``: face chips of the new person, kept as the start of the new reference."""
        self._reset_person()
        for chip in chips or ():
            self.identity.add_reference(chip)
        self._apply_thresholds()
        # eyes "closed" by the previous driver's thresholds while this one was being recognised
        # were not closed: no blink, no closure carried over
        self._eyes.reset()
        self._closure_start = None

    recalibrate = new_person

    def _reset_person(self) -> None:
        self.identity.clear()
        self._calib_observed = 0.0
        self._calib_ear: list[float] = []
        self._calib_yaw: list[float] = []
        self._calib_pitch: list[float] = []
        self.calibrated = False
        self.ear_baseline = NAN
        self.yaw0 = 0.0
        self.pitch0 = 0.0

    def _reset_drive(self) -> None:
        c = self.config
        sev = c.severities
        self._rules = {
            "drowsy": SustainedRule("drowsy", c.drowsy_closed_s, c.cooldown_s, sev["drowsy"], "min"),
            "perclos": SustainedRule("perclos", 0.0, c.cooldown_s, sev["perclos"], "max"),
            "yawn": SustainedRule("yawn", c.yawn_min_s, c.cooldown_s, sev["yawn"], "max"),
            "distraction": SustainedRule(
                "distraction", c.distraction_s, c.cooldown_s, sev["distraction"], "max"
            ),
            "face_lost": SustainedRule("face_lost", c.face_lost_s, c.cooldown_s, sev["face_lost"], "max"),
            "emotion": SustainedRule("emotion", c.emotion_s, c.cooldown_s, sev["emotion"], "max"),
        }
        self._eyes = HysteresisLatch(0.0, 0.0, above=False)
        self._apply_thresholds()
        self._mouth = HysteresisLatch(c.mar_yawn, c.mar_yawn - c.mar_margin, above=True)
        self._perclos_latch = HysteresisLatch(c.perclos_threshold, c.perclos_threshold - c.perclos_margin)
        self._emotion_latch = HysteresisLatch(c.emotion_prob, c.emotion_prob - c.emotion_margin)
        self._away = False
        self._perclos = PerclosWindow(c.perclos_window_s)
        self._closed_events: list[AlertEvent] = []
        self._prev_t: float | None = None
        self._prev_face = False  # the previous update had the driver's face
        self._first_face_t: float | None = None
        self._prev_observed_closed: bool | None = None  # eye state of the previous observed frame
        self._lost_since: float | None = None
        self._closure_start = None
        self._mouth_start: float | None = None
        self._yawn_counted = False
        self._blink_times: deque[float] = deque()
        self.blinks = 0
        self.yawns = 0
        self.looking_away_s = 0.0
        self._driver_id = -1
        self._check_first = False
        self._last_chip_t = -math.inf
        self.identity.candidate = None
        self._last_state: DriverState | None = None

    def _apply_thresholds(self) -> None:
        """Eye thresholds of the set in force: this driver's once calibrated, else the population's."""
        c = self.config
        if self.calibrated:
            enter, leave = (
                self.ear_baseline * c.ear_closed_ratio,
                self.ear_baseline * (c.ear_closed_ratio + c.ear_open_margin),
            )
        else:
            enter = c.ear_closed_population
            leave = enter * (c.ear_closed_ratio + c.ear_open_margin) / c.ear_closed_ratio
        self._eyes.set_thresholds(enter, leave)

    @property
    def events(self) -> list[AlertEvent]:
        """All events so far, closed ones and open ones (end=None), ordered by start."""
        return sorted(self._closed_events + self.open_events, key=lambda e: (e.start, e.type))

    @property
    def open_events(self) -> list[AlertEvent]:
        return [r.event for r in self._rules.values() if r.event is not None]

    @property
    def state(self) -> DriverState | None:
        return self._last_state

    @property
    def last_t(self) -> float | None:
        """Time of the last update (None before the first)."""
        return self._prev_t

    def finish(self, t: float | None = None) -> list[AlertEvent]:
        """End of a session: close every open event at ``t`` (default: the last update's time)
        and return ALL events of the session (now all closed), ordered by start."""
        if t is None:
            t = self._prev_t if self._prev_t is not None else 0.0
        closed = [e for e in (r.close(t) for r in self._rules.values()) if e is not None]
        self._closed_events.extend(closed)
        return self.events

    # ------------------------------------------------------------------ per frame
    def update(
        self,
        t: float,
        landmarks: np.ndarray | None,
        frame_shape: tuple[int, ...] = (480, 640),
        probs: np.ndarray | None = None,
    ) -> DriverState:
        t = float(t)
        fr = _Frame(t, 0.0 if self._prev_t is None else max(0.0, t - self._prev_t))
        m = None
        if landmarks is not None:
            lm = np.asarray(landmarks, dtype=np.float64)
            if lm.shape == (68, 2) and np.all(np.isfinite(lm)):
                m = measure_face(lm, frame_shape)
        if m is not None:
            self._observe_face(fr, m, probs)
        else:
            self._observe_loss(fr)

        # PERCLOS over the sliding window
        perclos, observed = self._perclos.value(t)
        perclos_on = self._perclos_latch.update(perclos) and observed >= self.config.perclos_min_observed_s
        self._feed(fr, "perclos", perclos_on, perclos)
        blink_rate = self._blink_rate(t)
        self._prev_t = t
        self._prev_face = m is not None
        self._last_state = self._make_state(fr, m, perclos, blink_rate)
        return self._last_state

    def _feed(
        self, fr: _Frame, name: str, on: bool, value: float = NAN, detail: str = "", at: float | None = None
    ) -> None:
        """Feed one rule for this frame; collect the events it starts and ends."""
        s, e = self._rules[name].update(fr.t if at is None else at, on, value, detail)
        if s is not None:
            fr.started.append(s)
        if e is not None:
            fr.ended.append(e)
            self._closed_events.append(e)

    def _observe_face(self, fr: _Frame, m, probs: np.ndarray | None) -> None:
        """A frame with the driver's face: calibration, eyes, mouth, head pose, emotion."""
        t = fr.t
        # sample-and-hold PERCLOS segment from the previous observed frame
        if self._prev_observed_closed is not None and self._lost_since is None and self._prev_t is not None:
            self._perclos.add(self._prev_t, t, self._prev_observed_closed)
        self._lost_since = None
        if self._first_face_t is None:
            self._first_face_t = t
        self._feed(fr, "face_lost", False)
        # seconds of face since the previous frame, if that frame had the face too (a live
        # runner on a slow CPU processes a few frames a second: their spacing counts, up to 1 s)
        self._calibrate(m, min(fr.dt, 1.0) if self._prev_face else 0.0)
        closed = self._update_eyes(fr, m.ear)
        self._update_mouth(fr, m.mar)
        self._update_pose(fr, m.yaw - self.yaw0, m.pitch - self.pitch0)
        self._update_emotion(fr, probs)
        self._prev_observed_closed = closed

    def _update_eyes(self, fr: _Frame, ear: float) -> bool:
        """Eye closure episodes -> blinks and drowsiness; returns whether the eyes are closed."""
        t = fr.t
        closed = self._eyes.update(ear)
        if closed and self._closure_start is None:
            self._closure_start = t
        elif not closed and self._closure_start is not None:
            if t - self._closure_start < self.config.drowsy_closed_s:
                self.blinks += 1
                self._blink_times.append(t)
            self._closure_start = None
        self._feed(fr, "drowsy", closed, ear)
        return closed

    def _update_mouth(self, fr: _Frame, mar: float) -> None:
        """Mouth open long enough -> one yawn."""
        t = fr.t
        yawning = self._mouth.update(mar)
        if yawning:
            if self._mouth_start is None:
                self._mouth_start, self._yawn_counted = t, False
            if not self._yawn_counted and t - self._mouth_start >= self.config.yawn_min_s - 1e-9:
                self.yawns += 1
                self._yawn_counted = True
        else:
            self._mouth_start = None
        self._feed(fr, "yawn", yawning, mar)

    def _update_pose(self, fr: _Frame, yaw_rel: float, pitch_rel: float) -> None:
        """Head pose relative to the neutral one -> looking away (with a margin to leave)."""
        c = self.config
        if not (math.isnan(yaw_rel) or math.isnan(pitch_rel)):
            if self._away:
                m_ = c.pose_margin_deg
                self._away = abs(yaw_rel) >= c.yaw_limit_deg - m_ or -pitch_rel >= c.pitch_down_deg - m_
            else:
                self._away = abs(yaw_rel) > c.yaw_limit_deg or -pitch_rel > c.pitch_down_deg
        if self._away:
            self.looking_away_s += fr.dt
        off_angle = max(abs(yaw_rel), -pitch_rel) if not math.isnan(yaw_rel) else NAN
        if -pitch_rel > c.pitch_down_deg and -pitch_rel >= abs(yaw_rel):
            where = "down"
        else:
            where = "left" if yaw_rel > 0 else "right"
        self._feed(fr, "distraction", self._away, off_angle, f"looking {where}" if self._away else "")

    def _update_emotion(self, fr: _Frame, probs: np.ndarray | None) -> None:
        """The most likely of the watched expressions, latched over its threshold."""
        labels = self.config.emotion_labels
        if probs is not None and len(labels):
            p = np.asarray(probs, dtype=np.float64).ravel()
            idx = [LABEL_INDEX[n] for n in labels]
            k = int(np.argmax(p[idx]))
            emo_p, emo_label = float(p[idx][k]), labels[k]
            emo_on = self._emotion_latch.update(emo_p)
        else:
            self._emotion_latch.reset()
            emo_on, emo_p, emo_label = False, NAN, ""
        self._feed(fr, "emotion", emo_on, emo_p, emo_label if emo_on else "")

    def _observe_loss(self, fr: _Frame) -> None:
        """A frame without the face: face_lost, and after ``face_gap_s`` the face episodes end."""
        t = fr.t
        if self._lost_since is None:
            self._lost_since = t
            if self._prev_observed_closed is not None and self._prev_t is not None:
                self._perclos.add(self._prev_t, t, self._prev_observed_closed)
        lost_for = t - self._lost_since
        self._feed(fr, "face_lost", True, lost_for)
        if lost_for >= self.config.face_gap_s - 1e-9:
            # a real loss, not a detector hiccup: eye/mouth/pose episodes end where the face went
            for name in ("drowsy", "yawn", "distraction", "emotion"):
                self._feed(fr, name, False, at=self._lost_since)
            self._eyes.reset()
            self._mouth.reset()
            self._emotion_latch.reset()
            self._away = False
            self._closure_start = self._mouth_start = None
            self._prev_observed_closed = None

    def _blink_rate(self, t: float) -> float:
        """Blinks per minute over the last ``blink_rate_window_s`` (or since the first face)."""
        window = self.config.blink_rate_window_s
        while self._blink_times and self._blink_times[0] < t - window:
            self._blink_times.popleft()
        if self._first_face_t is None:
            return 0.0
        return len(self._blink_times) * 60.0 / min(window, max(t - self._first_face_t, 1.0))

    def _make_state(self, fr: _Frame, m, perclos: float, blink_rate: float) -> DriverState:
        c = self.config
        open_events = tuple(self.open_events)
        return DriverState(
            t=fr.t,
            face=m is not None,
            ear=m.ear if m else NAN,
            ear_left=m.ear_left if m else NAN,
            ear_right=m.ear_right if m else NAN,
            mar=m.mar if m else NAN,
            yaw=m.yaw if m else NAN,
            pitch=m.pitch if m else NAN,
            roll=m.roll if m else NAN,
            eyes_closed=self._eyes.on,
            perclos=perclos,
            blinks=self.blinks,
            blink_rate=blink_rate,
            yawns=self.yawns,
            looking_away=self._away,
            looking_away_s=self.looking_away_s,
            calibrated=self.calibrated,
            calibration_progress=self._calibration_progress(),
            ear_baseline=self.ear_baseline,
            ear_threshold=self._eyes.enter,
            mar_threshold=c.mar_yawn,
            perclos_threshold=c.perclos_threshold,
            thresholds="calibrated" if self.calibrated else "population",
            alerts=tuple(e.type for e in open_events),
            open_events=open_events,
            started=tuple(fr.started),
            ended=tuple(fr.ended),
        )

    def _calibration_progress(self) -> float:
        if self.calibrated:
            return 1.0
        if self.config.calibration_s <= 0:
            return 0.0
        return min(1.0, self._calib_observed / self.config.calibration_s)

    def _calibrate(self, m, face_dt: float) -> None:
        """Learn from frames where the driver looks ahead: within the distraction limits of the
        neutral pose so far (the first frame's pose, then the median of the accepted ones), so
        a glance away during calibration neither counts nor drags the neutral pose along."""
        if self.calibrated:
            return
        c = self.config
        if math.isfinite(m.yaw) and math.isfinite(m.pitch):
            if (
                self._calib_yaw
                and c.calibrate_pose
                and (abs(m.yaw - self.yaw0) > c.yaw_limit_deg or self.pitch0 - m.pitch > c.pitch_down_deg)
            ):
                return  # looking away: not a sample of the neutral pose or of open eyes
            self._calib_yaw.append(m.yaw)
            self._calib_pitch.append(m.pitch)
            if c.calibrate_pose:  # provisional neutral: the median pose so far
                self.yaw0 = float(np.median(self._calib_yaw))
                self.pitch0 = float(np.median(self._calib_pitch))
        if math.isfinite(m.ear):
            self._calib_ear.append(m.ear)
        self._calib_observed += face_dt
        if self._calib_observed < c.calibration_s - 1e-9:
            return
        base = float(np.median(self._calib_ear)) if self._calib_ear else c.ear_baseline_default
        self.ear_baseline = float(np.clip(base, c.ear_baseline_min, c.ear_baseline_max))
        self.calibrated = True
        self._apply_thresholds()  # an eye closure in progress stays one closure

    # ------------------------------------------------------------------ pipeline hook
    def process(self, result: FrameResult) -> FrameResult:
        """Pipeline post-processor: monitor the driver face and annotate the result.

        The driver is the face tracked so far (same ``face_id``) or else the largest face with
        landmarks. Its FaceResult gets extras ``ear, mar, yaw, pitch, roll, perclos, event``;
        ``result.extras["driver"]`` gets the :class:`DriverState`. A face with a new track id
        is checked to be the calibrated driver (see the module docstring).
        """
        candidates = [(i, fr) for i, fr in enumerate(result.faces) if fr.face.landmarks is not None]
        chosen = None
        if self._driver_id >= 0:
            chosen = next(((i, fr) for i, fr in candidates if fr.face.face_id == self._driver_id), None)
        if chosen is None and candidates:
            chosen = max(candidates, key=lambda item: item[1].face.box[2] * item[1].face.box[3])
        frame = result.frame
        if chosen is None:
            state = self.update(frame.timestamp, None, frame.shape, None)
            return replace(result, extras={**result.extras, "driver": state})
        i, fr = chosen
        if fr.face.face_id != self._driver_id:
            if self._driver_id >= 0 or self._check_first:
                self.identity.begin()  # who is this? decided on its first near-frontal frames
                self._last_chip_t = -math.inf
            self._check_first = False
            self._driver_id = fr.face.face_id
        probs = fr.expression.probs if fr.expression is not None else None
        state = self.update(frame.timestamp, fr.face.landmarks, frame.shape, probs)
        self._follow_identity(frame.image, fr.face.landmarks, state)
        extras = {**fr.extras, **driver_extras(state)}
        faces = list(result.faces)
        faces[i] = FaceResult(fr.face, fr.expression, extras)
        return replace(result, faces=tuple(faces), extras={**result.extras, "driver": state})

    def _follow_identity(self, image, landmarks, state: DriverState) -> None:
        """Keep reference chips while calibrating; decide about a new track (faces within 30
        degrees of the camera's axis only: a profile says little about who it is)."""
        if not state.face or not (abs(state.yaw) <= FRONTAL_DEG and abs(state.pitch) <= FRONTAL_DEG):
            return
        ident = self.identity
        if ident.pending:
            if state.t - self._last_chip_t < CHIP_SPACING_S:
                return  # chips a little apart say more than consecutive, near-identical frames
            self._last_chip_t = state.t
            chip = face_chip(image, landmarks)
            chips = [*(ident.candidate or ()), chip] if chip is not None else []
            if ident.add_candidate(chip) is False:
                self.new_person(chips)
            return
        due = len(ident.reference) * self.config.calibration_s / REFERENCE_CHIPS
        if not self.calibrated and len(ident.reference) < REFERENCE_CHIPS and self._calib_observed >= due:
            ident.add_reference(face_chip(image, landmarks))

    __call__ = process
