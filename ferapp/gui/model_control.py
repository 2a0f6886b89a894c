"""The live pipeline's settings: the model dropdown, the detector, the smallest face size, the
smoothing, and the device label.

A part of the main window that owns its widgets (the window places them in its toolbars) and
talks back through signals. It takes the Qt-free ``ferapp.session.Session`` (which model is in
use, being loaded or waiting for the build), the window's :class:`~ferapp.gui.live_run.LiveRun`
(the pipeline it changes) and the settings store. The pipeline is built once, in a background
job (``bridge.run_in_background``); later changes are applied to it live (a model or detector
loads in the background, the pipeline uses it from the next frame on).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QSlider, QSpinBox

from ferapp.config import settings as app_settings  # the defaults (the QSettings store is `settings`)
from ferapp.gui import models as gui_models
from ferapp.gui import settings as gui_settings
from ferapp.gui.bridge import run_in_background
from ferapp.gui.live_run import LiveRun
from ferapp.session import Session


class ModelControl(QObject):
    """Signals: ``status(text, ms)``, ``error(text, as_dialog)``, ``model_changed(display name)``,
    ``stage_changed(text)`` (what the pipeline build loads now; "" once it ended)."""

    status = Signal(str, int)
    error = Signal(str, bool)
    model_changed = Signal(str)
    stage_changed = Signal(str)

    MAX_TEXT_PX = 430  # widest dropdown entry: the model toolbar still fits a 1280 px window

    def __init__(self, session: Session, live: LiveRun, settings, parent: QObject | None = None):
        super().__init__(parent)
        self.session, self.live, self.settings = session, live, settings
        self.build_stage: str | None = (
            None  # what the pipeline build is loading now (the video's loading state)
        )
        self._build_widgets()
        self.detector_combo.currentIndexChanged.connect(self.detector_changed)
        self.min_face_spin.editingFinished.connect(self.detector_changed)
        self.combo.currentIndexChanged.connect(self.picked)
        self.smoothing_slider.valueChanged.connect(lambda v: self.smoothing_spin.setValue(v / 100.0))
        self.smoothing_spin.valueChanged.connect(self.smoothing_changed)

    def _build_widgets(self) -> None:
        self.detector_combo = QComboBox()
        self.detector_combo.setToolTip("Face detector")
        from ferapp.detect.registry import detector_specs  # built-ins, register_detector() and plugins

        for spec in detector_specs():
            self.detector_combo.addItem(spec.name)
            self.detector_combo.setItemData(
                self.detector_combo.count() - 1, spec.summary, Qt.ItemDataRole.ToolTipRole
            )
        det = app_settings().detection
        self.min_face_spin = QSpinBox()
        self.min_face_spin.setRange(max(12, int(det.min_face_range[0])), 400)
        self.min_face_spin.setValue(int(det.min_face))
        self.min_face_spin.setSuffix(" px")
        self.min_face_spin.setToolTip(
            "Smallest face width to find, in video pixels. Smaller finds people "
            "further away but costs more CPU (the face scan grows with 1/size²)."
        )
        self.combo = QComboBox()
        self.combo.setToolTip("Expression model (trained models first)")
        self.combo.setMinimumContentsLength(18)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device_label = QLabel(" device: … ")
        self.device_label.setObjectName("deviceLabel")
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, 95)
        self.smoothing_slider.setFixedWidth(90)
        self.smoothing_spin = QDoubleSpinBox()
        self.smoothing_spin.setRange(0.0, 0.95)
        self.smoothing_spin.setSingleStep(0.05)
        self.smoothing_spin.setDecimals(2)
        self.smoothing_spin.setToolTip("Exponential smoothing of probabilities (0 = none)")

    # ------------------------------------------------------------------ what is set
    @property
    def detector(self) -> str:
        return self.detector_combo.currentText() or app_settings().detection.detector

    @property
    def min_face(self) -> float:
        return float(self.min_face_spin.value())

    @property
    def smoothing(self) -> float:
        return float(self.smoothing_spin.value())

    # ------------------------------------------------------------------ the pipeline
    def build_pipeline(self, on_done: Callable, on_failed: Callable[[str], None]) -> None:
        """Build the pipeline from the current settings in the background.

        The window stays responsive: the landmark model was loaded before it was shown
        (``ferapp.startup``), torch's C++ libraries load with the GIL released (and torch not at
        all where the model's int8.onnx runs on the CPU: ``onnx_plan``), and the HOG detector is
        read from a file; what remains holds the GIL only in short slices."""
        det, ref = self.detector, self.session.model_ref
        smoothing, min_face = self.smoothing, self.min_face
        model_text = ref or "the default model"
        self.status.emit(f"Loading model {model_text} and detector {det}…", 0)
        from ferapp.inference.engine import onnx_plan

        try:
            torch_needed = onnx_plan(ref, None) is None
        except ValueError:  # e.g. a wrong FERAPP_RUNTIME: the engine says so when it is built
            torch_needed = True
        self._stage(
            "Loading PyTorch…" if torch_needed else f"Loading {model_text} and the {det} face detector…"
        )

        def build():
            import sys

            if torch_needed and "torch" not in sys.modules:
                from ferapp.startup import preload_torch_libraries

                preload_torch_libraries()
                import torch  # noqa: F401  (here, so that the stage shown is the true one)
            yield f"Loading {model_text} and the {det} face detector…"  # -> stage_changed, on the GUI thread
            from ferapp.inference.pipeline import Pipeline

            return Pipeline(detector=det, model=ref, smoothing=smoothing, min_face=min_face, realtime=True)

        def done(pipeline) -> None:
            self._stage(None)
            on_done(pipeline)

        def failed(message: str) -> None:
            self._stage(None)
            on_failed(message)

        def stage(text: str) -> None:
            if self.build_stage is not None:  # (not once the build has ended)
                self._stage(text)

        run_in_background(build, done, failed, on_yield=stage, name="ferapp-build-pipeline")

    def _stage(self, text: str | None) -> None:
        self.build_stage = text
        self.stage_changed.emit(text or "")

    def show_device(self, engine=None) -> None:
        """The status bar's device indicator: where the model runs (CUDA GPU, Apple MPS or the
        CPU), its precision, and why it is on the CPU when the device asked for could not run it.
        ``engine``: a model just loaded (the pipeline swaps it in at its next frame)."""
        engine = engine or getattr(self.live.pipeline, "engine", None)
        runtime = getattr(engine, "runtime", "torch")
        try:
            from ferapp.inference.device import device_description

            desc = device_description(engine.device, getattr(engine, "threads", None), runtime)
        except Exception:
            desc = "CPU"
        short = desc.split(" (")[0]
        precision = getattr(engine, "precision", "")
        if precision == "int8":
            short += " · int8"
        tip = desc + (f"\nnetwork: {precision} ({runtime})" if precision else "")
        fallback = getattr(engine, "fallback", None)
        if fallback:
            short += " (fallback)"
            tip += f"\n{fallback}"
        self.device_label.setText(f" {short} ")
        self.device_label.setToolTip(tip)

    # ------------------------------------------------------------------ model
    def initial(self, model: str | None, detector: str | None, min_face: float | None) -> None:
        """A new window's settings: the given ones win over the remembered ones."""
        det = detector or gui_settings.read("detector", self.settings) or app_settings().detection.detector
        idx = self.detector_combo.findText(det)
        if detector and idx < 0:
            self.status.emit(
                f"Unknown detector '{detector}'; using {self.detector_combo.currentText()}", 5000
            )
        if idx >= 0:
            self.detector_combo.setCurrentIndex(idx)
        self.smoothing_spin.setValue(float(gui_settings.read("smoothing", self.settings)))
        self.min_face_spin.setValue(int(min_face or gui_settings.read("min_face", self.settings)))
        self.initial_model(model, gui_settings.read("model", self.settings))

    def initial_model(self, requested: str | None, remembered: str | None) -> None:
        """``--model``, else the remembered one while it is still listed, else the store's
        default; a name not in the dropdown (a path) is used as given."""
        self.refresh(select=None)
        if remembered and self.combo.findData(remembered) < 0:
            remembered = None  # a model that was deleted since: fall back to the default
        wanted = requested or remembered or gui_models.default_model()
        self.session.model_ref = wanted or None  # None = the store's default model
        if wanted and self.combo.findData(wanted) < 0:
            self.refresh()  # adds the one untrained entry for --model ARCH
        self.select(wanted)

    def picked(self, _i: int | None = None) -> None:
        """The dropdown changed (the user, or ``refresh(select=...)``)."""
        ref = self.combo.currentData()
        if self.session.pick_model(ref):
            self.set_model(ref)

    def set_model(self, ref: str) -> None:
        """Load ``ref`` in a worker thread; the pipeline uses it from the next frame on."""
        session = self.session
        if not session.request_model(ref):
            return
        pipeline = self.live.pipeline
        session.model_load_started(ref)
        self.combo.setEnabled(False)
        self.status.emit(f"Loading model {ref}…", 0)

        def done(engine) -> None:
            session.model_loaded(ref)
            self.combo.setEnabled(True)
            name = getattr(engine, "display_name", ref)
            self.show_device(engine)
            self.status.emit(f"Model: {name} (from the next frame)", 4000)
            self.model_changed.emit(name)

        def failed(msg: str) -> None:
            session.model_load_failed()
            self.combo.setEnabled(True)
            self.select(session.model_ref, quiet=True)
            self.error.emit(f"Could not load model {ref}: {msg}", True)

        run_in_background(lambda: pipeline.set_model(ref), done, failed, name="ferapp-model")

    def refresh(self, select: str | None = None) -> None:
        """Re-read the model store; ``select`` (a model name) becomes the current model."""
        combo = self.combo
        current = select or combo.currentData() or self.session.model_ref
        combo.blockSignals(True)
        combo.clear()
        view = combo.model()
        for ch in gui_models.model_choices():
            combo.addItem(self._fitted_text(ch), ch.ref)
            i = combo.count() - 1
            if ch.is_header:
                item = view.item(i)
                item.setEnabled(False)
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            else:
                combo.setItemData(i, ch.tooltip, Qt.ItemDataRole.ToolTipRole)
        if current is not None and combo.findData(current) < 0 and not Path(str(current)).exists():
            from ferapp.zoo import list_models

            if current in list_models():  # --model ARCH: that one untrained entry
                ch = gui_models.untrained_choice(current)
                combo.addItem(ch.text, ch.ref)
                combo.setItemData(combo.count() - 1, ch.tooltip, Qt.ItemDataRole.ToolTipRole)
        if current is not None:
            self.select(current, quiet=True)
        # as wide as its longest entry (never "69.5'" cut off at 1280 px); entries are fitted
        # to MAX_TEXT_PX above, so a long model name cannot push the toolbar off the window
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        combo.blockSignals(False)
        if select is not None and combo.currentData() == select:
            self.picked()

    def _fitted_text(self, ch: gui_models.ModelChoice) -> str:
        """The entry's text, its model name elided in the middle when the whole would be wider
        than ``MAX_TEXT_PX`` (the figures stay whole; the tooltip names the model in full)."""
        fm = self.combo.fontMetrics()
        if fm.horizontalAdvance(ch.text) <= self.MAX_TEXT_PX or not ch.name or not ch.detail:
            return ch.text
        tail = f"   {ch.detail}"
        room = max(self.MAX_TEXT_PX - fm.horizontalAdvance(tail), 8 * fm.averageCharWidth())
        return fm.elidedText(ch.name, Qt.TextElideMode.ElideMiddle, room) + tail

    def select(self, ref: str | None, quiet: bool = False) -> None:
        """Show ``ref`` in the dropdown (``quiet``: without acting on it)."""
        if ref is None:
            return
        idx = self.combo.findData(ref)
        if idx < 0:
            return
        if quiet:
            self.combo.blockSignals(True)
        self.combo.setCurrentIndex(idx)
        if quiet:
            self.combo.blockSignals(False)

    # ------------------------------------------------------------------ detector, smoothing
    def detector_changed(self, _i: int | None = None) -> None:
        name = self.detector_combo.currentText()
        pipeline = self.live.pipeline
        if pipeline is None or not name:
            return
        min_face = self.min_face
        if name == pipeline.detector_name and min_face == pipeline.min_face:
            return
        self.status.emit(f"Loading detector {name}…", 0)
        run_in_background(
            lambda: pipeline.set_detector(name, min_face=min_face),
            lambda _r: self.status.emit(f"Detector: {name}, faces from {min_face:g} px", 3000),
            lambda m: self.error.emit(f"Could not switch detector to {name}: {m}", False),
            name="ferapp-detector",
        )

    def smoothing_changed(self, value: float) -> None:
        slider = self.smoothing_slider
        slider.blockSignals(True)
        slider.setValue(int(round(value * 100)))
        slider.blockSignals(False)
        if self.live.pipeline is not None:
            self.live.pipeline.set_smoothing(float(value))

    def save(self, settings) -> None:
        """Remember the detector, smallest face and smoothing (the model: see MainWindow.save_settings)."""
        gui_settings.write("detector", self.detector_combo.currentText(), settings)
        gui_settings.write("smoothing", self.smoothing, settings)
        gui_settings.write("min_face", int(self.min_face_spin.value()), settings)
