"""A form of training options generated from the schema (``ferapp.train.options.OPTIONS``):
one widget per option, typed, ranged and with the schema's choices and help as tooltip, so the
wizard offers exactly what ``ferapp train`` and recipe files accept."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from ferapp.train.options import OPTIONS, Option, relevant, validate


class _Multi(QWidget):
    """A row of check boxes for a multi-choice option; ``boxes[name]`` is each QCheckBox."""

    def __init__(self, o: Option, parent=None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.boxes = {c: QCheckBox(c) for c in o.choices}
        for cb in self.boxes.values():
            row.addWidget(cb)
        row.addStretch(1)


def _decimals(o: Option) -> int:
    lo = o.lo if o.lo and o.lo > 0 else None
    if o.name in ("lr", "post_lr", "min_lr", "weight_decay"):
        return 6
    return max(2, min(6, int(-math.floor(math.log10(lo))) + 1)) if lo else 4


class OptionForm(QWidget):
    """``OptionForm(names)``: rows "title: widget" in a QFormLayout; ``values()`` -> validated
    dict, ``set_values(d)``, ``set_context(algorithm, loss, five_crop)`` enables the options that
    apply. ``widgets[name]`` is the editor (for multi options, ``boxes[name]`` the check boxes)."""

    changed = Signal()

    def __init__(self, names: list[str], parent=None):
        super().__init__(parent)
        self.options = [OPTIONS[n] for n in names]
        self.widgets: dict[str, QWidget] = {}
        self.boxes: dict[str, dict[str, QCheckBox]] = {}
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        for o in self.options:
            w = self._make(o)
            w.setToolTip(o.help)
            self.widgets[o.name] = w
            self.layout_.addRow(o.title, w)

    def _make(self, o: Option) -> QWidget:
        if o.kind == "multi":
            w = _Multi(o)
            self.boxes[o.name] = w.boxes
            for cb in w.boxes.values():
                cb.toggled.connect(self.changed)
            return w
        if o.kind == "bool":
            w = QCheckBox()
            w.toggled.connect(self.changed)
            return w
        if o.choices:
            w = QComboBox()
            w.addItems(list(o.choices))
            w.currentTextChanged.connect(self.changed)
            return w
        if o.optional or o.kind == "str":
            w = QLineEdit()
            w.setPlaceholderText("auto" if o.optional else "")
            w.textChanged.connect(self.changed)
            return w
        if o.kind == "int":
            w = QSpinBox()
            w.setRange(
                int(o.lo if o.lo is not None else -(2**31)),
                int(min(o.hi if o.hi is not None else 2**31 - 1, 2**31 - 1)),
            )
            w.valueChanged.connect(self.changed)
            return w
        w = QDoubleSpinBox()
        w.setDecimals(_decimals(o))
        w.setRange(float(o.lo if o.lo is not None else -1e9), float(o.hi if o.hi is not None else 1e9))
        step = {"lr": 1e-3, "weight_decay": 1e-4, "momentum": 0.05, "center_weight": 0.005}.get(o.name)
        if step:
            w.setSingleStep(step)
        w.valueChanged.connect(self.changed)
        return w

    # -- values -----------------------------------------------------------------------
    def set_values(self, values: dict[str, Any]) -> None:
        for name, v in values.items():
            if name not in self.widgets:
                continue
            o, w = OPTIONS[name], self.widgets[name]
            if o.kind == "multi":
                for c, cb in self.boxes[name].items():
                    cb.setChecked(c in (v or ()))
            elif isinstance(w, QCheckBox):
                w.setChecked(bool(v))
            elif isinstance(w, QComboBox):
                w.setCurrentText(str(v))
            elif isinstance(w, QLineEdit):
                w.setText("" if v is None else str(v))
            else:
                w.setValue(v)

    def raw_values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for o in self.options:
            w = self.widgets[o.name]
            if o.kind == "multi":
                out[o.name] = tuple(c for c, cb in self.boxes[o.name].items() if cb.isChecked())
            elif isinstance(w, QCheckBox):
                out[o.name] = w.isChecked()
            elif isinstance(w, QComboBox):
                out[o.name] = w.currentText()
            elif isinstance(w, QLineEdit):
                out[o.name] = w.text().strip() or None
            else:
                out[o.name] = w.value()
        return out

    def values(self, only_enabled: bool = True) -> dict[str, Any]:
        """The form's values checked by the schema (ValueError names a bad one); options that do
        not apply to this run (disabled) are left out when ``only_enabled``."""
        raw = self.raw_values()
        if only_enabled:
            raw = {k: v for k, v in raw.items() if self.widgets[k].isEnabled()}
        return validate(raw)

    def error(self) -> str:
        try:
            self.values()
        except ValueError as e:
            return str(e)
        return ""

    def set_context(self, algorithm: str, loss: str, five_crop: bool) -> None:
        for o in self.options:
            self.widgets[o.name].setEnabled(relevant(o, algorithm, loss, five_crop))


__all__ = ["OptionForm"]
