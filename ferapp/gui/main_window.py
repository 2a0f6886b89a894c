"""The main window: live video with overlays, live plots, toolbar, recording, menus.

Threads: the core ``Runner`` owns the capture and inference threads; ``RunnerBridge``
(bridge.py) turns its callbacks into a result buffer plus queued signals; a ~30 Hz
``QTimer`` here drains the buffer and redraws video, plots and stats. Recording is a sink
on the worker thread (recording.py). Slow core calls (building the pipeline, loading a
model, switching detector) run in ``BackgroundTask`` threads so the window never freezes.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSlider,
    QSpinBox,
    QToolBar,
    QWidget,
)

from ferapp.gui import models as gui_models
from ferapp.gui import settings as gui_settings
from ferapp.gui.bridge import BackgroundTask, RunnerBridge
from ferapp.gui.plots import LivePlots
from ferapp.gui.video_view import VideoView
from ferapp.paths import recordings_dir
from ferapp.record.recorder import Recorder, timestamped_path

log = logging.getLogger(__name__)

DISPLAY_HZ = 30
DEMO_SPECS = (("Demo (1 face)", "demo"), ("Demo (2 faces)", "demo:2"), ("Demo (4 faces)", "demo:4"))


def _is_camera_spec(spec: str) -> bool:
    return spec.strip().isdigit()


class MainWindow(QMainWindow):
    """ferapp's desktop window. ``start()`` begins capture; ``close()`` stops everything."""

    pipeline_ready = Signal()  # the pipeline was built (models loaded) — tests wait on it
    model_changed = Signal(str)  # display name of the model now in use
    running_changed = Signal(bool)

    def __init__(self, source: str | None = None, model: str | None = None, detector: str | None = None,
                 driver: bool = False, cameras: list[int] | None = None, parent: QWidget | None = None,
                 min_face: float | None = None, persist: bool = True):
        """``persist`` False (scripted ``--snapshot`` / ``--exit-after`` runs): nothing of this
        session is written to the user's settings."""
        super().__init__(parent)
        self.setWindowTitle("ferapp — facial expression recognition")
        self.resize(1280, 760)
        self.settings = gui_settings.app_settings()
        self.pipeline = None
        self.runner = None
        self.driver_monitor = None
        self.driver_panel = None
        self.driver_dock: QDockWidget | None = None
        self._viewers: list[QWidget] = []
        self._wizard = None
        self._building = False
        self._start_when_ready = False
        self._loading_model: str | None = None
        self._model_ref: str | None = None  # ref of the model in use (or being built)
        self._loaded_model_ref: str | None = None  # the last model that really loaded (saved in the settings)
        self.persist = bool(persist)
        self._tick = 0
        self._closing = False
        self._last_face_t: float | None = None  # monotonic time a face was last seen (None: not yet)
        self._no_face_shown = False
        self.errors: deque[str] = deque(maxlen=200)  # recent user-facing errors (newest last)
        self.last_dialog: QMessageBox | None = None

        self.bridge = RunnerBridge(self)
        self.recorder = Recorder(on_failure=self.bridge.recording_failed.emit)
        self.bridge.sinks.append(self.recorder.write)
        self.bridge.error.connect(self.on_worker_error, Qt.ConnectionType.QueuedConnection)
        self.bridge.ended.connect(self.on_source_ended, Qt.ConnectionType.QueuedConnection)
        self.bridge.recording_failed.connect(self.on_recording_failed, Qt.ConnectionType.QueuedConnection)

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

        self._build_actions()
        self._build_toolbar(cameras)
        self._build_menus()
        self._build_statusbar()

        # -- initial selections (CLI args win over remembered settings) -----------------------
        self.requested_source = source
        self.source_spec = self._initial_source(source)
        self._select_source_in_combo(self.source_spec)
        det = detector or gui_settings.read("detector", self.settings) or "hog"
        idx = self.detector_combo.findText(det)
        if detector and idx < 0:
            self.status(f"Unknown detector '{detector}'; using {self.detector_combo.currentText()}")
        if idx >= 0:
            self.detector_combo.setCurrentIndex(idx)
        self.smoothing_spin.setValue(float(gui_settings.read("smoothing", self.settings)))
        self.min_face_spin.setValue(int(min_face or gui_settings.read("min_face", self.settings)))
        self.refresh_models(select=None)
        remembered = gui_settings.read("model", self.settings)
        if remembered and self.model_combo.findData(remembered) < 0:
            remembered = None  # a model that was deleted since: fall back to the default
        wanted_model = model or remembered or gui_models.default_model()
        # None = the store's default model; a name not in the dropdown (a path) is used as given
        self._model_ref = wanted_model or None
        if wanted_model and self.model_combo.findData(wanted_model) < 0:
            self.refresh_models()  # adds the one untrained entry for --model ARCH
        self._select_model_in_combo(wanted_model)
        self._pick_after_build: str | None = None

        geo = self.settings.value("geometry")
        if isinstance(geo, QByteArray | bytes):
            self.restoreGeometry(geo)
        state = self.settings.value("window_state")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(state)

        self.detector_combo.currentIndexChanged.connect(self._detector_changed)
        self.min_face_spin.editingFinished.connect(self._detector_changed)
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.source_combo.activated.connect(self._source_activated)

        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / DISPLAY_HZ))
        self.timer.timeout.connect(self.refresh_display)
        self.timer.start()
        if driver:
            self.driver_action.setChecked(True)

    # ================================================================== construction
    def _build_actions(self) -> None:
        self.start_action = QAction("Start", self)
        self.start_action.setCheckable(True)
        self.start_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.start_action.setToolTip("Start / stop capture (Space)")
        self.start_action.triggered.connect(self._start_triggered)
        self.pause_action = QAction("Pause", self)
        self.pause_action.setCheckable(True)
        self.pause_action.setShortcut(QKeySequence(Qt.Key.Key_P))
        self.pause_action.setToolTip("Pause / resume a video, folder or the demo (P)")
        self.pause_action.setEnabled(False)
        self.pause_action.toggled.connect(self._pause_toggled)
        self.record_action = QAction("● Record", self)
        self.record_action.setCheckable(True)
        self.record_action.setShortcut(QKeySequence(Qt.Key.Key_R))
        self.record_action.setToolTip("Record the expression timeline (CSV + JSON) to the recordings folder (R)")
        self.record_action.triggered.connect(self._record_triggered)
        self.video_action = QAction("Also record annotated video (MP4)", self)
        self.video_action.setCheckable(True)
        self.video_action.setChecked(bool(gui_settings.read("record_video", self.settings)))
        self.open_timeline_action = QAction("Open timeline…", self)
        self.open_timeline_action.setShortcut(QKeySequence("Ctrl+O"))
        self.open_timeline_action.triggered.connect(self._ask_open_timeline)
        self.landmarks_action = QAction("Show landmarks", self)
        self.landmarks_action.setCheckable(True)
        self.landmarks_action.setChecked(self.video.show_landmarks)
        self.landmarks_action.toggled.connect(self._landmarks_toggled)
        self.driver_action = QAction("Driver monitoring", self)
        self.driver_action.setCheckable(True)
        self.driver_action.setToolTip("Eye closure, PERCLOS, yawns and head pose alerts for the main face")
        self.driver_action.toggled.connect(self.set_driver_mode)
        self.train_action = QAction("Train a model…", self)
        self.train_action.triggered.connect(self.open_training_wizard)
        self.refresh_models_action = QAction("Refresh model list", self)
        self.refresh_models_action.triggered.connect(lambda: self.refresh_models())
        self.about_action = QAction("About ferapp", self)
        self.about_action.triggered.connect(self.show_about)
        self.quick_start_action = QAction("Quick start", self)
        self.quick_start_action.setShortcut(QKeySequence(Qt.Key.Key_F1))
        self.quick_start_action.triggered.connect(lambda: self.show_help("quick"))
        self.shortcuts_action = QAction("Keyboard shortcuts", self)
        self.shortcuts_action.triggered.connect(lambda: self.show_help("shortcuts"))
        self.batch_action = QAction("Analyze video or folder…", self)
        self.batch_action.setToolTip("Process a whole video or folder of photos into a timeline (like `ferapp analyze`)")
        self.batch_action.triggered.connect(lambda: self.open_batch_dialog())
        self.open_video_action = QAction("Open video…", self)
        self.open_video_action.triggered.connect(lambda: self._ask_open_source("video"))
        self.open_image_action = QAction("Open image…", self)
        self.open_image_action.triggered.connect(lambda: self._ask_open_source("image"))
        self.open_folder_action = QAction("Open folder of images…", self)
        self.open_folder_action.triggered.connect(lambda: self._ask_open_source("folder"))
        self.recordings_action = QAction("Show recordings folder", self)
        self.recordings_action.triggered.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(recordings_dir()))))
        self.quit_action = QAction("Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close)

    def _build_toolbar(self, cameras: list[int] | None) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        self.addToolBar(tb)
        self.toolbar = tb
        self.source_combo = QComboBox()
        self.source_combo.setToolTip("Frame source")
        self.source_combo.setMinimumContentsLength(14)
        if cameras is None:
            try:
                from ferapp.capture import list_cameras

                cameras = list_cameras()
            except Exception:  # noqa: BLE001
                cameras = []
        self.cameras = list(cameras)
        for i in self.cameras:
            self.source_combo.addItem(f"Camera {i}", str(i))
        for text, spec in DEMO_SPECS:
            self.source_combo.addItem(text, spec)
        self.source_combo.addItem("Open video / image / folder…", "__open__")
        tb.addWidget(QLabel(" Source "))
        tb.addWidget(self.source_combo)

        self.detector_combo = QComboBox()
        self.detector_combo.setToolTip("Face detector")
        try:
            from ferapp.detect import list_detectors

            dets = list_detectors()
        except Exception:  # noqa: BLE001
            dets = ["hog"]
        self.detector_combo.addItems(dets)
        tb.addWidget(QLabel(" Detector "))
        tb.addWidget(self.detector_combo)
        from ferapp.config import DEFAULT_MIN_FACE, MIN_FACE_RANGE

        self.min_face_spin = QSpinBox()
        self.min_face_spin.setRange(max(12, MIN_FACE_RANGE[0]), 400)
        self.min_face_spin.setValue(DEFAULT_MIN_FACE)
        self.min_face_spin.setSuffix(" px")
        self.min_face_spin.setToolTip("Smallest face width to find, in video pixels. Smaller finds people "
                                      "further away but costs more CPU (the face scan grows with 1/size²).")
        tb.addWidget(QLabel(" Min face "))
        tb.addWidget(self.min_face_spin)

        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Expression model (trained models first)")
        self.model_combo.setMinimumContentsLength(18)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        tb.addWidget(QLabel(" Model "))
        tb.addWidget(self.model_combo)
        self.device_label = QLabel(" device: … ")
        self.device_label.setObjectName("deviceLabel")
        tb.addWidget(self.device_label)

        self.addToolBarBreak()
        tb = QToolBar("Capture")
        tb.setObjectName("captureToolbar")
        tb.setMovable(False)
        self.addToolBar(tb)
        self.capture_toolbar = tb
        tb.addAction(self.start_action)
        tb.addAction(self.pause_action)
        tb.addAction(self.record_action)
        self.record_label = QLabel("")
        self.record_label.setObjectName("recordLabel")
        self.record_label.setMinimumWidth(110)
        tb.addWidget(self.record_label)
        tb.addSeparator()
        tb.addWidget(QLabel(" Smoothing "))
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, 95)
        self.smoothing_slider.setFixedWidth(90)
        self.smoothing_spin = QDoubleSpinBox()
        self.smoothing_spin.setRange(0.0, 0.95)
        self.smoothing_spin.setSingleStep(0.05)
        self.smoothing_spin.setDecimals(2)
        self.smoothing_spin.setToolTip("Exponential smoothing of probabilities (0 = none)")
        self.smoothing_slider.valueChanged.connect(lambda v: self.smoothing_spin.setValue(v / 100.0))
        self.smoothing_spin.valueChanged.connect(self._smoothing_changed)
        tb.addWidget(self.smoothing_slider)
        tb.addWidget(self.smoothing_spin)
        tb.addSeparator()
        tb.addAction(self.landmarks_action)
        tb.addAction(self.driver_action)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.open_video_action)
        m.addAction(self.open_image_action)
        m.addAction(self.open_folder_action)
        m.addSeparator()
        m.addAction(self.batch_action)
        m.addAction(self.open_timeline_action)
        m.addAction(self.recordings_action)
        m.addSeparator()
        m.addAction(self.quit_action)
        m = mb.addMenu("&Capture")
        m.addAction(self.start_action)
        m.addAction(self.pause_action)
        m.addAction(self.record_action)
        m.addAction(self.video_action)
        m = mb.addMenu("&View")
        m.addAction(self.landmarks_action)
        m.addAction(self.driver_action)
        m.addAction(self.plots_dock.toggleViewAction())
        m = mb.addMenu("&Tools")
        m.aboutToShow.connect(self._update_train_action)
        self._update_train_action()
        m.addAction(self.train_action)
        m.addAction(self.refresh_models_action)
        m = mb.addMenu("&Help")
        m.addAction(self.quick_start_action)
        m.addAction(self.shortcuts_action)
        m.addSeparator()
        m.addAction(self.about_action)

    def _build_statusbar(self) -> None:
        sb = self.statusBar()
        self.notice_label = QLabel("")
        self.notice_label.setObjectName("noticeLabel")
        sb.addPermanentWidget(self.notice_label)
        self.position_label = QLabel("")
        self.position_label.setObjectName("positionLabel")
        sb.addPermanentWidget(self.position_label)
        self.stats_label = QLabel("")
        self.stats_label.setObjectName("statsLabel")
        sb.addPermanentWidget(self.stats_label)

    # ================================================================== sources
    def _initial_source(self, requested: str | None) -> str:
        if requested:
            return requested
        remembered = str(gui_settings.read("source", self.settings) or "")
        if remembered and not _is_camera_spec(remembered) and (remembered.startswith("demo")
                                                               or Path(remembered).exists()):
            return remembered
        if remembered and _is_camera_spec(remembered) and int(remembered) in self.cameras:
            return remembered
        if self.cameras:
            return str(self.cameras[0])
        self.status("No camera found — showing the built-in demo source (open a video, image or folder "
                    "from the File menu)", 0)
        self.notice_label.setText(" No camera found: demo source ")
        return "demo"

    def _select_source_in_combo(self, spec: str) -> None:
        idx = self.source_combo.findData(spec)
        if idx < 0:
            idx = self.source_combo.count() - 1  # before "Open…"
            self.source_combo.insertItem(idx, Path(spec).name or spec, spec)
            self.source_combo.setItemData(idx, spec, Qt.ItemDataRole.ToolTipRole)
        self.source_combo.setCurrentIndex(idx)

    def _source_activated(self, _i: int) -> None:
        spec = self.source_combo.currentData()
        if spec == "__open__":
            self._select_source_in_combo(self.source_spec)
            self._ask_open_source("video")
            return
        if spec and spec != self.source_spec:
            self.set_source(spec)

    def _ask_open_source(self, kind: str) -> None:
        from ferapp.capture import IMAGE_EXTS, VIDEO_EXTS

        if kind == "folder":
            path = QFileDialog.getExistingDirectory(self, "Open a folder of images")
        else:
            exts = sorted(VIDEO_EXTS if kind == "video" else IMAGE_EXTS)
            filt = f"{kind.title()} files ({' '.join('*' + e for e in exts)});;All files (*)"
            path, _ = QFileDialog.getOpenFileName(self, f"Open {kind}", "", filt)
        if path:
            self.set_source(path)

    def set_source(self, spec: str) -> None:
        """Switch to another source; restarts capture if it was running."""
        was_running = self.is_running
        if was_running:
            self.stop()
        self.source_spec = spec
        self.notice_label.setText("")
        self._select_source_in_combo(spec)
        if was_running or not self.is_running:
            self.start()  # picking a source means: show it

    # ================================================================== run control
    @property
    def is_running(self) -> bool:
        return self.runner is not None and self.runner.running

    def start(self) -> None:
        """Start capture on ``source_spec`` (builds the pipeline first, in the background)."""
        if self.is_running:
            return
        if self.pipeline is None:
            self._start_when_ready = True
            self._build_pipeline()
            self.start_action.setChecked(True)
            return
        from ferapp.capture import SourceError
        from ferapp.inference.runner import Runner

        self.pipeline.reset()
        self.bridge.reset()
        self.plots.clear()
        if self.driver_monitor is not None:  # a new source is a new drive: recalibrate
            self.driver_monitor.reset()
            self.driver_panel.clear()
        b = self.bridge
        runner = Runner(self.source_spec, self.pipeline, on_result=b.on_result, on_error=b.on_error,
                        on_end=b.on_end, on_frame=b.on_frame)
        try:
            runner.start()
        except (SourceError, ValueError, OSError) as e:
            self.start_action.setChecked(False)
            if _is_camera_spec(self.source_spec):
                self.status(f"{e} — switching to the demo source", 0)
                self.notice_label.setText(f" Camera {self.source_spec} unavailable: demo source ")
                self.source_spec = "demo"
                self._select_source_in_combo("demo")
                return self.start()
            self.status(str(e), 0)
            self.video.clear(str(e))
            return
        self.runner = runner
        self._last_face_t = time.monotonic()
        self._no_face_shown = False
        self.pause_action.setEnabled(runner.can_pause)
        self.pause_action.blockSignals(True)
        self.pause_action.setChecked(False)
        self.pause_action.blockSignals(False)
        self.start_action.setChecked(True)
        self.start_action.setText("Stop")
        self.running_changed.emit(True)
        self.status(f"Running on {runner.source_name}", 3000)

    def stop(self, timeout: float = 1.0) -> bool:
        """Stop capture and inference threads (and finalise a recording)."""
        self._start_when_ready = False
        if self.recorder.active:
            self.stop_recording()
        ok = True
        runner, self.runner = self.runner, None
        if runner is not None:
            ok = runner.stop(timeout=timeout)
            if not ok:
                log.warning("runner threads did not stop within %.1f s", timeout)
        self.start_action.setChecked(False)
        self.start_action.setText("Start")
        self._playback_stopped()
        if runner is not None:
            self.running_changed.emit(False)
        return ok

    def _playback_stopped(self) -> None:
        self.pause_action.blockSignals(True)
        self.pause_action.setChecked(False)
        self.pause_action.blockSignals(False)
        self.pause_action.setEnabled(False)
        self._no_face_shown = False
        self.notice_label.setText("" if self.notice_label.text().strip() == "No face found" else
                                  self.notice_label.text())

    def _pause_toggled(self, on: bool) -> None:
        if self.runner is None:
            return
        if on:
            self.runner.pause()
            self.status("Paused (P to resume)", 0)
        else:
            self.runner.resume()
            self._last_face_t = time.monotonic()
            self.status("Playing", 2000)

    def _start_triggered(self, checked: bool) -> None:
        if checked:
            self.start()
        else:
            self.stop()

    def _build_pipeline(self) -> None:
        if self._building:
            return
        self._building = True
        det = self.detector_combo.currentText() or "hog"
        ref = self._model_ref
        smoothing = self.smoothing_spin.value()
        min_face = float(self.min_face_spin.value())
        self.status(f"Loading model {ref or '(default)'} and detector {det}…", 0)

        def build():
            from ferapp.inference.pipeline import Pipeline

            return Pipeline(detector=det, model=ref, smoothing=smoothing, min_face=min_face, realtime=True)

        BackgroundTask(build, "ferapp-build-pipeline").start(self._pipeline_built, self._pipeline_failed)

    def _pipeline_built(self, pipeline) -> None:
        self._building = False
        if self._closing:
            return
        self.pipeline = pipeline
        if self.driver_monitor is not None:
            pipeline.add_postprocessor(self.driver_monitor.process)
        engine = pipeline.engine
        self._model_ref = getattr(engine, "ref", None) or self._model_ref
        self._loaded_model_ref = self._model_ref
        self._select_model_in_combo(self._model_ref, quiet=True)
        self._show_device()
        self.model_changed.emit(pipeline.model_name)
        self.status(f"Model: {pipeline.model_name}", 3000)
        pick, self._pick_after_build = self._pick_after_build, None
        if pick is not None and pick != self._model_ref:  # picked while the pipeline was building
            self.set_model(pick)
        self.pipeline_ready.emit()
        if self._start_when_ready:
            self._start_when_ready = False
            self.start()

    def _pipeline_failed(self, message: str) -> None:
        self._building = False
        self._start_when_ready = False
        self.start_action.setChecked(False)
        self.report_error(f"Could not load the model/detector: {message}", dialog=True)

    def _show_device(self) -> None:
        try:
            from ferapp.inference.device import device_description

            desc = device_description(self.pipeline.engine.device)
        except Exception:  # noqa: BLE001
            desc = "CPU"
        short = desc.split(" (")[0]
        self.device_label.setText(f" {short} ")
        self.device_label.setToolTip(desc)

    # ================================================================== live reconfiguration
    def _detector_changed(self, _i: int | None = None) -> None:
        name = self.detector_combo.currentText()
        if self.pipeline is None or not name:
            return
        pipeline = self.pipeline
        min_face = float(self.min_face_spin.value())
        if name == pipeline.detector_name and min_face == pipeline.min_face:
            return
        self.status(f"Loading detector {name}…", 0)
        BackgroundTask(lambda: pipeline.set_detector(name, min_face=min_face), "ferapp-detector").start(
            lambda _r: self.status(f"Detector: {name}, faces from {min_face:g} px", 3000),
            lambda m: self.report_error(f"Could not switch detector to {name}: {m}"))

    def _model_changed(self, _i: int) -> None:
        ref = self.model_combo.currentData()
        if ref is None or ref == self._model_ref:
            return
        if self.pipeline is None:
            if self._building:
                self._pick_after_build = ref
            else:
                self._model_ref = ref  # used when the pipeline is built
            return
        self.set_model(ref)

    def set_model(self, ref: str) -> None:
        """Load ``ref`` in a worker thread; the pipeline uses it from the next frame on."""
        if self.pipeline is None:
            self._model_ref = ref
            return
        pipeline = self.pipeline
        self._loading_model = ref
        self.model_combo.setEnabled(False)
        self.status(f"Loading model {ref}…", 0)

        def load():
            return pipeline.set_model(ref)

        def done(engine) -> None:
            self._loading_model = None
            self._model_ref = ref
            self._loaded_model_ref = ref
            self.model_combo.setEnabled(True)
            name = getattr(engine, "display_name", ref)
            self.status(f"Model: {name} (from the next frame)", 4000)
            self.model_changed.emit(name)

        def failed(msg: str) -> None:
            self._loading_model = None
            self.model_combo.setEnabled(True)
            self._select_model_in_combo(self._model_ref, quiet=True)
            self.report_error(f"Could not load model {ref}: {msg}", dialog=True)

        BackgroundTask(load, "ferapp-model").start(done, failed)

    def _smoothing_changed(self, value: float) -> None:
        self.smoothing_slider.blockSignals(True)
        self.smoothing_slider.setValue(int(round(value * 100)))
        self.smoothing_slider.blockSignals(False)
        if self.pipeline is not None:
            self.pipeline.set_smoothing(float(value))

    def _landmarks_toggled(self, on: bool) -> None:
        self.video.show_landmarks = on

    def refresh_models(self, select: str | None = None) -> None:
        """Re-read the model store; ``select`` (a model name) becomes the current model."""
        current = select or self.model_combo.currentData() or self._model_ref
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        view = self.model_combo.model()
        for ch in gui_models.model_choices():
            self.model_combo.addItem(ch.text, ch.ref)
            i = self.model_combo.count() - 1
            if ch.is_header:
                item = view.item(i)
                item.setEnabled(False)
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            else:
                self.model_combo.setItemData(i, ch.tooltip, Qt.ItemDataRole.ToolTipRole)
        if current is not None and self.model_combo.findData(current) < 0 and not Path(str(current)).exists():
            from ferapp.zoo import list_models

            if current in list_models():  # --model ARCH: that one untrained entry
                ch = gui_models.untrained_choice(current)
                self.model_combo.addItem(ch.text, ch.ref)
                self.model_combo.setItemData(self.model_combo.count() - 1, ch.tooltip, Qt.ItemDataRole.ToolTipRole)
        if current is not None:
            self._select_model_in_combo(current, quiet=True)
        self.model_combo.blockSignals(False)
        if select is not None and self.model_combo.currentData() == select:
            self._model_changed(self.model_combo.currentIndex())

    def _select_model_in_combo(self, ref: str | None, quiet: bool = False) -> None:
        if ref is None:
            return
        idx = self.model_combo.findData(ref)
        if idx < 0:
            return
        if quiet:
            self.model_combo.blockSignals(True)
        self.model_combo.setCurrentIndex(idx)
        if quiet:
            self.model_combo.blockSignals(False)

    # ================================================================== display
    def refresh_display(self) -> None:
        """The ~30 Hz timer: drain new results, redraw video, plots, stats, record time."""
        results = self.bridge.drain()
        if results:
            self.plots.add_results(results)
            self._track_faces(results)
            if self.driver_panel is not None:
                self._update_driver_panel(results)
        latest = self.bridge.latest
        frame = self.bridge.latest_frame
        if frame is not None and self.runner is not None:
            self.video.show_frame(frame.image, latest)
        if results or self._tick % 10 == 0:
            self.plots.refresh(latest)
        self._tick += 1
        if self._tick % 8 == 0:
            self._update_stats()
            self._update_position()
        if self.recorder.active:
            e = int(self.recorder.elapsed_s)
            self.record_label.setText(f" ● REC {e // 60:02d}:{e % 60:02d} ")

    NO_FACE_AFTER_S = 2.0

    def _track_faces(self, results) -> None:
        """'No face found' in the status bar after 2 s of processed frames without a face."""
        now = time.monotonic()
        if any(r.faces for r in results):
            self._last_face_t = now
            if self._no_face_shown:
                self._no_face_shown = False
                self.notice_label.setText("")
            return
        if self._last_face_t is None:
            self._last_face_t = now
        if not self._no_face_shown and now - self._last_face_t >= self.NO_FACE_AFTER_S:
            self._no_face_shown = True
            self.notice_label.setText(" No face found ")
            self.status(f"No face found for {self.NO_FACE_AFTER_S:.0f} s. Faces smaller than "
                        f"{self.min_face_spin.value()} px, dark, strongly turned or covered are not detected: "
                        "lower 'Min face' or try the cnn detector.", 8000)

    def _update_position(self) -> None:
        r = self.runner
        pos = r.position_s if r is not None else None
        if pos is None:
            self.position_label.setText("")
            return
        dur = r.duration_s

        def mmss(t: float) -> str:
            return f"{int(t // 60):02d}:{t % 60:04.1f}"

        state = " (paused)" if r.paused else ""
        self.position_label.setText(f" {mmss(pos)}" + (f" / {mmss(dur)}" if dur else "") + state + " ")

    def _update_stats(self) -> None:
        if self.runner is None:
            self.stats_label.setText("stopped")
            return
        s = self.runner.stats()
        text = (f"capture {s.capture_fps:.1f} fps · processed {s.processed_fps:.1f} fps · "
                f"latency p50 {s.latency_p50_ms:.0f} ms · dropped {s.dropped_recent} in 5 s")
        if not s.source_ok:
            text += " · source FAULT"
        self.stats_label.setText(text)

    # ================================================================== recording
    def _record_triggered(self, checked: bool) -> None:
        if checked:
            self.start_recording()
        else:
            self.stop_recording()

    def start_recording(self, path: str | Path | None = None) -> Path | None:
        """Start writing the timeline (and the annotated MP4 if enabled). Returns the CSV path."""
        from ferapp.record.timeline import TimelineError

        if self.recorder.active:
            return self.recorder.path
        if not self.is_running:
            self.start()
        target = Path(path) if path else timestamped_path(recordings_dir())
        extra = ()
        if self.driver_monitor is not None:
            from ferapp.monitor import DRIVER_COLUMNS

            extra = tuple(DRIVER_COLUMNS)
        meta = {"source": self.source_spec, "detector": self.detector_combo.currentText(),
                "model": self.pipeline.model_name if self.pipeline else str(self._model_ref or ""),
                "smoothing": self.smoothing_spin.value(), "driver_monitoring": self.driver_monitor is not None}
        fps = 15.0
        if self.runner is not None:
            fps = self.runner.stats().processed_fps or 15.0
        try:
            p = self.recorder.start(target, meta=meta, video=self.video_action.isChecked(), video_fps=fps,
                                    extra_columns=extra)
        except TimelineError as e:
            self.record_action.setChecked(False)
            self.report_error(str(e), dialog=True)
            return None
        self.record_action.setChecked(True)
        self.record_label.setText(" ● REC 00:00 ")
        self.status(f"Recording to {p}", 0)
        return p

    def stop_recording(self) -> Path | None:
        path = self.recorder.stop()
        self.record_action.setChecked(False)
        self.record_label.setText("")
        if path is not None:
            extra = f" and {path.with_suffix('.mp4').name}" if self.recorder.video_path else ""
            self.status(f"Saved {path}{extra}", 0)
        return path

    def on_recording_failed(self, message: str) -> None:
        self.record_action.setChecked(False)
        self.record_label.setText("")
        self.report_error(message, dialog=True)

    # ================================================================== worker events
    def on_worker_error(self, message: str) -> None:
        self.report_error(message)

    def on_source_ended(self) -> None:
        if self.recorder.active:
            self.stop_recording()
        runner, self.runner = self.runner, None
        if runner is not None:
            runner.stop(timeout=0.5)
            self.running_changed.emit(False)
        self.start_action.setChecked(False)
        self.start_action.setText("Start")
        self._playback_stopped()
        self._update_position()
        self.status(f"End of '{Path(self.source_spec).name or self.source_spec}': press Start (Space) to "
                    "play it again", 0)

    def report_error(self, message: str, dialog: bool = False) -> None:
        """Show a worker/user-facing error: status bar always, a non-blocking dialog if asked."""
        self.errors.append(message)
        log.warning("%s", message)
        self.status(message, 10000)
        if dialog and not self._closing:  # non-modal: the window keeps running behind it
            box = QMessageBox(QMessageBox.Icon.Warning, "ferapp", message, QMessageBox.StandardButton.Ok, self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
            self.last_dialog = box

    def status(self, message: str, timeout_ms: int = 5000) -> None:
        self.statusBar().showMessage(message, timeout_ms)

    # ================================================================== driver monitoring hook
    def set_driver_mode(self, on: bool) -> bool:
        """Add/remove the DriverMonitor post-processor and show/hide the driver panel dock."""
        if on:
            if self.driver_monitor is not None:
                return True
            try:
                from ferapp.gui.driver_panel import DriverPanel
                from ferapp.monitor import DriverMonitor
            except ImportError as e:
                self.report_error(f"Driver monitoring is not available: {e}")
                self.driver_action.blockSignals(True)
                self.driver_action.setChecked(False)
                self.driver_action.blockSignals(False)
                return False
            self.driver_monitor = DriverMonitor()
            if self.pipeline is not None:
                self.pipeline.add_postprocessor(self.driver_monitor.process)
            if self.driver_panel is None:
                self.driver_panel = DriverPanel()
                if hasattr(self.driver_panel, "alarm_raised"):
                    self.driver_panel.alarm_raised.connect(lambda msg: self.status(f"ALERT: {msg}", 8000))
                self.driver_dock = QDockWidget("Driver monitoring", self)
                self.driver_dock.setObjectName("driverDock")
                self.driver_dock.setWidget(self.driver_panel)
                # under the video only: the expression plots keep the full height of the right column
                self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
                self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.driver_dock)
            self.driver_dock.show()
            self.resizeDocks([self.driver_dock], [self.driver_panel_height()], Qt.Orientation.Vertical)
            self.driver_panel.clear()
            if self.recorder.active:
                self.status("Driver measures are added to the next recording", 5000)
            return True
        monitor, self.driver_monitor = self.driver_monitor, None
        if monitor is not None and self.pipeline is not None:
            self.pipeline.remove_postprocessor(monitor.process)
        if self.driver_dock is not None:
            self.driver_dock.hide()
        if self.statusBar().currentMessage().startswith("ALERT"):
            self.statusBar().clearMessage()  # a driver alert must not outlive driver mode
        return True

    def driver_panel_height(self) -> int:
        """About a third of the window (at least 200 px): room for its plots, most for the video."""
        return max(200, int(0.36 * self.height()))

    def _update_driver_panel(self, results) -> None:
        """Feed every new DriverState (cheap; it queues its events) and redraw once."""
        for r in results:
            state = r.extras.get("driver")
            if state is not None:
                self.driver_panel.update_state(state.t, state)
        self.driver_panel.refresh()

    # ================================================================== dialogs
    def _ask_open_timeline(self) -> None:
        start = str(recordings_dir()) if recordings_dir().exists() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open timeline", start, "Timeline CSV (*.csv);;All files (*)")
        if path:
            self.open_timeline(path)

    def open_timeline(self, path: str | Path):
        """Open the timeline viewer on ``path``; returns it (None after an error message)."""
        from ferapp.gui.viewer import TimelineViewer
        from ferapp.record.timeline import TimelineError

        try:
            viewer = TimelineViewer(path)
        except TimelineError as e:
            self.report_error(str(e), dialog=True)
            return None
        except Exception as e:  # noqa: BLE001 - a viewer bug must reach the user, not vanish in a slot
            log.exception("timeline viewer failed")
            self.report_error(f"Could not show '{path}': {type(e).__name__}: {e}", dialog=True)
            return None
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.destroyed.connect(lambda *_: self._viewers.remove(viewer) if viewer in self._viewers else None)
        self._viewers.append(viewer)
        viewer.show()
        return viewer

    def show_help(self, which: str):
        from ferapp.gui.about import QUICK_START, HtmlDialog, shortcuts_html

        title, body, size = (("Quick start", QUICK_START, (680, 560)) if which == "quick"
                             else ("Keyboard shortcuts", shortcuts_html(), (420, 360)))
        dlg = HtmlDialog(title, body, self, size)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()
        self.last_dialog = dlg
        return dlg

    def open_batch_dialog(self, source: str | None = None):
        """File > Analyze video or folder…: the window's model, detector and min face; the
        timeline goes to the recordings folder and opens in the viewer when done."""
        from ferapp.gui.batch_dialog import BatchAnalysisDialog

        dlg = BatchAnalysisDialog(self._loaded_model_ref or self._model_ref, self.detector_combo.currentText() or "hog",
                                  float(self.min_face_spin.value()), recordings_dir(), self, source=source)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.timeline_ready.connect(self.open_timeline)
        dlg.show()
        self.batch_dialog = dlg
        return dlg

    def show_about(self) -> None:
        from ferapp.gui.about import AboutDialog

        dlg = AboutDialog(self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()

    def _update_train_action(self) -> None:
        import importlib.util

        available = importlib.util.find_spec("ferapp.gui.wizard") is not None
        self.train_action.setEnabled(available)
        self.train_action.setToolTip("Train a model on a dataset; it appears in the model list when saved"
                                     if available else "The training wizard is not installed in this build")

    def open_training_wizard(self):
        """Tools > Train a model…: the training wizard; a saved model appears in the dropdown."""
        try:
            from ferapp.gui.wizard import TrainingWizard
        except ImportError as e:
            self.report_error(f"The training wizard is not available: {e}", dialog=True)
            return None
        if self._wizard is None:
            self._wizard = TrainingWizard(self)
            self._wizard.model_saved.connect(self.offer_saved_model)
            self._wizard.destroyed.connect(lambda *_: setattr(self, "_wizard", None))
        self._wizard.show()
        self._wizard.raise_()
        return self._wizard

    def offer_saved_model(self, name: str) -> QMessageBox:
        """A model was saved (wizard): list it at once, and ask before switching to it (the
        default keeps the model in use: a new model may have other classes or lower accuracy)."""
        self.refresh_models()
        box = QMessageBox(QMessageBox.Icon.Question, "Model saved",
                          f"'{name}' was saved and is now in the Model list.\n\nUse it now for the live view?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button) -> None:
            if box.standardButton(button) == QMessageBox.StandardButton.Yes:
                self.refresh_models(select=name)

        box.buttonClicked.connect(answered)
        box.open()
        self.last_dialog = box
        return box

    # ================================================================== shutdown
    def save_settings(self) -> None:
        """Remember this session's choices (not for scripted runs; a model that failed to load is
        never remembered)."""
        if not self.persist:
            return
        s = self.settings
        gui_settings.write("source", self.source_spec, s)
        gui_settings.write("detector", self.detector_combo.currentText(), s)
        if self._loaded_model_ref is not None:
            gui_settings.write("model", str(self._loaded_model_ref), s)
        gui_settings.write("smoothing", float(self.smoothing_spin.value()), s)
        gui_settings.write("min_face", int(self.min_face_spin.value()), s)
        gui_settings.write("landmarks", bool(self.video.show_landmarks), s)
        gui_settings.write("record_video", bool(self.video_action.isChecked()), s)
        s.setValue("geometry", self.saveGeometry())
        s.setValue("window_state", self.saveState())
        s.sync()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._closing = True
        self.timer.stop()
        t0 = time.monotonic()
        self.stop(timeout=1.0)
        self.recorder.stop()  # in case stop() found nothing running
        try:
            self.save_settings()
        except Exception:  # noqa: BLE001
            log.exception("saving settings failed")
        for v in list(self._viewers):
            v.close()
        log.debug("closed in %.2f s", time.monotonic() - t0)
        super().closeEvent(event)
