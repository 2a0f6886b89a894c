"""Page 3: the evaluation protocol, the paper's recipe (editable), the device and the model's name."""

from __future__ import annotations

import html
import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWizardPage,
)

from ferapp.data.planning import ProtocolPlan, ProtocolPlanner, choose_protocol
from ferapp.gui.wizard.widgets import ERROR_STYLE, WARN_STYLE, _message
from ferapp.zoo.names import model_name_error, suggest_model_name


class SettingsPage(QWizardPage):
    """Protocol, the paper's recipe (editable), device and the name of the model to save.

    The protocol is planned on the loaded dataset by a cached ``ProtocolPlanner`` (folds are
    built once per protocol name and seed); typing in the editable protocol box re-checks it
    ``PROTOCOL_DEBOUNCE_MS`` after the last keystroke, and ``isComplete`` / Next apply a
    pending edit at once.
    """

    PROTOCOL_DEBOUNCE_MS = 250

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("3. Protocol and settings")
        self.setSubTitle("Prefilled with the paper's recipe for the chosen model; every field can be changed.")
        self._filled_for: str | None = None
        self.planner = ProtocolPlanner()
        self.paper_protocol_fits = False
        self._paper_note = ""

        self.protocol = QComboBox()
        self.protocol.setEditable(True)
        self.protocol.setToolTip("official, kfold-<k>, subject-<k>fold, holdout-<pct> or a paper preset")
        self.protocol_info = QLabel()
        self.protocol_info.setWordWrap(True)
        self._protocol_timer = QTimer(self)
        self._protocol_timer.setSingleShot(True)
        self._protocol_timer.setInterval(self.PROTOCOL_DEBOUNCE_MS)
        self._protocol_timer.timeout.connect(self._protocol_changed)
        self.protocol.currentTextChanged.connect(self._protocol_edited)
        self.protocol.activated.connect(self._protocol_changed)  # picked from the list: no wait

        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(2, 4096)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 10.0)
        self.lr.setSingleStep(0.001)
        self.momentum = QDoubleSpinBox()
        self.momentum.setDecimals(3)
        self.momentum.setRange(0.0, 0.999)
        self.momentum.setSingleStep(0.05)
        self.weight_decay = QDoubleSpinBox()
        self.weight_decay.setDecimals(6)
        self.weight_decay.setRange(0.0, 1.0)
        self.weight_decay.setSingleStep(1e-4)
        self.optimizer = QComboBox()
        self.optimizer.addItems(["sgd", "adam"])
        self.schedule = QComboBox()
        self.schedule.addItems(["cosine", "plateau10", "step", "constant"])
        self.loss = QComboBox()
        self.loss.addItems(["ce", "ce+center", "squared_hinge"])
        self.loss.currentTextChanged.connect(lambda *_: self._update_enabled())
        self.algorithm_label = QLabel()
        self.augment = {k: QCheckBox(k) for k in ("mirror", "crop", "rotate")}
        aug_row = QHBoxLayout()
        for cb in self.augment.values():
            aug_row.addWidget(cb)
        aug_row.addStretch(1)
        self.hsic_beta = QDoubleSpinBox()
        self.hsic_beta.setRange(0.0, 1e6)
        self.hsic_beta.setDecimals(2)
        self.center_weight = QDoubleSpinBox()
        self.center_weight.setDecimals(4)
        self.center_weight.setRange(0.0, 100.0)
        self.center_weight.setSingleStep(0.005)
        self.five_crop = QComboBox()
        self.five_crop.addItems(["random", "all"])
        self.five_crop.setToolTip("training crops: one random crop of the five per image, or all five")
        self.device = QComboBox()
        self.device.addItem("CPU", "cpu")
        try:
            import torch

            if torch.cuda.is_available():
                self.device.insertItem(0, f"CUDA ({torch.cuda.get_device_name(0)})", "cuda")
        except Exception:  # noqa: BLE001
            pass
        self.device.setCurrentIndex(0)
        self.threads = QSpinBox()
        self.threads.setRange(1, max(1, os.cpu_count() or 1))
        env = os.environ.get("FERAPP_TORCH_THREADS")
        self.threads.setValue(int(env) if env and env.isdigit() else max(1, (os.cpu_count() or 2) - 1))
        self.threads.setToolTip("CPU threads for training (one core is left for the window)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.reset_button = QPushButton("Reset to the paper's recipe")
        self.reset_button.clicked.connect(lambda: self.fill_recipe(force=True))

        self.name_edit = QLineEdit()
        self.name_edit.textChanged.connect(self._name_changed)
        self.name_info = QLabel()
        self.name_info.setWordWrap(True)

        proto_box = QGroupBox("Evaluation protocol")
        pf = QFormLayout(proto_box)
        pf.addRow("Protocol", self.protocol)
        pf.addRow("", self.protocol_info)

        rec_box = QGroupBox("Recipe")
        rf = QFormLayout(rec_box)
        rf.addRow("Epochs", self.epochs)
        rf.addRow("Batch size", self.batch_size)
        rf.addRow("Learning rate", self.lr)
        rf.addRow("Optimizer", self.optimizer)
        rf.addRow("Momentum", self.momentum)
        rf.addRow("Weight decay", self.weight_decay)
        rf.addRow("LR schedule", self.schedule)
        rf.addRow("Augmentation", aug_row)
        rf.addRow("Loss", self.loss)
        rf.addRow("Algorithm", self.algorithm_label)
        rf.addRow("HSIC β", self.hsic_beta)
        rf.addRow("Center-loss weight", self.center_weight)
        rf.addRow("Five-crop training", self.five_crop)
        rf.addRow("", self.reset_button)

        run_box = QGroupBox("Run")
        uf = QFormLayout(run_box)
        uf.addRow("Device", self.device)
        uf.addRow("CPU threads", self.threads)
        uf.addRow("Seed", self.seed)
        uf.addRow("Model name", self.name_edit)
        uf.addRow("", self.name_info)

        right = QVBoxLayout()
        right.addWidget(proto_box)
        right.addWidget(run_box)
        right.addStretch(1)
        lay = QHBoxLayout(self)
        lay.addWidget(rec_box, 1)
        lay.addLayout(right, 1)

    # -- filling from the model ----------------------------------------------------------
    def _cfg(self):
        from ferapp.zoo import get_model_cfg

        return get_model_cfg(self.wizard().model_page.arch)

    def initializePage(self) -> None:  # noqa: N802
        arch = self.wizard().model_page.arch
        if arch != self._filled_for:
            self.fill_recipe(force=True)
            self._fill_protocols()
            ds = self.wizard().dataset
            self.name_edit.setText(suggest_model_name(arch, ds.report.path if ds is not None else None))
            self._filled_for = arch
        self._protocol_changed(self.protocol.currentText())
        self._name_changed(self.name_edit.text())

    def _fill_protocols(self) -> None:
        cfg = self._cfg()
        # default: the paper's own protocol when the data allow it, else the closest one that fits
        choice = choose_protocol(self.wizard().dataset, cfg.paper, self.seed.value(), self.planner)
        self.protocol.blockSignals(True)
        self.protocol.clear()
        for p in choice.items:
            self.protocol.addItem(p)
            if p in choice.paper_presets:
                self.protocol.setItemData(self.protocol.count() - 1, f"paper preset for {cfg.paper}",
                                          Qt.ItemDataRole.ToolTipRole)
        self.paper_protocol_fits = choice.paper_fits
        self._paper_note = ""
        if choice.paper_presets and not choice.paper_fits:
            self._paper_note = (f"<br><i>The paper's protocol {choice.paper_presets[0]} does not fit this dataset "
                                f"({html.escape(choice.paper_error)}).</i>")
        self.protocol.setCurrentText(choice.default)
        self.protocol.blockSignals(False)

    def fill_recipe(self, force: bool = False) -> None:
        cfg = self._cfg()
        r = cfg.recipe
        extra = dict(r.extra or {})
        self.epochs.setValue(int(r.epochs))
        self.batch_size.setValue(int(r.batch_size))
        self.lr.setValue(float(r.lr))
        self.momentum.setValue(float(r.momentum))
        self.weight_decay.setValue(float(r.weight_decay))
        self.optimizer.setCurrentText(r.optimizer)
        self.schedule.setCurrentText(r.schedule)
        self.loss.setCurrentText("squared_hinge" if r.algorithm == "bnn" and r.loss == "ce" else r.loss)
        self.algorithm_label.setText(r.algorithm)
        for k, cb in self.augment.items():
            cb.setChecked(k in r.augment)
        self.hsic_beta.setValue(float(extra.get("hsic_beta", 100.0)))
        self.center_weight.setValue(float(extra.get("center_weight", 0.01)))
        self.five_crop.setCurrentText("random")
        self._update_enabled()

    def _update_enabled(self) -> None:
        if self.wizard() is None or self.wizard().model_page.arch is None:
            return
        cfg = self._cfg()
        self.hsic_beta.setEnabled(cfg.recipe.algorithm == "hsic")
        self.center_weight.setEnabled("center" in self.loss.currentText())
        self.five_crop.setEnabled(bool(cfg.five_crop))

    # -- validation ----------------------------------------------------------------------
    def protocol_plan(self, name: str | None = None) -> ProtocolPlan:
        """``name`` (default: the chosen protocol) planned on the loaded dataset (cached)."""
        name = self.protocol.currentText() if name is None else name
        ds = self.wizard().dataset if self.wizard() is not None else None
        return self.planner.plan(ds, name, self.seed.value())

    def protocol_error(self, name: str | None = None) -> str:
        """Why ``name`` (default: the chosen protocol) cannot run on the loaded dataset; "" if it can."""
        return self.protocol_plan(name).error

    def _protocol_edited(self, _text: str) -> None:
        self._protocol_timer.start()  # (re)started on every keystroke: checked once typing pauses

    def _flush_protocol(self) -> None:
        """Show the check of a protocol edit still waiting for its timer (no signal)."""
        if self._protocol_timer.isActive():
            self._protocol_timer.stop()
            self._show_protocol()

    def _show_protocol(self) -> None:
        plan = self.protocol_plan()
        if plan.error:
            _message(self.protocol_info, html.escape(plan.error), ERROR_STYLE)
        else:
            self.protocol_info.setStyleSheet("")
            folds = f"{plan.description}<br>{plan.summary}" if plan.n_folds else ""
            self.protocol_info.setText(folds + self._paper_note)

    def _protocol_changed(self, *_) -> None:
        self._protocol_timer.stop()
        self._show_protocol()
        self.completeChanged.emit()

    def name_error(self) -> str:
        return model_name_error(self.name_edit.text())

    def _name_changed(self, _text: str) -> None:
        err = self.name_error()
        if err:
            _message(self.name_info, html.escape(err), ERROR_STYLE)
        else:
            from ferapp.zoo.store import user_models_dir

            dst = Path(user_models_dir()) / self.name_edit.text().strip()
            if dst.exists():
                _message(self.name_info, f"A model with this name exists ({html.escape(str(dst))}); "
                                         "saving will offer to replace it.", WARN_STYLE)
            else:
                _message(self.name_info, f"Will be saved to {html.escape(str(dst))}", "")
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        self._flush_protocol()
        return not self.name_error() and not self.protocol_error()

    def validatePage(self) -> bool:  # noqa: N802 (Next pressed, perhaps before the debounce timer fired)
        return self.isComplete()

    # -- what the run receives -------------------------------------------------------------
    @property
    def protocol_name(self) -> str:
        return self.protocol.currentText().strip().lower()

    @property
    def model_name(self) -> str:
        return self.name_edit.text().strip()

    def overrides(self) -> dict:
        """TrainConfig fields (``TrainConfig.from_recipe(recipe, **overrides)``)."""
        cfg = self._cfg()
        o = {
            "epochs": self.epochs.value(), "batch_size": self.batch_size.value(), "lr": self.lr.value(),
            "momentum": self.momentum.value(), "weight_decay": self.weight_decay.value(),
            "optimizer": self.optimizer.currentText(), "schedule": self.schedule.currentText(),
            "augment": tuple(k for k, cb in self.augment.items() if cb.isChecked()),
            "loss": self.loss.currentText(), "device": self.device.currentData(), "seed": self.seed.value(),
            "num_threads": self.threads.value(),
        }
        if cfg.recipe.algorithm == "hsic":
            o["hsic_beta"] = self.hsic_beta.value()
        if "center" in o["loss"]:
            o["center_weight"] = self.center_weight.value()
        if cfg.five_crop:
            o["five_crop"] = self.five_crop.currentText()
        return o
