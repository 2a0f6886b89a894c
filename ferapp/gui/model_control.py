"""The live pipeline's settings in the main window: the model dropdown, the detector, the
smallest face size and the smoothing.

The pipeline is built once, in a ``BackgroundTask``; later changes are applied to it live
(a model or detector loads in the background, the pipeline uses it from the next frame on).
Which model is in use, being loaded or waiting for the build lives in the window's
``ferapp.session.Session``; this class only drives the widgets and the background tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from ferapp.gui import models as gui_models
from ferapp.gui import settings as gui_settings
from ferapp.gui.bridge import BackgroundTask


class ModelControl:
    MAX_TEXT_PX = 430  # widest dropdown entry: the model toolbar still fits a 1280 px window

    def __init__(self, win):
        self.win = win
        self.build_stage: str | None = None  # what the pipeline build is loading now (the video's loading state)

    @property
    def combo(self):
        return self.win.model_combo

    # ------------------------------------------------------------------ the pipeline
    def build_pipeline(self, on_done: Callable, on_failed: Callable[[str], None]) -> None:
        """Build the pipeline from the current settings in the background.

        The window stays responsive: the landmark model was loaded before it was shown
        (``ferapp.startup``), torch's C++ libraries load with the GIL released, and the HOG
        detector is read from a file; what remains holds the GIL only in short slices."""
        win = self.win
        det = win.detector_combo.currentText() or "hog"
        ref = win.session.model_ref
        smoothing = win.smoothing_spin.value()
        min_face = float(win.min_face_spin.value())
        model_text = ref or "the default model"
        win.status(f"Loading model {model_text} and detector {det}…", 0)
        self.build_stage = "Loading PyTorch…"
        win.video.show_loading(self.build_stage)

        def build():
            import sys

            if "torch" not in sys.modules:
                from ferapp.startup import preload_torch_libraries

                preload_torch_libraries()
                import torch  # noqa: F401  (here, so that the stage shown is the true one)
            self.build_stage = f"Loading {model_text} and the {det} face detector…"
            from ferapp.inference.pipeline import Pipeline

            return Pipeline(detector=det, model=ref, smoothing=smoothing, min_face=min_face, realtime=True)

        def done(pipeline) -> None:
            self.build_stage = None
            on_done(pipeline)

        def failed(message: str) -> None:
            self.build_stage = None
            on_failed(message)

        BackgroundTask(build, "ferapp-build-pipeline").start(done, failed)

    def show_device(self, engine=None) -> None:
        """The status bar's device indicator: where the model runs (CUDA GPU, Apple MPS or the
        CPU), its precision, and why it is on the CPU when the device asked for could not run it.
        ``engine``: a model just loaded (the pipeline swaps it in at its next frame)."""
        engine = engine or getattr(self.win.pipeline, "engine", None)
        try:
            from ferapp.inference.device import device_description

            desc = device_description(engine.device)
        except Exception:  # noqa: BLE001
            desc = "CPU"
        short = desc.split(" (")[0]
        precision = getattr(engine, "precision", "")
        if precision == "int8":
            short += " · int8"
        tip = desc + (f"\nnetwork: {precision}" if precision else "")
        fallback = getattr(engine, "fallback", None)
        if fallback:
            short += " (fallback)"
            tip += f"\n{fallback}"
        self.win.device_label.setText(f" {short} ")
        self.win.device_label.setToolTip(tip)

    # ------------------------------------------------------------------ model
    def initial(self, model: str | None, detector: str | None, min_face: float | None) -> None:
        """A new window's settings: the given ones win over the remembered ones."""
        win = self.win
        det = detector or gui_settings.read("detector", win.settings) or "hog"
        idx = win.detector_combo.findText(det)
        if detector and idx < 0:
            win.status(f"Unknown detector '{detector}'; using {win.detector_combo.currentText()}")
        if idx >= 0:
            win.detector_combo.setCurrentIndex(idx)
        win.smoothing_spin.setValue(float(gui_settings.read("smoothing", win.settings)))
        win.min_face_spin.setValue(int(min_face or gui_settings.read("min_face", win.settings)))
        self.initial_model(model, gui_settings.read("model", win.settings))

    def initial_model(self, requested: str | None, remembered: str | None) -> None:
        """``--model``, else the remembered one while it is still listed, else the store's
        default; a name not in the dropdown (a path) is used as given."""
        self.refresh(select=None)
        if remembered and self.combo.findData(remembered) < 0:
            remembered = None  # a model that was deleted since: fall back to the default
        wanted = requested or remembered or gui_models.default_model()
        self.win.session.model_ref = wanted or None  # None = the store's default model
        if wanted and self.combo.findData(wanted) < 0:
            self.refresh()  # adds the one untrained entry for --model ARCH
        self.select(wanted)

    def picked(self, _i: int | None = None) -> None:
        """The dropdown changed (the user, or ``refresh(select=...)``)."""
        ref = self.combo.currentData()
        if self.win.session.pick_model(ref):
            self.set_model(ref)

    def set_model(self, ref: str) -> None:
        """Load ``ref`` in a worker thread; the pipeline uses it from the next frame on."""
        win = self.win
        session = win.session
        if not session.request_model(ref):
            return
        pipeline = win.pipeline
        session.model_load_started(ref)
        self.combo.setEnabled(False)
        win.status(f"Loading model {ref}…", 0)

        def done(engine) -> None:
            session.model_loaded(ref)
            self.combo.setEnabled(True)
            name = getattr(engine, "display_name", ref)
            self.show_device(engine)
            win.status(f"Model: {name} (from the next frame)", 4000)
            win.model_changed.emit(name)

        def failed(msg: str) -> None:
            session.model_load_failed()
            self.combo.setEnabled(True)
            self.select(session.model_ref, quiet=True)
            win.report_error(f"Could not load model {ref}: {msg}", dialog=True)

        BackgroundTask(lambda: pipeline.set_model(ref), "ferapp-model").start(done, failed)

    def refresh(self, select: str | None = None) -> None:
        """Re-read the model store; ``select`` (a model name) becomes the current model."""
        combo = self.combo
        current = select or combo.currentData() or self.win.session.model_ref
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
        win = self.win
        name = win.detector_combo.currentText()
        if win.pipeline is None or not name:
            return
        pipeline = win.pipeline
        min_face = float(win.min_face_spin.value())
        if name == pipeline.detector_name and min_face == pipeline.min_face:
            return
        win.status(f"Loading detector {name}…", 0)
        BackgroundTask(lambda: pipeline.set_detector(name, min_face=min_face), "ferapp-detector").start(
            lambda _r: win.status(f"Detector: {name}, faces from {min_face:g} px", 3000),
            lambda m: win.report_error(f"Could not switch detector to {name}: {m}"))

    def smoothing_changed(self, value: float) -> None:
        slider = self.win.smoothing_slider
        slider.blockSignals(True)
        slider.setValue(int(round(value * 100)))
        slider.blockSignals(False)
        if self.win.pipeline is not None:
            self.win.pipeline.set_smoothing(float(value))
