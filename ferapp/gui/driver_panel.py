"""Driver-monitoring panel: EAR/MAR traces, PERCLOS gauge, head pose, alert banner, event log.

The panel only displays :class:`ferapp.monitor.DriverState` snapshots produced by the Qt-free
:class:`ferapp.monitor.DriverMonitor`. ``update_state`` is cheap (it only stores the sample and
queues the events that started/ended in it) and may be called for every processed frame;
``refresh`` redraws and is meant to be called from the main window's ~30 Hz display timer.
Plot items are created once and only receive ``setData`` afterwards.

The alarm is a tone generated at runtime into a WAV file (``wave`` module) and played with
``QtMultimedia.QSoundEffect`` when PySide6 ships QtMultimedia; PySide6-Essentials does not, in
which case ``QApplication.beep()`` is used. Muting silences the sound only: the banner, the log
and the ``alarm_raised`` signal still fire.
"""

from __future__ import annotations

import math
import tempfile
import wave
from collections import deque
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from ferapp.monitor.rules import AlertEvent
from ferapp.monitor.state import DriverMonitorConfig, DriverState

ALERT_MESSAGES = {
    "drowsy": "DROWSY: eyes closed",
    "perclos": "FATIGUE: eyes closed too often",
    "yawn": "Yawning",
    "distraction": "EYES ON THE ROAD",
    "face_lost": "Driver not visible",
    "emotion": "Sustained negative emotion",
}

_BANNER_STYLES = {
    "alert": "QLabel { background: #c62828; color: white; font-weight: bold; padding: 6px; border-radius: 4px; }",
    "calibrating": "QLabel { background: #f9a825; color: black; padding: 6px; border-radius: 4px; }",
    "ok": "QLabel { background: #2e7d32; color: white; padding: 6px; border-radius: 4px; }",
    "idle": "QLabel { background: #546e7a; color: white; padding: 6px; border-radius: 4px; }",
}
_BAR_STYLES = {
    False: "QProgressBar::chunk { background: #43a047; }",
    True: "QProgressBar::chunk { background: #e53935; }",
}


def alert_text(event_type: str, detail: str = "") -> str:
    base = ALERT_MESSAGES.get(event_type, event_type)
    return f"{base} ({detail})" if detail else base


def thresholds_text(s: DriverState) -> str:
    """Which thresholds are in force, in a line: the population defaults (while this driver is
    being calibrated) or the ones calibrated for this driver."""
    if s.thresholds == "calibrated":
        return f"Thresholds: calibrated for this driver (eyes closed below EAR {s.ear_threshold:.2f})"
    return (
        f"Thresholds: population defaults (eyes closed below EAR {s.ear_threshold:.2f}); "
        f"calibrating to this driver {s.calibration_progress:.0%}"
    )


def write_tone_wav(
    path: Path,
    freq_hz: float = 880.0,
    beep_s: float = 0.18,
    gap_s: float = 0.08,
    beeps: int = 3,
    rate: int = 22050,
    volume: float = 0.6,
) -> Path:
    """Write a short mono 16-bit alarm (``beeps`` pulses of a sine tone with soft edges)."""
    n = int(beep_s * rate)
    t = np.arange(n) / rate
    env = np.minimum(1.0, np.minimum(t, beep_s - t) / 0.01)  # 10 ms fades, no clicks
    pulse = np.sin(2 * np.pi * freq_hz * t) * env * volume
    gap = np.zeros(int(gap_s * rate))
    signal = np.concatenate([np.concatenate([pulse, gap]) for _ in range(beeps)])
    pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


class ToneAlarm(QObject):
    """Plays the generated alarm tone; never raises (an alarm must not crash the app)."""

    def __init__(self, parent: QObject | None = None, wav_path: Path | None = None):
        super().__init__(parent)
        self.muted = False
        self.plays = 0  # times a sound was actually requested (not muted)
        self.backend = "beep"
        self.wav_path: Path | None = None
        self._effect = None
        try:
            self.wav_path = write_tone_wav(
                wav_path or Path(tempfile.gettempdir()) / "ferapp" / "alarm_880hz.wav"
            )
        except OSError:
            self.wav_path = None
        try:
            from PySide6.QtMultimedia import QSoundEffect  # absent in PySide6-Essentials

            if self.wav_path is not None:
                self._effect = QSoundEffect(self)
                self._effect.setSource(QUrl.fromLocalFile(str(self.wav_path)))
                self._effect.setVolume(0.8)
                self.backend = "QSoundEffect"
        except Exception:  # ImportError, or no audio stack
            self._effect = None

    def play(self) -> bool:
        """Sound the alarm unless muted; returns whether a sound was requested."""
        if self.muted:
            return False
        self.plays += 1
        try:
            if self._effect is not None:
                self._effect.play()
            else:
                QApplication.beep()
        except Exception:
            pass
        return True


class DriverPanel(QWidget):
    """Live driver-monitoring view. See the module docstring for the update/refresh contract."""

    alarm_raised = Signal(str)  # text of a newly started alert

    def __init__(self, parent: QWidget | None = None, history_s: float = 30.0):
        super().__init__(parent)
        self.history_s = float(history_s)
        self._samples: deque[tuple[float, float, float]] = deque()
        self._state: DriverState | None = None
        self._pending: list[AlertEvent] = []
        self._items: dict[tuple[str, float], QListWidgetItem] = {}
        self._logged_started: set[tuple[str, float]] = set()
        self._logged_ended: set[tuple[str, float]] = set()
        self._dirty = False
        self._banner_mode = ""
        self._bar_alarm: bool | None = None
        self.alarm = ToneAlarm(self)

        self.banner = QLabel("Driver monitoring idle")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setWordWrap(True)
        self._set_banner_mode("idle")

        pg.setConfigOptions(antialias=True)
        self.ear_plot = self._make_plot("EAR", (0.0, 0.5))
        self.mar_plot = self._make_plot("MAR", (0.0, 1.0))
        self.ear_curve = self.ear_plot.plot(pen=pg.mkPen("#29b6f6", width=2))
        self.mar_curve = self.mar_plot.plot(pen=pg.mkPen("#ab47bc", width=2))
        dash = pg.mkPen("#e53935", width=1, style=Qt.PenStyle.DashLine)
        # where the lines start; each update moves them to the monitor's thresholds in force
        defaults = DriverMonitorConfig()
        self.ear_threshold_line = pg.InfiniteLine(
            angle=0, pos=defaults.ear_closed_population, pen=dash, movable=False
        )
        self.mar_threshold_line = pg.InfiniteLine(angle=0, pos=defaults.mar_yawn, pen=dash, movable=False)
        self.ear_threshold_line.setVisible(False)
        self.ear_plot.addItem(self.ear_threshold_line)
        self.mar_plot.addItem(self.mar_threshold_line)

        self.perclos_bar = QProgressBar()
        self.perclos_bar.setRange(0, 1000)
        self.perclos_bar.setValue(0)
        self.perclos_bar.setTextVisible(True)
        self.perclos_bar.setFormat("PERCLOS –")
        self._set_bar_alarm(False)

        self.yaw_label = QLabel("yaw –")
        self.pitch_label = QLabel("pitch –")
        self.roll_label = QLabel("roll –")
        self.stats_label = QLabel("blinks – · yawns – · away –")
        # which thresholds are in force: the population's until this driver is calibrated
        self.thresholds_label = QLabel("Thresholds –")
        self.thresholds_label.setWordWrap(True)
        self.thresholds_label.setToolTip(
            "Until the driver has been seen for 3 s the population thresholds are used (eyes closed "
            "below EAR 0.18, head pose relative to the pose so far); then thresholds calibrated for "
            "this driver replace them. Calibration restarts only for another person."
        )
        pose = QGridLayout()
        for col, w in enumerate((self.yaw_label, self.pitch_label, self.roll_label)):
            pose.addWidget(w, 0, col)
        pose.addWidget(self.stats_label, 1, 0, 1, 3)
        pose.addWidget(self.thresholds_label, 2, 0, 1, 3)

        self.event_log = QListWidget()
        self.mute_checkbox = QCheckBox("Mute alarm")
        self.mute_checkbox.toggled.connect(self._on_mute)

        # three columns side by side, so the panel fits in a third of the window height under
        # the video: state (banner, PERCLOS, pose) | EAR and MAR over time | alert log
        state = QVBoxLayout()
        state.addWidget(self.banner)
        state.addWidget(self.perclos_bar)
        state.addLayout(pose)
        state.addStretch(1)
        state.addWidget(self.mute_checkbox)
        curves = QVBoxLayout()
        curves.addWidget(self.ear_plot, 1)
        curves.addWidget(self.mar_plot, 1)
        log_col = QVBoxLayout()
        log_col.addWidget(QLabel("Alerts"))
        log_col.addWidget(self.event_log, 1)
        layout = QHBoxLayout(self)
        layout.addLayout(state, 2)
        layout.addLayout(curves, 3)
        layout.addLayout(log_col, 3)  # room for a whole log line (time, alert, severity, duration)

    # ------------------------------------------------------------------ construction helpers
    def _make_plot(self, name: str, yrange: tuple[float, float]) -> pg.PlotWidget:
        plot = pg.PlotWidget()
        plot.setLabel("left", name)
        plot.getAxis("left").enableAutoSIPrefix(False)
        plot.setLabel("bottom", "seconds")
        plot.setXRange(-self.history_s, 0.0, padding=0)
        plot.setYRange(*yrange, padding=0)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setMinimumHeight(70)
        return plot

    def _set_banner_mode(self, mode: str) -> None:
        if mode != self._banner_mode:
            self._banner_mode = mode
            self.banner.setStyleSheet(_BANNER_STYLES[mode])

    def _set_bar_alarm(self, alarm: bool) -> None:
        if alarm != self._bar_alarm:
            self._bar_alarm = alarm
            self.perclos_bar.setStyleSheet(_BAR_STYLES[alarm])

    def _on_mute(self, checked: bool) -> None:
        self.alarm.muted = bool(checked)

    # ------------------------------------------------------------------ public API
    @property
    def muted(self) -> bool:
        return self.alarm.muted

    def set_muted(self, muted: bool) -> None:
        self.mute_checkbox.setChecked(bool(muted))

    @property
    def banner_active(self) -> bool:
        return self._banner_mode == "alert"

    def update_state(self, t: float, state: DriverState) -> None:
        """Store one sample (cheap; call for every processed frame, from the GUI thread)."""
        self._samples.append((float(t), state.ear, state.mar))
        self._state = state
        if state.started:
            self._pending.extend(state.started)
        if state.ended:
            self._pending.extend(state.ended)
        self._dirty = True

    def refresh(self) -> None:
        """Redraw from the stored samples (call from the display timer)."""
        pending, self._pending = self._pending, []
        for event in pending:
            self.add_event(event)
        if not self._dirty:
            return
        self._dirty = False
        if self._samples:
            t_last = self._samples[-1][0]
            while self._samples and self._samples[0][0] < t_last - self.history_s:
                self._samples.popleft()
            data = np.asarray(self._samples, dtype=np.float64)
            x = data[:, 0] - t_last
            self.ear_curve.setData(x, data[:, 1], connect="finite")
            self.mar_curve.setData(x, data[:, 2], connect="finite")
        s = self._state
        if s is None:
            return
        if math.isfinite(s.ear_threshold):
            self.ear_threshold_line.setValue(s.ear_threshold)
            self.ear_threshold_line.setVisible(True)
        else:
            self.ear_threshold_line.setVisible(False)
        self.mar_threshold_line.setValue(s.mar_threshold)

        self.perclos_bar.setValue(int(round(min(1.0, max(0.0, s.perclos)) * 1000)))
        self.perclos_bar.setFormat(f"PERCLOS {s.perclos:.1%} (limit {s.perclos_threshold:.0%})")
        self._set_bar_alarm(s.perclos >= s.perclos_threshold)

        def deg(name: str, v: float) -> str:
            return f"{name} {v:+.1f}°" if math.isfinite(v) else f"{name} –"

        self.yaw_label.setText(deg("yaw", s.yaw))
        self.pitch_label.setText(deg("pitch", s.pitch))
        self.roll_label.setText(deg("roll", s.roll))
        self.stats_label.setText(
            f"blinks {s.blinks} ({s.blink_rate:.0f}/min) · yawns {s.yawns} · away {s.looking_away_s:.1f} s"
        )

        self.thresholds_label.setText(thresholds_text(s))
        if s.open_events:
            self.banner.setText(" · ".join(alert_text(e.type, e.detail) for e in s.open_events))
            self._set_banner_mode("alert")
        elif not s.face:
            self.banner.setText("No driver in view")
            self._set_banner_mode("idle")
        elif not s.calibrated:  # alerts are live meanwhile, on the population thresholds
            self.banner.setText(f"Driver attentive · calibrating: look ahead ({s.calibration_progress:.0%})")
            self._set_banner_mode("calibrating")
        else:
            self.banner.setText("Driver attentive")
            self._set_banner_mode("ok")

    def add_event(self, event: AlertEvent) -> None:
        """Log an event; a newly started one (end is None) also sounds the alarm."""
        key = (event.type, round(event.start, 6))
        # idempotent: the same start/end may arrive both via update_state and add_event
        if key in (self._logged_ended if event.end is not None else self._logged_started):
            return
        (self._logged_ended if event.end is not None else self._logged_started).add(key)
        sev = event.severity.upper()
        tip = f"{alert_text(event.type, event.detail)}: {sev.lower()}"
        if event.end is None:
            text = f"{event.start:6.1f} s  {alert_text(event.type, event.detail)}  started"
            item = QListWidgetItem(text)
            item.setToolTip(tip)
            item.setForeground(pg.mkColor("#c62828" if event.severity == "critical" else "#ef6c00"))
            self.event_log.addItem(item)
            self._items[key] = item
            self.event_log.scrollToBottom()
            message = alert_text(event.type, event.detail)
            self.alarm.play()
            self.alarm_raised.emit(message)
        else:  # one short line (the log is a narrow column): the severity is its colour, the peak in the tooltip
            text = f"{event.start:6.1f} s  {alert_text(event.type, event.detail)}  {event.duration:.1f} s"
            item = self._items.pop(key, None)
            if item is None:
                item = QListWidgetItem(text)
                item.setForeground(pg.mkColor("#c62828" if event.severity == "critical" else "#ef6c00"))
                self.event_log.addItem(item)
            else:
                item.setText(text)
            item.setToolTip(f"{tip}, {event.duration:.1f} s, peak {event.peak:.3g}")

    def clear(self) -> None:
        """Forget samples, events and the banner (e.g. on a new source or monitor.reset())."""
        self._samples.clear()
        self._pending.clear()
        self._items.clear()
        self._logged_started.clear()
        self._logged_ended.clear()
        self._state = None
        self._dirty = False
        self.event_log.clear()
        self.ear_curve.setData([], [])
        self.mar_curve.setData([], [])
        self.ear_threshold_line.setVisible(False)
        self.perclos_bar.setValue(0)
        self.perclos_bar.setFormat("PERCLOS –")
        self._set_bar_alarm(False)
        for label, name in ((self.yaw_label, "yaw"), (self.pitch_label, "pitch"), (self.roll_label, "roll")):
            label.setText(f"{name} –")
        self.thresholds_label.setText("Thresholds –")
        self.banner.setText("Driver monitoring idle")
        self._set_banner_mode("idle")
