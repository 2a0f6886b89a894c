"""The main window's Record action, the "also record video" option and the REC clock.

A part that owns its widgets and talks back through signals. The ``ferapp.record.Recorder`` is
a sink on the inference thread (``RunnerBridge.sinks``), so rows are never lost to a busy UI; a
disk error stops it there and arrives here as the bridge's queued ``recording_failed`` signal
(the live view keeps running). Whether the session records is ``Session.recording``; Stop, end of
stream and Close stop a recording first (their ``STOP_RECORDING`` act calls
:meth:`RecordingControl.stop`), which finalises and keeps its files.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel

from ferapp.config import settings as app_settings  # the defaults (the QSettings store is `settings`)
from ferapp.gui import settings as gui_settings
from ferapp.gui.bridge import RunnerBridge
from ferapp.gui.live_run import LiveRun
from ferapp.paths import recordings_dir
from ferapp.record.metadata import run_metadata
from ferapp.record.recorder import Recorder, timestamped_path
from ferapp.session import Session

SAVED_MESSAGE_MS = 10_000  # "Saved …" then clears (the file is in File > Show recordings folder)


class RecordingControl(QObject):
    """Signals: ``status(text, ms)``, ``error(text, as_dialog)``, ``changed()`` (the session's
    recording state changed: redraw the controls), ``capture_wanted()`` (Record while capture is
    off: start it). ``model_ctl`` (its ``detector``, ``min_face`` and ``smoothing``) and
    ``driver_on()`` describe the run in the sidecar metadata."""

    status = Signal(str, int)
    error = Signal(str, bool)
    changed = Signal()
    capture_wanted = Signal()

    def __init__(
        self,
        session: Session,
        bridge: RunnerBridge,
        live: LiveRun,
        model_ctl,
        driver_on,
        settings,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.session, self.live, self.model_ctl, self.driver_on = session, live, model_ctl, driver_on
        self.recorder = Recorder(on_failure=bridge.recording_failed.emit)
        bridge.sinks.append(self.recorder.write)
        bridge.recording_failed.connect(self.failed, Qt.ConnectionType.QueuedConnection)
        self.action = QAction("● Record", self)
        self.action.setCheckable(True)
        self.action.setShortcut(QKeySequence(Qt.Key.Key_R))
        self.action.setToolTip("Record the expression timeline (CSV + JSON) to the recordings folder (R)")
        self.action.triggered.connect(self.triggered)
        self.video_action = QAction("Also record annotated video (MP4)", self)
        self.video_action.setCheckable(True)
        self.video_action.setChecked(bool(gui_settings.read("record_video", settings)))
        self.label = QLabel("")
        self.label.setObjectName("recordLabel")
        self.label.setMinimumWidth(110)

    @property
    def active(self) -> bool:
        return self.recorder.active

    def sync(self) -> None:
        """Draw the Record action from the session."""
        self.action.setChecked(self.session.recording)

    def triggered(self, checked: bool) -> None:
        if checked:
            self.start()
        else:
            self.stop()

    def start(self, path: str | Path | None = None) -> Path | None:
        """Start writing the timeline (and the annotated MP4 if enabled); starts capture if it
        is not on. Returns the CSV path (None after an error message, or once the window closed)."""
        from ferapp.record.timeline import TimelineError

        rec, session, live = self.recorder, self.session, self.live
        if session.closed:
            return None
        if rec.active:
            return rec.path
        if not session.running:
            self.capture_wanted.emit()
        target = Path(path) if path else timestamped_path(recordings_dir())
        driver = bool(self.driver_on())
        extra = ()
        if driver:
            from ferapp.monitor import DRIVER_COLUMNS

            extra = tuple(DRIVER_COLUMNS)
        fps = live.source_fps
        m = self.model_ctl
        meta = run_metadata(
            source=live.source_spec,
            detector=m.detector,
            model=live.pipeline.model_name if live.pipeline else str(session.model_ref or ""),
            model_source=live.pipeline.model_source if live.pipeline else "",
            min_face=m.min_face,
            fps=fps,
            smoothing=m.smoothing,
            driver=driver,
        )
        try:
            p = rec.start(
                target,
                meta=meta,
                video=self.video_action.isChecked(),
                video_fps=fps or app_settings().recording.fallback_fps,
                extra_columns=extra,
            )
        except TimelineError as e:
            self.changed.emit()
            self.error.emit(str(e), True)
            return None
        session.recording_started()
        self.changed.emit()
        self.label.setText(" ● REC 00:00 ")
        self.status.emit(f"Recording to {p}", 0)
        return p

    def stop(self) -> Path | None:
        """Finalise the files; returns the CSV path (None when nothing was recording)."""
        path = self.recorder.stop(fps=self.live.source_fps)  # known now if Record came before capture
        self.session.recording_stopped()
        self.changed.emit()
        self.label.setText("")
        if path is not None:
            extra = f" and {path.with_suffix('.mp4').name}" if self.recorder.video_path else ""
            self.status.emit(f"Saved {path}{extra}", SAVED_MESSAGE_MS)
        return path

    def failed(self, message: str) -> None:
        """The recorder stopped itself (a disk error): say so, keep the live view."""
        self.session.recording_stopped()
        self.changed.emit()
        self.label.setText("")
        self.error.emit(message, True)

    def driver_switched(self, on: bool) -> None:
        if on and self.recorder.active:
            self.status.emit("Driver measures are added to the next recording", 5000)

    def tick(self) -> None:
        """The display timer: the REC clock."""
        if self.recorder.active:
            e = int(self.recorder.elapsed_s)
            self.label.setText(f" ● REC {e // 60:02d}:{e % 60:02d} ")

    def save(self, settings) -> None:
        gui_settings.write("record_video", bool(self.video_action.isChecked()), settings)
