"""Driver-monitoring state machine: calibration, blinks, PERCLOS, yawns, gaze-off-road, alerts.

:class:`DriverMonitor` is fed one frame at a time (time stamp, the driver's 68 landmarks or
None, the frame size and optionally the expression probabilities) and keeps everything that
needs memory across frames. It is Qt-free and single-threaded: call it from one thread (the
inference thread as a pipeline post-processor); the :class:`DriverState` it returns is frozen
and safe to hand to the GUI thread.

Per-driver calibration: during the first ``calibration_s`` seconds with a face, the open-eye
EAR baseline (median) and the neutral head pose (median yaw/pitch; the camera is rarely
straight ahead of the driver) are learnt. Eye thresholds are then relative to the baseline
(P80-style: eyes count as closed when EAR < ``ear_closed_ratio`` x baseline) and the
distraction rule uses the pose relative to the neutral one. Eye rules are inactive until
calibration completes.

Definitions:
- blink: an eye closure that ends before ``drowsy_closed_s``; ``blink_rate`` = blinks per
  minute over the last ``blink_rate_window_s`` (or since calibration, if shorter).
- PERCLOS: fraction of *observed* time (frames with a face, after calibration) within the last
  ``perclos_window_s`` seconds during which the eyes were closed (sample-and-hold between
  frames). It alerts only once ``perclos_min_observed_s`` seconds have been observed.
- yawn: inner-mouth MAR above ``mar_yawn`` for at least ``yawn_min_s``.
- looking away: |yaw| > ``yaw_limit_deg`` or pitch < -``pitch_down_deg`` (relative to the
  calibrated neutral pose); ``looking_away_s`` is the cumulative time spent so.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace

import numpy as np

from ferapp.labels import LABEL_INDEX
from ferapp.monitor.driver_types import NAN, DriverMonitorConfig, DriverState, driver_extras
from ferapp.monitor.measures import measure_face
from ferapp.monitor.rules import AlertEvent, HysteresisLatch, PerclosWindow, SustainedRule
from ferapp.types import FaceResult, FrameResult

# DriverMonitorConfig, DriverState and driver_extras live in ferapp.monitor.driver_types (re-exported)
__all__ = ["DriverMonitor", "DriverMonitorConfig", "DriverState", "driver_extras"]


class DriverMonitor:
    """Stateful driver monitor; see the module docstring. Not thread-safe."""

    def __init__(self, config: DriverMonitorConfig | None = None):
        self.config = config or DriverMonitorConfig()
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        c = self.config
        sev = c.severities
        self._rules = {
            "drowsy": SustainedRule("drowsy", c.drowsy_closed_s, c.cooldown_s, sev["drowsy"], "min"),
            "perclos": SustainedRule("perclos", 0.0, c.cooldown_s, sev["perclos"], "max"),
            "yawn": SustainedRule("yawn", c.yawn_min_s, c.cooldown_s, sev["yawn"], "max"),
            "distraction": SustainedRule("distraction", c.distraction_s, c.cooldown_s,
                                         sev["distraction"], "max"),
            "face_lost": SustainedRule("face_lost", c.face_lost_s, c.cooldown_s, sev["face_lost"], "max"),
            "emotion": SustainedRule("emotion", c.emotion_s, c.cooldown_s, sev["emotion"], "max"),
        }
        self._eyes = HysteresisLatch(0.0, 0.0, above=False)
        self._mouth = HysteresisLatch(c.mar_yawn, c.mar_yawn - c.mar_margin, above=True)
        self._perclos_latch = HysteresisLatch(c.perclos_threshold, c.perclos_threshold - c.perclos_margin)
        self._emotion_latch = HysteresisLatch(c.emotion_prob, c.emotion_prob - c.emotion_margin)
        self._away = False
        self._perclos = PerclosWindow(c.perclos_window_s)
        self._closed_events: list[AlertEvent] = []
        self._calib_start: float | None = None
        self._calib_ear: list[float] = []
        self._calib_yaw: list[float] = []
        self._calib_pitch: list[float] = []
        self.calibrated = False
        self.calibrated_at = NAN
        self.ear_baseline = NAN
        self.yaw0 = 0.0
        self.pitch0 = 0.0
        self._prev_t: float | None = None
        self._prev_observed_closed: bool | None = None  # eye state of the previous observed frame
        self._lost_since: float | None = None
        self._closure_start: float | None = None
        self._mouth_start: float | None = None
        self._yawn_counted = False
        self._blink_times: deque[float] = deque()
        self.blinks = 0
        self.yawns = 0
        self.looking_away_s = 0.0
        self._driver_id = -1
        self._last_state: DriverState | None = None

    def recalibrate(self) -> None:
        """Forget the baseline; the next ``calibration_s`` seconds with a face set a new one."""
        self.calibrated = False
        self._calib_start = None
        self._calib_ear.clear()
        self._calib_yaw.clear()
        self._calib_pitch.clear()

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
    def update(self, t: float, landmarks: np.ndarray | None, frame_shape: tuple[int, ...] = (480, 640),
               probs: np.ndarray | None = None) -> DriverState:
        c = self.config
        t = float(t)
        dt = 0.0 if self._prev_t is None else max(0.0, t - self._prev_t)
        started: list[AlertEvent] = []
        ended: list[AlertEvent] = []

        def feed(name: str, on: bool, value: float = NAN, detail: str = "", at: float | None = None):
            s, e = self._rules[name].update(t if at is None else at, on, value, detail)
            if s is not None:
                started.append(s)
            if e is not None:
                ended.append(e)
                self._closed_events.append(e)

        have_face = landmarks is not None
        m = None
        if have_face:
            lm = np.asarray(landmarks, dtype=np.float64)
            if lm.shape != (68, 2) or not np.all(np.isfinite(lm)):
                have_face = False
            else:
                m = measure_face(lm, frame_shape)

        if m is not None:
            # sample-and-hold PERCLOS segment from the previous observed frame
            if self._prev_observed_closed is not None and self._lost_since is None and self.calibrated:
                self._perclos.add(self._prev_t, t, self._prev_observed_closed)
            self._lost_since = None
            feed("face_lost", False)
            self._calibrate(t, m)
            yaw_rel, pitch_rel = m.yaw - self.yaw0, m.pitch - self.pitch0

            # eyes: closure episodes -> blinks and drowsiness
            closed = self._eyes.update(m.ear) if self.calibrated else False
            if closed and self._closure_start is None:
                self._closure_start = t
            elif not closed and self._closure_start is not None:
                if t - self._closure_start < c.drowsy_closed_s:
                    self.blinks += 1
                    self._blink_times.append(t)
                self._closure_start = None
            feed("drowsy", closed, m.ear)

            # mouth: yawns
            yawning = self._mouth.update(m.mar)
            if yawning:
                if self._mouth_start is None:
                    self._mouth_start, self._yawn_counted = t, False
                if not self._yawn_counted and t - self._mouth_start >= c.yawn_min_s - 1e-9:
                    self.yawns += 1
                    self._yawn_counted = True
            else:
                self._mouth_start = None
            feed("yawn", yawning, m.mar)

            # head pose: looking away
            if not (math.isnan(yaw_rel) or math.isnan(pitch_rel)):
                if self._away:
                    m_ = c.pose_margin_deg
                    self._away = abs(yaw_rel) >= c.yaw_limit_deg - m_ or -pitch_rel >= c.pitch_down_deg - m_
                else:
                    self._away = abs(yaw_rel) > c.yaw_limit_deg or -pitch_rel > c.pitch_down_deg
            if self._away:
                self.looking_away_s += dt
            off_angle = max(abs(yaw_rel), -pitch_rel) if not math.isnan(yaw_rel) else NAN
            if -pitch_rel > c.pitch_down_deg and -pitch_rel >= abs(yaw_rel):
                where = "down"
            else:
                where = "left" if yaw_rel > 0 else "right"
            feed("distraction", self._away, off_angle, f"looking {where}" if self._away else "")

            # emotion
            if probs is not None and len(c.emotion_labels):
                p = np.asarray(probs, dtype=np.float64).ravel()
                idx = [LABEL_INDEX[n] for n in c.emotion_labels]
                k = int(np.argmax(p[idx]))
                emo_p, emo_label = float(p[idx][k]), c.emotion_labels[k]
                emo_on = self._emotion_latch.update(emo_p)
            else:
                self._emotion_latch.reset()
                emo_on, emo_p, emo_label = False, NAN, ""
            feed("emotion", emo_on, emo_p, emo_label if emo_on else "")
            self._prev_observed_closed = closed
        else:
            if self._lost_since is None:
                self._lost_since = t
                if self._prev_observed_closed is not None and self.calibrated and self._prev_t is not None:
                    self._perclos.add(self._prev_t, t, self._prev_observed_closed)
            lost_for = t - self._lost_since
            feed("face_lost", True, lost_for)
            if lost_for >= c.face_gap_s - 1e-9:
                # a real loss, not a detector hiccup: eye/mouth/pose episodes end where the face went
                for name in ("drowsy", "yawn", "distraction", "emotion"):
                    feed(name, False, at=self._lost_since)
                self._eyes.reset()
                self._mouth.reset()
                self._emotion_latch.reset()
                self._away = False
                self._closure_start = self._mouth_start = None
                self._prev_observed_closed = None

        # PERCLOS over the sliding window
        perclos, observed = self._perclos.value(t)
        perclos_on = self._perclos_latch.update(perclos) and observed >= c.perclos_min_observed_s
        if self._rules["perclos"].active or self.calibrated:
            feed("perclos", perclos_on, perclos)

        # blink rate
        while self._blink_times and self._blink_times[0] < t - c.blink_rate_window_s:
            self._blink_times.popleft()
        if self.calibrated:
            span = min(c.blink_rate_window_s, max(t - self.calibrated_at, 1.0))
            blink_rate = len(self._blink_times) * 60.0 / span
        else:
            blink_rate = 0.0

        self._prev_t = t
        open_events = tuple(self.open_events)
        state = DriverState(
            t=t,
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
            calibration_progress=self._calibration_progress(t),
            ear_baseline=self.ear_baseline,
            ear_threshold=self.ear_baseline * c.ear_closed_ratio if self.calibrated else NAN,
            mar_threshold=c.mar_yawn,
            perclos_threshold=c.perclos_threshold,
            alerts=tuple(e.type for e in open_events),
            open_events=open_events,
            started=tuple(started),
            ended=tuple(ended),
        )
        self._last_state = state
        return state

    def _calibration_progress(self, t: float) -> float:
        if self.calibrated:
            return 1.0
        if self._calib_start is None or self.config.calibration_s <= 0:
            return 0.0
        return min(1.0, (t - self._calib_start) / self.config.calibration_s)

    def _calibrate(self, t: float, m) -> None:
        if self.calibrated:
            return
        c = self.config
        if self._calib_start is None:
            self._calib_start = t
        if math.isfinite(m.ear):
            self._calib_ear.append(m.ear)
        if math.isfinite(m.yaw) and math.isfinite(m.pitch):
            self._calib_yaw.append(m.yaw)
            self._calib_pitch.append(m.pitch)
        if t - self._calib_start < c.calibration_s - 1e-9:
            return
        base = float(np.median(self._calib_ear)) if self._calib_ear else c.ear_baseline_default
        self.ear_baseline = float(np.clip(base, c.ear_baseline_min, c.ear_baseline_max))
        if c.calibrate_pose and self._calib_yaw:
            self.yaw0 = float(np.median(self._calib_yaw))
            self.pitch0 = float(np.median(self._calib_pitch))
        self._eyes.set_thresholds(self.ear_baseline * c.ear_closed_ratio,
                                  self.ear_baseline * (c.ear_closed_ratio + c.ear_open_margin))
        self._eyes.reset()
        self.calibrated = True
        self.calibrated_at = t

    # ------------------------------------------------------------------ pipeline hook
    def process(self, result: FrameResult) -> FrameResult:
        """Pipeline post-processor: monitor the driver face and annotate the result.

        The driver is the face tracked so far (same ``face_id``) or else the largest face with
        landmarks. Its FaceResult gets extras ``ear, mar, yaw, pitch, roll, perclos, event``;
        ``result.extras["driver"]`` gets the :class:`DriverState`.
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
        self._driver_id = fr.face.face_id
        probs = fr.expression.probs if fr.expression is not None else None
        state = self.update(frame.timestamp, fr.face.landmarks, frame.shape, probs)
        extras = {**fr.extras, **driver_extras(state)}
        faces = list(result.faces)
        faces[i] = FaceResult(fr.face, fr.expression, extras)
        return replace(result, faces=tuple(faces), extras={**result.extras, "driver": state})

    __call__ = process
