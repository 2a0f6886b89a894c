"""The main window's Record action.

The ``ferapp.record.Recorder`` is a sink on the inference thread (``RunnerBridge.sinks``), so
rows are never lost to a busy UI; a disk error stops it there and arrives here as the
bridge's queued ``recording_failed`` signal (the live view keeps running). Whether the session
records is ``Session.recording``; Stop, end of stream and Close stop a recording first (their
``STOP_RECORDING`` act calls :meth:`RecordingControl.stop`), which finalises and keeps its files.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from ferapp.paths import recordings_dir
from ferapp.record.metadata import run_metadata
from ferapp.record.recorder import Recorder, timestamped_path

SAVED_MESSAGE_MS = 10_000  # "Saved …" then clears (the file is in File > Show recordings folder)


class RecordingControl:
    def __init__(self, win):
        self.win = win
        self.recorder = Recorder(on_failure=win.bridge.recording_failed.emit)
        win.bridge.sinks.append(self.recorder.write)
        win.bridge.recording_failed.connect(self.failed, Qt.ConnectionType.QueuedConnection)

    def triggered(self, checked: bool) -> None:
        if checked:
            self.start()
        else:
            self.stop()

    def start(self, path: str | Path | None = None) -> Path | None:
        """Start writing the timeline (and the annotated MP4 if enabled); starts capture if it
        is not on. Returns the CSV path (None after an error message, or once the window closed)."""
        from ferapp.record.timeline import TimelineError

        win, rec = self.win, self.recorder
        if win.session.closed:
            return None
        if rec.active:
            return rec.path
        if not win.session.running:
            win.start()
        target = Path(path) if path else timestamped_path(recordings_dir())
        extra = ()
        if win.driver_mode.monitor is not None:
            from ferapp.monitor import DRIVER_COLUMNS

            extra = tuple(DRIVER_COLUMNS)
        fps = self.source_fps()
        meta = run_metadata(source=win.source_spec, detector=win.detector_combo.currentText(),
                            model=win.pipeline.model_name if win.pipeline else str(win.session.model_ref or ""),
                            model_source=win.pipeline.model_source if win.pipeline else "",
                            min_face=win.min_face_spin.value(), fps=fps, smoothing=win.smoothing_spin.value(),
                            driver=win.driver_mode.monitor is not None)
        try:
            p = rec.start(target, meta=meta, video=win.video_action.isChecked(), video_fps=fps or 30.0,
                          extra_columns=extra)
        except TimelineError as e:
            win.sync_controls()
            win.report_error(str(e), dialog=True)
            return None
        win.session.recording_started()
        win.sync_controls()
        win.record_label.setText(" ● REC 00:00 ")
        win.status(f"Recording to {p}", 0)
        return p

    def source_fps(self) -> float | None:
        """The running source's own frame rate (None before capture runs)."""
        runner = self.win.runner
        return getattr(getattr(runner, "source", None), "fps", None) if runner is not None else None

    def stop(self) -> Path | None:
        """Finalise the files; returns the CSV path (None when nothing was recording)."""
        win = self.win
        path = self.recorder.stop(fps=self.source_fps())  # known now if Record came before capture
        win.session.recording_stopped()
        win.sync_controls()
        win.record_label.setText("")
        if path is not None:
            extra = f" and {path.with_suffix('.mp4').name}" if self.recorder.video_path else ""
            win.status(f"Saved {path}{extra}", SAVED_MESSAGE_MS)
        return path

    def failed(self, message: str) -> None:
        """The recorder stopped itself (a disk error): say so, keep the live view."""
        self.win.session.recording_stopped()
        self.win.sync_controls()
        self.win.record_label.setText("")
        self.win.report_error(message, dialog=True)

    def tick(self) -> None:
        """The display timer: the REC clock."""
        if self.recorder.active:
            e = int(self.recorder.elapsed_s)
            self.win.record_label.setText(f" ● REC {e // 60:02d}:{e % 60:02d} ")
