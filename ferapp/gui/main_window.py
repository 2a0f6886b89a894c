"""The main window: composes its parts and wires their signals; owns the run control.

Parts (each owns its widgets, takes the objects it needs and talks back through signals, none
reads or writes the window's attributes): ``ModelControl`` (model, detector, min face,
smoothing), ``RecordingControl``, ``DriverMode``, ``StillsControl`` (photos), ``LiveDisplay``
(the ~30 Hz display loop and the status-bar labels) and ``WindowDialogs``. They share the
Qt-free ``ferapp.session.Session``, the window's ``LiveRun`` (source, pipeline, runner) and the
``RunnerBridge``.

Threads: the core ``Runner`` owns the capture and inference threads; ``RunnerBridge``
(bridge.py) turns its callbacks into a result buffer plus queued signals that the display timer
drains. Slow core calls (building the pipeline, loading a model, switching detector) run as
bridge jobs (superqt workers) so the window never freezes.

State: what the session is doing (building, running, paused, recording, closed, the model in
use) is the Session. Every event goes to it first; it answers with the acts to carry out
(``_do``), and ``sync_controls`` draws the actions from its state.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QWidget

from ferapp import session as session_mod
from ferapp.gui import controls
from ferapp.gui import settings as gui_settings
from ferapp.gui.bridge import RunnerBridge
from ferapp.gui.controls import make_action
from ferapp.gui.driver_mode import DriverMode
from ferapp.gui.live_display import LiveDisplay
from ferapp.gui.live_run import LiveRun
from ferapp.gui.model_control import ModelControl
from ferapp.gui.plots import LivePlots
from ferapp.gui.recording import RecordingControl
from ferapp.gui.source_picker import SourcePicker
from ferapp.gui.stills import StillsControl
from ferapp.gui.video_view import VideoView
from ferapp.gui.window_dialogs import WindowDialogs
from ferapp.paths import recordings_dir
from ferapp.session import Act, Session

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """ferapp's desktop window. ``start()`` begins capture; ``close()`` stops everything."""

    pipeline_ready = Signal()  # the pipeline was built (models loaded) — tests wait on it
    model_changed = Signal(str)  # display name of the model now in use
    running_changed = Signal(bool)

    NO_FACE_AFTER_S = session_mod.NO_FACE_AFTER_S

    def __init__(
        self,
        source: str | None = None,
        model: str | None = None,
        detector: str | None = None,
        driver: bool = False,
        cameras: list[int] | None = None,
        parent: QWidget | None = None,
        min_face: float | None = None,
        persist: bool = True,
    ):
        """``persist`` False (scripted ``--snapshot`` / ``--exit-after`` runs): nothing of this
        session is written to the user's settings."""
        super().__init__(parent)
        self.setWindowTitle("ferapp — facial expression recognition")
        self.resize(1280, 760)
        self.settings = gui_settings.app_settings()
        self.session = Session(no_face_after_s=self.NO_FACE_AFTER_S)
        self.live = LiveRun()
        self.persist = bool(persist)
        self.errors: deque[str] = deque(maxlen=200)  # recent user-facing errors (newest last)
        self.bridge = RunnerBridge(self)
        self.bridge.error.connect(self.on_worker_error, Qt.ConnectionType.QueuedConnection)
        self.bridge.ended.connect(self.on_source_ended, Qt.ConnectionType.QueuedConnection)

        # -- central video + plots dock -----------------------------------------------------
        self.video = VideoView()
        self.video.show_landmarks = bool(gui_settings.read("landmarks", self.settings))
        self.setCentralWidget(self.video)
        self.plots = LivePlots(window_s=30.0)
        self.plots.setMinimumWidth(380)
        self.plots_dock = QDockWidget("Expressions", self)
        self.plots_dock.setObjectName("plotsDock")
        self.plots_dock.setWidget(self.plots)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.plots_dock)

        # -- the parts ------------------------------------------------------------------------
        live, session = self.live, self.session
        self.model_ctl = ModelControl(session, live, self.settings, self)
        self.driver_mode = DriverMode(live, self)
        self.recording_ctl = RecordingControl(
            session,
            self.bridge,
            live,
            self.model_ctl,
            lambda: self.driver_mode.monitor is not None,
            self.settings,
            self,
        )
        self.recorder = self.recording_ctl.recorder
        self.stills = StillsControl(self.bridge, live, self.video, self.plots, self)  # photos: one at a time
        self.display = LiveDisplay(
            self.bridge,
            live,
            session,
            self.video,
            self.plots,
            self.stills,
            lambda: self.model_ctl.min_face,
            self,
        )
        self.dialogs = WindowDialogs(self, session, self.model_ctl)
        self.sources = SourcePicker(controls.available_cameras(cameras), live, self.dialogs, self)
        self.cameras = self.sources.cameras
        self._wire_parts()
        self._build_controls()

        # -- initial selections (CLI args win over remembered settings) -----------------------
        self.requested_source = source
        self.source_spec, no_camera = session_mod.initial_source(
            source, gui_settings.read("source", self.settings), self.cameras
        )
        if no_camera:
            self.status(
                "No camera found — showing the built-in demo source (open a video, image or folder "
                "from the File menu)",
                0,
            )
            self.notice_label.setText(" No camera found: demo source ")
        self.sources.show(self.source_spec)
        self.model_ctl.initial(model, detector, min_face)

        geo = self.settings.value("geometry")
        if isinstance(geo, QByteArray | bytes):
            self.restoreGeometry(geo)
        state = self.settings.value("window_state")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(state)
        self.timer = self.display.timer
        self.timer.start()
        if driver:
            self.driver_action.setChecked(True)

    def _wire_parts(self) -> None:
        """Every part's messages go to the status bar / error report; the rest is named here."""
        for part in (self.model_ctl, self.recording_ctl, self.driver_mode, self.display, self.dialogs):
            part.status.connect(self.status)
            if hasattr(part, "error"):
                part.error.connect(self.report_error)
        self.model_ctl.model_changed.connect(self.model_changed)
        self.model_ctl.stage_changed.connect(self.display.set_stage)
        self.sources.picked.connect(self.set_source)
        self.recording_ctl.changed.connect(self.sync_controls)
        self.recording_ctl.capture_wanted.connect(self.start)
        self.driver_mode.dock_ready.connect(self._show_driver_dock)
        self.driver_mode.switched.connect(self._driver_switched)
        self.driver_mode.switched.connect(self.recording_ctl.driver_switched)
        self.display.new_results.connect(self.driver_mode.update)
        self.display.ticked.connect(self.recording_ctl.tick)

    def _build_controls(self) -> None:
        """The window's own actions; toolbars and menus made of them and of the parts' widgets."""
        self._build_actions()
        self._alias_part_widgets()
        self._build_toolbars()
        self._build_menus()

    def _build_actions(self) -> None:
        a = make_action
        self.start_action = a(
            self,
            "Start",
            shortcut=Qt.Key.Key_Space,
            tip="Start / stop capture (Space)",
            checkable=True,
            triggered=self._start_triggered,
        )
        self.pause_action = a(
            self,
            "Pause",
            shortcut=Qt.Key.Key_P,
            checkable=True,
            tip="Pause / resume a video or the demo (P)",
            toggled=self._pause_toggled,
        )
        self.pause_action.setEnabled(False)
        self.open_timeline_action = a(
            self, "Open timeline…", shortcut="Ctrl+O", triggered=lambda: self.dialogs.ask_open_timeline()
        )
        self.landmarks_action = a(self, "Show landmarks", checkable=True)
        self.landmarks_action.setChecked(self.video.show_landmarks)
        self.landmarks_action.toggled.connect(lambda on: setattr(self.video, "show_landmarks", on))
        self.train_action = a(self, "Train a model…", triggered=self.open_training_wizard)
        self.refresh_models_action = a(self, "Refresh model list", triggered=lambda: self.refresh_models())
        self.about_action = a(self, "About ferapp", triggered=self.show_about)
        self.quick_start_action = a(
            self, "Quick start", shortcut=Qt.Key.Key_F1, triggered=lambda: self.show_help("quick")
        )
        self.shortcuts_action = a(self, "Keyboard shortcuts", triggered=lambda: self.show_help("shortcuts"))
        self.batch_action = a(
            self,
            "Analyze video or folder…",
            triggered=lambda: self.open_batch_dialog(),
            tip="Process a whole video or folder of photos into a timeline (like `ferapp analyze`)",
        )
        self.recordings_action = a(
            self,
            "Show recordings folder",
            triggered=lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(recordings_dir()))),
        )
        self.quit_action = a(self, "Quit", shortcut=QKeySequence.StandardKey.Quit, triggered=self.close)

    def _alias_part_widgets(self) -> None:
        """The parts' widgets under the names the window has always had (tests, scripts)."""
        m, rec, drv, disp = self.model_ctl, self.recording_ctl, self.driver_mode, self.display
        self.detector_combo, self.min_face_spin, self.model_combo = m.detector_combo, m.min_face_spin, m.combo
        self.device_label, self.smoothing_slider, self.smoothing_spin = (
            m.device_label,
            m.smoothing_slider,
            m.smoothing_spin,
        )
        self.record_action, self.video_action, self.record_label = rec.action, rec.video_action, rec.label
        self.driver_action = drv.action
        self.notice_label, self.position_label, self.stats_label = (
            disp.notice_label,
            disp.position_label,
            disp.stats_label,
        )
        src = self.sources
        self.source_combo = src.combo
        self.open_video_action, self.open_image_action = src.open_video_action, src.open_image_action
        self.open_folder_action = src.open_folder_action

    def _build_toolbars(self) -> None:
        m, rec, drv = self.model_ctl, self.recording_ctl, self.driver_mode
        self.toolbar = controls.toolbar("Main", "mainToolbar")
        self.addToolBar(self.toolbar)
        controls.fill_toolbar(
            self.toolbar,
            (
                " Source ",
                self.source_combo,
                " Detector ",
                m.detector_combo,
                " Min face ",
                m.min_face_spin,
                " Model ",
                m.combo,
                m.device_label,
            ),
        )
        self.addToolBarBreak()
        self.capture_toolbar = controls.toolbar("Capture", "captureToolbar")
        self.addToolBar(self.capture_toolbar)
        controls.fill_toolbar(
            self.capture_toolbar,
            (
                self.start_action,
                self.pause_action,
                rec.action,
                rec.label,
                None,
                " Smoothing ",
                m.smoothing_slider,
                m.smoothing_spin,
                None,
                self.landmarks_action,
                drv.action,
            ),
        )
        self.number_box_keys = controls.guard_number_boxes(self, m.min_face_spin, m.smoothing_spin)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.stills.toolbar)
        self.addActions(list(self.stills.key_actions))

    def _build_menus(self) -> None:
        rec, drv, disp = self.recording_ctl, self.driver_mode, self.display
        mb = self.menuBar()
        controls.fill_menu(
            mb.addMenu("&File"),
            (
                self.open_video_action,
                self.open_image_action,
                self.open_folder_action,
                None,
                self.batch_action,
                self.open_timeline_action,
                self.recordings_action,
                None,
                self.quit_action,
            ),
        )
        controls.fill_menu(
            mb.addMenu("&Capture"), (self.start_action, self.pause_action, rec.action, rec.video_action)
        )
        controls.fill_menu(
            mb.addMenu("&View"), (self.landmarks_action, drv.action, self.plots_dock.toggleViewAction())
        )
        tools = controls.fill_menu(mb.addMenu("&Tools"), (self.train_action, self.refresh_models_action))
        tools.aboutToShow.connect(lambda: controls.update_train_action(self.train_action))
        controls.update_train_action(self.train_action)
        controls.fill_menu(
            mb.addMenu("&Help"), (self.quick_start_action, self.shortcuts_action, None, self.about_action)
        )
        for label in (disp.notice_label, disp.position_label, disp.stats_label):
            self.statusBar().addPermanentWidget(label)

    # what is live, under the window's old attribute names
    pipeline = property(lambda self: self.live.pipeline)
    runner = property(lambda self: self.live.runner)

    @property
    def source_spec(self) -> str:
        return self.live.source_spec

    @source_spec.setter
    def source_spec(self, spec: str) -> None:
        self.live.source_spec = spec

    # ================================================================== sources
    def set_source(self, spec: str) -> None:
        """Switch to another source and show it (capture restarts if it was running)."""
        if self.session.running:
            self.stop()
        self.source_spec = spec
        self.notice_label.setText("")
        self.sources.show(spec)
        self.start()  # picking a source means: show it

    # ================================================================== run control
    @property
    def is_running(self) -> bool:
        return self.runner is not None and self.runner.running

    def start(self) -> None:
        """Start capture on ``source_spec`` (builds the pipeline first, in the background)."""
        self._do(self.session.start())

    def stop(self, timeout: float = 1.0) -> bool:
        """Stop capture and inference threads (and finalise a recording). False when the
        threads did not stop within ``timeout``."""
        return self._do(self.session.stop(), timeout)

    def _do(self, acts: tuple[Act, ...], timeout: float = 1.0) -> bool:
        """Carry out the session's acts in order, then redraw the controls from its state."""
        ok = True
        for act in acts:
            if act is Act.BUILD_PIPELINE:
                self.model_ctl.build_pipeline(self._pipeline_built, self._pipeline_failed)
            elif act is Act.OPEN_RUNNER:
                self._open_runner()
            elif act is Act.STOP_RECORDING:
                self.recording_ctl.stop()
            elif act is Act.STOP_RUNNER:
                ok = self._stop_runner(timeout)
            elif act is Act.PAUSE_RUNNER:
                self.runner.pause()
                self.status("Paused (P to resume)", 0)
            elif act is Act.RESUME_RUNNER:
                self.runner.resume()
                self.status("Playing", 2000)
            elif act is Act.LOAD_MODEL:
                self.set_model(self.session.model_pick)
        self.sync_controls()
        return ok

    def _open_runner(self) -> None:
        from ferapp.capture import SourceError
        from ferapp.inference.runner import Runner

        self.pipeline.reset()
        self.bridge.reset()
        self.plots.clear()
        self.driver_mode.new_drive(self.source_spec)
        b = self.bridge
        run_id = self.session.run_id
        photos = self.stills.source_for(self.source_spec)  # an image or folder: one photo at a time
        runner = Runner(
            photos or self.source_spec,
            self.pipeline,
            on_result=b.on_result,
            on_error=b.on_error,
            on_end=lambda: b.on_end(run_id),
            on_frame=b.on_frame,
        )
        try:
            runner.start()
        except (SourceError, ValueError, OSError) as e:
            self.session.runner_failed()
            fallback = session_mod.camera_fallback(self.source_spec)
            if fallback is not None:
                self.status(f"{e} — switching to the demo source", 0)
                self.notice_label.setText(f" Camera {self.source_spec} unavailable: demo source ")
                self.source_spec = fallback
                self.sources.show(fallback)
                return self.start()
            self.status(str(e), 0)
            self.video.clear(str(e))
            return
        self.live.runner = runner
        self.session.runner_started(can_pause=runner.can_pause)
        self.sync_controls()
        self.running_changed.emit(True)
        self.status(f"Running on {runner.source_name}", 3000)

    def _stop_runner(self, timeout: float) -> bool:
        runner, self.live.runner = self.live.runner, None
        if self.video.loading is not None:
            self.video.clear()  # stopped before the first frame
        if runner is None:
            return True
        ok = runner.stop(timeout=timeout)
        if not ok:
            log.warning("runner threads did not stop within %.1f s", timeout)
        self.sync_controls()
        self.running_changed.emit(False)
        return ok

    def sync_controls(self) -> None:
        """Draw the Start / Pause / Record actions and the no-face notice from the session."""
        s = self.session
        self.start_action.setChecked(s.running or s.start_pending)
        self.start_action.setText("Stop" if s.running else "Start")
        self.pause_action.blockSignals(True)
        self.pause_action.setChecked(s.paused)
        self.pause_action.setEnabled(s.running and s.can_pause)
        self.pause_action.blockSignals(False)
        self.recording_ctl.sync()
        if not s.faces.shown and self.notice_label.text().strip() == "No face found":
            self.notice_label.setText("")

    def _pause_toggled(self, on: bool) -> None:
        self._do(self.session.pause() if on else self.session.resume())

    def _start_triggered(self, checked: bool) -> None:
        if checked:
            self.start()
        else:
            self.stop()

    def _pipeline_built(self, pipeline) -> None:
        session = self.session
        acts = session.pipeline_built(getattr(pipeline.engine, "ref", None))
        if session.closed:
            pipeline.close()  # built after Close: never used, its scan thread stopped
            return
        if Act.OPEN_RUNNER not in acts:
            self.video.clear()  # stopped while building: the loading state ends here
        self.live.pipeline = pipeline
        self.driver_mode.attach(pipeline)
        self.model_ctl.select(session.model_ref, quiet=True)
        self.model_ctl.show_device()
        self.model_changed.emit(pipeline.model_name)
        self.status(f"Model: {pipeline.model_name}", 3000)
        if Act.LOAD_MODEL in acts:  # picked while the pipeline was building
            self._do((Act.LOAD_MODEL,))
        self.pipeline_ready.emit()
        self._do(tuple(a for a in acts if a is not Act.LOAD_MODEL))

    def _pipeline_failed(self, message: str) -> None:
        self._do(self.session.pipeline_failed())
        self.video.clear(f"Could not load the model/detector: {message}")
        self.report_error(f"Could not load the model/detector: {message}", dialog=True)

    # ================================================================== live settings
    def set_model(self, ref: str) -> None:
        """Load ``ref`` in a worker thread; the pipeline uses it from the next frame on."""
        self.model_ctl.set_model(ref)

    def refresh_models(self, select: str | None = None) -> None:
        """Re-read the model store; ``select`` (a model name) becomes the current model."""
        self.model_ctl.refresh(select)

    # ================================================================== display
    def refresh_display(self) -> None:
        """What the ~30 Hz timer does: drain new results, redraw video, plots, stats, record time."""
        self.display.refresh()

    def _update_position(self) -> None:
        self.display.update_position()

    # ================================================================== recording
    def start_recording(self, path: str | Path | None = None) -> Path | None:
        """Start writing the timeline (and the annotated MP4 if enabled). Returns the CSV path."""
        return self.recording_ctl.start(path)

    def stop_recording(self) -> Path | None:
        return self.recording_ctl.stop()

    def on_recording_failed(self, message: str) -> None:
        self.recording_ctl.failed(message)

    # ================================================================== worker events
    def on_worker_error(self, message: str) -> None:
        self.report_error(message)

    def on_source_ended(self, run_id: int | None = None) -> None:
        acts = self.session.source_ended(run_id)
        if not acts:
            return  # an end queued before a Stop (and maybe a new Start): not this runner's
        self.display.refresh()  # the last results (queued before this end) are shown with the end message
        self._do(acts, timeout=0.5)
        if self.video.loading is not None:
            self.video.clear()  # a source that ended before its first frame
        self._update_position()
        if self.stills.active:
            self.status(self.stills.ended_message(), 0)
            return
        self.status(
            f"End of '{Path(self.source_spec).name or self.source_spec}': press Start (Space) to "
            "play it again",
            0,
        )

    def report_error(self, message: str, dialog: bool = False) -> None:
        """Show a worker/user-facing error: status bar always, a non-blocking dialog if asked."""
        self.errors.append(message)
        log.warning("%s", message)
        self.status(message, 10000)
        if dialog and not self.session.closed:  # open(), no modal loop: the window keeps running
            self.dialogs.message(message)

    def status(self, message: str, timeout_ms: int = 5000) -> None:
        self.statusBar().showMessage(message, timeout_ms)

    # ================================================================== driver monitoring
    def set_driver_mode(self, on: bool) -> bool:
        """Add/remove the DriverMonitor post-processor and show/hide the driver panel dock."""
        return self.driver_mode.set(on)

    def driver_panel_height(self) -> int:
        """About a third of the window (at least 200 px): room for its plots, most for the video."""
        return max(200, int(0.36 * self.height()))

    def _show_driver_dock(self, dock: QDockWidget) -> None:
        """Under the video only: the expression plots keep the full height of the right column."""
        if dock.parent() is not self:
            self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
            self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        dock.show()
        self.resizeDocks([dock], [self.driver_panel_height()], Qt.Orientation.Vertical)

    def _driver_switched(self, on: bool) -> None:
        if not on and self.statusBar().currentMessage().startswith("ALERT"):
            self.statusBar().clearMessage()  # a driver alert must not outlive driver mode

    # what the controllers own, under the window's old attribute names (read-only)
    driver_monitor = property(lambda self: self.driver_mode.monitor)
    driver_panel = property(lambda self: self.driver_mode.panel)
    driver_dock = property(lambda self: self.driver_mode.dock)
    last_dialog = property(lambda self: self.dialogs.last, doc="the newest message box / help dialog")
    _viewers = property(lambda self: self.dialogs.viewers)

    # ================================================================== dialogs
    def open_timeline(self, path: str | Path):
        """Open the timeline viewer on ``path``; returns it (None after an error message)."""
        return self.dialogs.open_timeline(path)

    def show_help(self, which: str):
        return self.dialogs.show_help(which)

    def show_about(self) -> None:
        self.dialogs.show_about()

    def open_batch_dialog(self, source: str | None = None):
        return self.dialogs.open_batch_dialog(source)

    def open_training_wizard(self):
        return self.dialogs.open_training_wizard()

    def offer_saved_model(self, name: str) -> QMessageBox:
        return self.dialogs.offer_saved_model(name)

    # ================================================================== shutdown
    def save_settings(self) -> None:
        """Remember this session's choices (not for scripted runs; a model that failed to load is
        never remembered)."""
        if not self.persist:
            return
        s = self.settings
        gui_settings.write("source", self.source_spec, s)
        self.model_ctl.save(s)
        if self.session.loaded_model_ref is not None:
            gui_settings.write("model", str(self.session.loaded_model_ref), s)
        gui_settings.write("landmarks", bool(self.video.show_landmarks), s)
        self.recording_ctl.save(s)
        s.setValue("geometry", self.saveGeometry())
        s.setValue("window_state", self.saveState())
        s.sync()

    def closeEvent(self, event) -> None:  # Qt API
        import time

        acts = self.session.close()
        self.timer.stop()
        t0 = time.monotonic()
        self._do(acts, timeout=1.0)
        self.recorder.stop()  # in case a recorder outlived the session's knowledge of it
        try:
            self.save_settings()
        except Exception:
            log.exception("saving settings failed")
        self.dialogs.close_viewers()
        log.debug("closed in %.2f s", time.monotonic() - t0)
        super().closeEvent(event)
