"""Page 2: every registered architecture with its paper, input, parameters and the paper's numbers."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QSizePolicy, QWizardPage

from ferapp.train.card import paper_accuracies


class ModelPage(QWizardPage):
    """Every registered architecture with its paper, description, input size, parameters, paper numbers."""

    def __init__(self, parent=None):
        super().__init__(parent)
        from ferapp.zoo import get_model_cfg, list_models

        self.setTitle("2. Model")
        self.setSubTitle("Any architecture of the five papers; it starts from random weights.")
        self._params: dict[str, tuple[int, int] | None] = {}
        self.list = QListWidget()
        self.list.setMaximumWidth(260)
        for name in list_models():
            cfg = get_model_cfg(name)
            it = QListWidgetItem(f"{name}  ({cfg.paper})" if cfg.paper else name)
            it.setData(Qt.ItemDataRole.UserRole, name)
            self.list.addItem(it)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        lay = QHBoxLayout(self)
        lay.addWidget(self.list)
        lay.addWidget(self.details, 1)
        self.list.currentItemChanged.connect(lambda *_: self._show_details())
        self.list.currentItemChanged.connect(lambda *_: self.completeChanged.emit())
        self.select("cc_lenet5")

    @property
    def arch(self) -> str | None:
        it = self.list.currentItem()
        return it.data(Qt.ItemDataRole.UserRole) if it is not None else None

    def select(self, name: str) -> bool:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(i)
                return True
        return False

    def param_count(self, name: str) -> tuple[int, int] | None:
        """(all parameters, effective ones: minus weights a fixed connection mask keeps at zero)."""
        if name not in self._params:
            try:
                from ferapp.zoo import create_model
                from ferapp.zoo.flops import count_effective_params, count_params

                m = create_model(name)
                self._params[name] = (count_params(m), count_effective_params(m))
            except Exception:  # a description must not fail the page
                self._params[name] = None
        return self._params[name]

    def _show_details(self) -> None:
        from ferapp.zoo import get_model_cfg, get_recipe

        name = self.arch
        if name is None:
            self.details.setText("")
            return
        cfg = get_model_cfg(name)
        n = self.param_count(name)
        rep = (
            ", ".join(f"{html.escape(k)}: <b>{v:g} %</b>" for k, v in paper_accuracies(cfg.reported))
            or "none reported"
        )
        h, w = cfg.input_size
        crop = f" (five-crop {cfg.five_crop}×{cfg.five_crop})" if cfg.five_crop else ""
        channels = "grayscale" if cfg.channels == 1 else "colour"
        r = get_recipe(name)
        labels_note = ""
        ds = getattr(self.wizard(), "dataset", None) if self.wizard() is not None else None
        if ds is not None:
            from ferapp.data.summary import missing_classes

            missing = missing_classes(ds)
            present = [n for n in ds.label_names if n not in missing]
            if tuple(present) != tuple(cfg.labels):
                labels_note = (
                    f"<p><i>The dataset has images of {len(present)} classes ({', '.join(present)}); "
                    "the model's output layer is built for them"
                    + (
                        f": it will never predict {', '.join(repr(m) for m in missing)} (no images)."
                        if missing
                        else "."
                    )
                    + "</i></p>"
                )
        self.details.setText(
            f"<h3>{html.escape(name)}</h3>"
            f"<p><b>Paper {html.escape(cfg.paper)}:</b> {html.escape(cfg.citation) or '–'}</p>"
            f"<p>{html.escape(cfg.description) or 'No description.'}</p>"
            f"<table cellspacing='4'>"
            f"<tr><td><b>Input</b></td><td>{w}×{h} {channels}{crop}</td></tr>"
            f"<tr><td><b>Parameters</b></td><td>{'–' if n is None else f'{n[0]:,}'}"
            + (f" ({n[1]:,} effective)" if n is not None and n[1] != n[0] else "")
            + (f" (paper: {cfg.reported['params']:,})" if isinstance(cfg.reported.get("params"), int) else "")
            + "</td></tr>"
            f"<tr><td><b>Paper's accuracy</b></td><td>{rep}</td></tr>"
            f"<tr><td><b>Paper's recipe</b></td><td>{r.optimizer}, lr {r.lr:g}, batch {r.batch_size}, "
            f"{r.epochs} epochs, {r.schedule} schedule, loss {r.loss}, {r.algorithm}</td></tr>"
            "</table>" + labels_note
        )

    def initializePage(self) -> None:
        self._show_details()

    def isComplete(self) -> bool:
        return self.arch is not None
