"""Page 3: the evaluation protocol, the paper's recipe (editable), the device and the model's name."""

from __future__ import annotations

import html
import os
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QComboBox,
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
from superqt.utils import qdebounced

from ferapp.config import settings
from ferapp.data.planning import ProtocolPlan, ProtocolPlanner, choose_protocol
from ferapp.gui.option_form import OptionForm
from ferapp.gui.wizard.widgets import ERROR_STYLE, WARN_STYLE, _message
from ferapp.train.options import OPTIONS, TrainConfig
from ferapp.zoo.names import model_name_error, suggest_model_name
from ferapp.zoo.registry import get_recipe

RECIPE_OPTIONS = [n for n, o in OPTIONS.items() if o.group == "recipe"]


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
        self.setSubTitle(
            "Prefilled with the paper's recipe for the chosen model; every field can be changed."
        )
        self._filled_for: str | None = None
        self.planner = ProtocolPlanner()
        self.paper_protocol_fits = False
        self._paper_note = ""

        self.protocol = QComboBox()
        self.protocol.setEditable(True)
        self.protocol.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)  # Enter adds no item to the list
        self.protocol.setToolTip("official, kfold-<k>, subject-<k>fold, holdout-<pct> or a paper preset")
        self.protocol_info = QLabel()
        self.protocol_info.setWordWrap(True)
        self.protocol_check_pending = False  # an edit waits for typing to pause
        self._check_protocol_soon = qdebounced(
            self._protocol_changed, timeout=self.PROTOCOL_DEBOUNCE_MS, parent=self
        )
        self.protocol.currentTextChanged.connect(self._protocol_edited)
        self.protocol.activated.connect(self._protocol_changed)  # picked from the list: no wait
        self.protocol.lineEdit().installEventFilter(self)  # Enter: checked at once, and not "Next"

        # the recipe box is generated from the training-option schema: the same options, choices
        # and ranges as `ferapp train` and recipe files (ferapp.train.options)
        self.recipe_form = OptionForm(RECIPE_OPTIONS)
        for name, w in self.recipe_form.widgets.items():
            setattr(self, name, w)  # page.epochs, page.optimizer, ... for the tests and the layout
        self.augment = self.recipe_form.boxes["augment"]
        self.loss.currentTextChanged.connect(lambda *_: self._update_enabled())
        self.recipe_form.changed.connect(self.completeChanged)
        self.algorithm_label = QLabel()
        self.recipe_info = QLabel()
        self.recipe_info.setWordWrap(True)
        self.device = QComboBox()
        self.device.addItem("CPU", "cpu")
        try:
            import torch

            from ferapp.inference.device import mps_available

            if torch.cuda.is_available():
                self.device.insertItem(0, f"CUDA ({torch.cuda.get_device_name(0)})", "cuda")
            elif mps_available():
                self.device.insertItem(0, "Apple GPU (MPS)", "mps")
        except Exception:
            pass
        self.device.setCurrentIndex(0)
        self.threads = QSpinBox()
        self.threads.setRange(1, max(1, os.cpu_count() or 1))
        self.threads.setValue(settings().inference.torch_threads())
        self.threads.setToolTip("CPU threads for training (one core is left for the window)")
        self.seed = QSpinBox()
        self.seed.setRange(int(OPTIONS["seed"].lo), int(OPTIONS["seed"].hi))
        self.seed.setToolTip(OPTIONS["seed"].help)
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
        rf = QVBoxLayout(rec_box)
        rf.addWidget(self.recipe_form)
        alg = QFormLayout()
        alg.addRow("Algorithm", self.algorithm_label)
        rf.addLayout(alg)
        rf.addWidget(self.recipe_info)
        rf.addWidget(self.reset_button)

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

    def initializePage(self) -> None:
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
                self.protocol.setItemData(
                    self.protocol.count() - 1, f"paper preset for {cfg.paper}", Qt.ItemDataRole.ToolTipRole
                )
        self.paper_protocol_fits = choice.paper_fits
        self._paper_note = ""
        if choice.paper_presets and not choice.paper_fits:
            self._paper_note = (
                f"<br><i>The paper's protocol {choice.paper_presets[0]} does not fit this dataset "
                f"({html.escape(choice.paper_error)}).</i>"
            )
        self.protocol.setCurrentText(choice.default)
        self.protocol.blockSignals(False)

    def fill_recipe(self, force: bool = False) -> None:
        """The form set to the paper's recipe of the chosen model (the schema defaults where the
        recipe says nothing, e.g. five-crop "random")."""
        t = TrainConfig.from_recipe(get_recipe(self._cfg().name))
        self.recipe_form.set_values({n: getattr(t, n) for n in RECIPE_OPTIONS})
        self.algorithm_label.setText(t.algorithm)
        self._update_enabled()

    def _update_enabled(self) -> None:
        if self.wizard() is None or self.wizard().model_page.arch is None:
            return
        cfg = self._cfg()
        self.recipe_form.set_context(
            get_recipe(cfg.name).algorithm, self.loss.currentText(), bool(cfg.five_crop)
        )

    def recipe_error(self) -> str:
        err = self.recipe_form.error()
        if err:
            _message(self.recipe_info, html.escape(err), ERROR_STYLE)
        else:
            self.recipe_info.setText("")
        return err

    # -- validation ----------------------------------------------------------------------
    def protocol_plan(self, name: str | None = None) -> ProtocolPlan:
        """``name`` (default: the chosen protocol) planned on the loaded dataset (cached)."""
        name = self.protocol.currentText() if name is None else name
        ds = self.wizard().dataset if self.wizard() is not None else None
        return self.planner.plan(ds, name, self.seed.value())

    def protocol_error(self, name: str | None = None) -> str:
        """Why ``name`` (default: the chosen protocol) cannot run on the loaded dataset; "" if it can."""
        return self.protocol_plan(name).error

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Enter in the protocol box checks the typed protocol now; it is not passed on to the
        wizard, where it would press Next and start a training run."""
        if (
            obj is self.protocol.lineEdit()
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            self._protocol_changed()
            return True
        return super().eventFilter(obj, event)

    def _protocol_edited(self, _text: str) -> None:
        self.protocol_check_pending = True
        self._check_protocol_soon()  # every keystroke postpones it: checked once typing pauses

    def _stop_pending_check(self) -> bool:
        pending, self.protocol_check_pending = self.protocol_check_pending, False
        self._check_protocol_soon.cancel()
        return pending

    def _flush_protocol(self) -> None:
        """Show the check of a protocol edit still waiting for the pause (no signal)."""
        if self._stop_pending_check():
            self._show_protocol()

    def _show_protocol(self) -> None:
        plan = self.protocol_plan()
        if plan.error:
            _message(self.protocol_info, html.escape(plan.error), ERROR_STYLE)
        else:
            self.protocol_info.setStyleSheet("")
            folds = f"{plan.description}<br>{plan.summary}" if plan.n_folds else ""
            warn = f"<br><b style='{WARN_STYLE}'>⚠ {html.escape(plan.warning)}</b>" if plan.warning else ""
            self.protocol_info.setText(folds + warn + self._paper_note)

    def _protocol_changed(self, *_) -> None:
        self._stop_pending_check()
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
                _message(
                    self.name_info,
                    f"A model with this name exists ({html.escape(str(dst))}); "
                    "saving will offer to replace it.",
                    WARN_STYLE,
                )
            else:
                _message(self.name_info, f"Will be saved to {html.escape(str(dst))}", "")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        self._flush_protocol()
        return not self.name_error() and not self.protocol_error() and not self.recipe_error()

    def validatePage(self) -> bool:  # Next pressed, perhaps before the debounce timer fired
        return self.isComplete()

    # -- what the run receives -------------------------------------------------------------
    @property
    def protocol_name(self) -> str:
        return self.protocol.currentText().strip().lower()

    @property
    def model_name(self) -> str:
        return self.name_edit.text().strip()

    def overrides(self) -> dict:
        """TrainConfig fields (``TrainConfig.from_recipe(recipe, **overrides)``): the recipe form's
        options that apply to this model (validated by the schema) plus device, threads, seed."""
        o = self.recipe_form.values()
        o.update(
            {
                "device": self.device.currentData(),
                "seed": self.seed.value(),
                "num_threads": self.threads.value(),
            }
        )
        return o
