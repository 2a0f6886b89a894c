"""Page 5: mean ± std over the folds against the majority-class and chance baselines, per-class
accuracy, the confusion matrix, the paper's number, Save.

Save is the page's default button (Enter saves). A model that does not beat the baselines gets a
red warning; saving it asks first ("Save anyway"), and the main window then lists it without
offering it for the live view (``ferapp.gui.models.weak_reason``)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from ferapp.gui.wizard.widgets import ERROR_STYLE, OK_STYLE, WARN_STYLE, _message, _pct, _ro_item
from ferapp.train.baselines import result_baselines
from ferapp.train.card import paper_accuracies
from ferapp.zoo.names import model_name_error


class ResultsPage(QWizardPage):
    """Mean ± std, per-class accuracy, a confusion-matrix heat map, the paper's number, Save."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("5. Results")
        self.setSubTitle("Measured on the test part of every fold. Save puts the model in your model list.")
        self.saved_path: Path | None = None
        self.headline = QLabel()
        f = QFont(self.headline.font())
        f.setPointSizeF(f.pointSizeF() * 1.4)
        f.setBold(True)
        self.headline.setFont(f)
        self.baseline_label = QLabel()  # "Baselines: always 'surprise' 26.9 %, chance 16.7 %"
        self.baseline_label.setWordWrap(True)
        self.warning_label = QLabel()  # red: not better than guessing; amber: classes never trained
        self.warning_label.setWordWrap(True)
        self.warning_label.setVisible(False)
        self.paper_label = QLabel()
        self.paper_label.setWordWrap(True)
        self.baselines = None
        self.untrained: list[str] = []  # classes without images: no output, never predicted
        self.confirm_box: QMessageBox | None = None
        self.class_table = QTableWidget(0, 3)
        self.class_table.setHorizontalHeaderLabels(["class", "accuracy", "test images"])
        self.class_table.verticalHeader().setVisible(False)
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.class_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.class_table.verticalHeader().setDefaultSectionSize(22)
        self.class_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.class_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.confusion = QTableWidget(0, 0)
        self.confusion.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.confusion.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.confusion.setToolTip("rows: true class, columns: predicted; colour = share of the row")
        conf_box = QGroupBox("Confusion matrix (rows true, columns predicted; all folds pooled)")
        QVBoxLayout(conf_box).addWidget(self.confusion)
        cls_box = QGroupBox("Per-class accuracy")
        QVBoxLayout(cls_box).addWidget(self.class_table)
        mid = QHBoxLayout()
        mid.addWidget(cls_box, 2)
        mid.addWidget(conf_box, 3)

        self.name_edit = QLineEdit()
        self.overwrite = QCheckBox("replace an existing model of that name")
        self.save_button = QPushButton("Save to my models")
        self.save_button.clicked.connect(self.save)
        self.save_label = QLabel()
        self.save_label.setWordWrap(True)
        self.save_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        save_row = QHBoxLayout()
        save_row.addWidget(QLabel("Name"))
        save_row.addWidget(self.name_edit, 1)
        save_row.addWidget(self.overwrite)
        save_row.addWidget(self.save_button)

        lay = QVBoxLayout(self)
        lay.addWidget(self.headline)
        lay.addWidget(self.baseline_label)
        lay.addWidget(self.warning_label)
        lay.addWidget(self.paper_label)
        lay.addLayout(mid, 1)
        lay.addLayout(save_row)
        lay.addWidget(self.save_label)

    def initializePage(self) -> None:
        from ferapp.train.evaluate import aggregate
        from ferapp.zoo import get_model_cfg

        w = self.wizard()
        res = w.run_result
        self.saved_path = None
        _message(self.save_label, "")
        self.save_button.setEnabled(True)
        self._save_is_default(True)
        # the wizard would put the focus on Close, which then takes Enter: start in the name instead
        QTimer.singleShot(0, self, self._focus_name)
        self.name_edit.setText(w.settings_page.model_name)
        tested = [f.test for f in res.folds if f.test is not None]
        n_folds = len(tested)
        self.headline.setText(
            f"Accuracy {_pct(res.mean_accuracy)} ± {_pct(res.std_accuracy)}"
            f"  <span style='font-weight:normal;font-size:small'>(mean ± std over {n_folds} "
            f"fold(s), {html.escape(res.protocol)}; macro F1 "
            f"{_pct(res.mean_macro_f1)})</span>"
        )
        self._show_baselines(res, w.dataset)
        cfg = get_model_cfg(res.arch)
        paper = (
            ", ".join(f"{html.escape(k)}: <b>{v:g} %</b>" for k, v in paper_accuracies(cfg.reported))
            or "no accuracy reported"
        )
        self.paper_label.setText(
            f"<b>Ours</b> ({res.arch}, {html.escape(res.protocol)}, "
            f"{len(w.dataset)} images): <b>{_pct(res.mean_accuracy)}</b> &nbsp;|&nbsp; "
            f"<b>Paper {html.escape(cfg.paper)}</b>: {paper}<br><small>Different data or "
            "protocol than the paper's means the numbers are not directly comparable.</small>"
        )
        agg = aggregate(tested) if tested else None
        pooled = (agg or {}).get("pooled") or {}
        labels = list(pooled.get("labels") or [])
        cm = np.asarray(pooled.get("confusion") or np.zeros((0, 0)), dtype=np.int64)
        self.per_class = dict(pooled.get("per_class_accuracy") or {})
        self.confusion_matrix = cm
        self.class_table.setRowCount(len(labels))
        for i, lab in enumerate(labels):
            acc = self.per_class.get(lab)
            self.class_table.setItem(
                i, 0, _ro_item(lab, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            )
            self.class_table.setItem(i, 1, _ro_item(_pct(acc)))
            self.class_table.setItem(i, 2, _ro_item(str(int(cm[i].sum())) if cm.size else "–"))
        for lab in self.untrained:  # no images at all: no output, never predicted (reported, not hidden)
            r = self.class_table.rowCount()
            self.class_table.insertRow(r)
            self.class_table.setItem(
                r, 0, _ro_item(lab, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            )
            it = _ro_item("never predicted")
            it.setForeground(QBrush(QColor("#b00020")))
            it.setToolTip(f"The dataset has no '{lab}' image: the model has no output for it.")
            self.class_table.setItem(r, 1, it)
            self.class_table.setItem(r, 2, _ro_item("0"))
        self.confusion.setRowCount(len(labels))
        self.confusion.setColumnCount(len(labels))
        self.confusion.setHorizontalHeaderLabels(labels)
        self.confusion.setVerticalHeaderLabels(labels)
        rows = cm.sum(1, keepdims=True) if cm.size else cm
        norm = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0) if cm.size else cm
        for i in range(len(labels)):
            for j in range(len(labels)):
                v = float(norm[i, j])
                it = _ro_item(str(int(cm[i, j])))
                # white -> blue heat map; text turns white on dark cells
                it.setBackground(QBrush(QColor(int(255 - 200 * v), int(255 - 150 * v), int(255 - 60 * v))))
                it.setForeground(QBrush(QColor("white" if v > 0.55 else "black")))
                it.setToolTip(
                    f"true {labels[i]}, predicted {labels[j]}: {int(cm[i, j])} ({100 * v:.0f} % of the row)"
                )
                self.confusion.setItem(i, j, it)

    def _show_baselines(self, res, ds) -> None:
        """The baselines line, and the warnings: not better than guessing (red), classes the
        model has no output for (amber)."""
        from ferapp.data.summary import missing_classes

        self.baselines = base = result_baselines(res)
        self.untrained = missing_classes(ds) if ds is not None else []
        self.baseline_label.setText(
            f"<b>Baselines</b> on the same test images: {html.escape(base.summary(), quote=False)}"
            if base
            else ""
        )
        warn, style = [], WARN_STYLE
        if base is not None and not base.beaten:
            warn.append(
                f"<b>This model is not better than guessing.</b> {html.escape(base.warning(), quote=False)} "
                "Saving it asks first, and it is not offered for the live view."
            )
            style = ERROR_STYLE
        elif base is not None and base.collapsed:
            warn.append(html.escape(base.warning(), quote=False))
        warn += [html.escape(n[:1].upper() + n[1:], quote=False) + "." for n in getattr(res, "notes", [])]
        _message(self.warning_label, "<br>".join(warn), style)
        self.save_button.setText("Save anyway…" if self.weak else "Save to my models")

    @property
    def weak(self) -> bool:
        """The run did not beat the majority-class / chance baselines."""
        return self.baselines is not None and not self.baselines.beaten

    def _save_is_default(self, on: bool) -> None:
        """Enter presses Save while there is something to save; Close once it is saved."""
        w = self.wizard()
        if w is not None:
            w.setOption(QWizard.WizardOption.NoDefaultButton, on)
        self.save_button.setAutoDefault(on)
        self.save_button.setDefault(on)
        if not on:
            self.completeChanged.emit()  # the wizard marks its own default button (Close) again

    def _focus_name(self) -> None:
        if self.isVisible() and self.save_button.isEnabled():
            self.name_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def cleanupPage(self) -> None:  # Back pressed
        self._save_is_default(False)
        super().cleanupPage()

    def save(self, confirmed: bool = False) -> Path | None:
        """Copy the model folder into the user's store; emits ``model_saved(name)``. A model
        below the baselines is saved only after the user confirms (``confirmed``, or the
        "Save anyway" button of the question this opens; it returns None meanwhile)."""
        from ferapp.train.run import save_to_user_models

        w = self.wizard()
        name = self.name_edit.text().strip()
        err = model_name_error(name)  # the settings page's rule (a shipped model's name is reserved)
        if err:
            _message(self.save_label, html.escape(err), ERROR_STYLE)
            return None
        if self.weak and not confirmed:
            self._ask_to_save_weak(name)
            return None
        try:
            dst = save_to_user_models(w.run_result, name, overwrite=self.overwrite.isChecked())
        except FileExistsError:
            _message(
                self.save_label,
                f"A model named {html.escape(name)} already exists: choose another name or tick 'replace'.",
                ERROR_STYLE,
            )
            return None
        except Exception as e:  # disk full, permissions: a message, the run folder stays
            _message(
                self.save_label,
                f"Saving failed: {html.escape(f'{type(e).__name__}: {e}')}. The trained "
                f"model is still in {html.escape(str(w.run_result.best_model_dir))}.",
                ERROR_STYLE,
            )
            return None
        self.saved_path = Path(dst)
        _message(
            self.save_label,
            f"Saved to {html.escape(str(dst))} (weights, config.json and model card "
            "README.md). It is now in the main window's model list.",
            OK_STYLE,
        )
        self.save_button.setEnabled(False)
        self._save_is_default(False)
        w.model_saved.emit(name)
        return self.saved_path

    def _ask_to_save_weak(self, name: str) -> None:
        """A non-blocking question (the wizard stays responsive); "Save anyway" saves."""
        b = self.baselines
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Save a model that is not better than guessing?",
            f"'{name}' reaches {100 * b.accuracy:.1f} % on its test images; always answering "
            f"'{b.majority_class}' would reach {100 * b.majority:.1f} % and guessing "
            f"{100 * b.chance:.1f} %.\n\nSave it to your models anyway? It will not be offered for "
            "the live view.",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.button(QMessageBox.StandardButton.Save).setText("Save anyway")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button) -> None:
            if box.standardButton(button) == QMessageBox.StandardButton.Save:
                self.save(confirmed=True)

        box.buttonClicked.connect(answered)
        box.destroyed.connect(lambda *_: setattr(self, "confirm_box", None))
        self.confirm_box = box
        box.open()
