"""Training wizard: retrain any registered paper model on a local dataset, from the GUI.

Five pages — dataset, model, protocol and settings, training, results — on top of the
Qt-free engine: ``ferapp.data.load_dataset`` and ``ferapp.train.run.run_training`` run on
worker threads (``wizard_worker``), their callbacks arrive here as queued signals, and the
only thing the widgets do is show them. Cancel sets the run's ``threading.Event``; the engine
stops before the next batch and keeps ``fold<k>/last.pt``. Saving copies the run's model
folder (weights + config.json + model card) into the user's model store and emits
``model_saved(name)``, which the main window turns into ``refresh_models(select=name)``.
"""

from __future__ import annotations

import html
import math
import os
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from ferapp.gui.wizard_worker import (
    DatasetLoader,
    TrainingJob,
    checkpoints_of,
    dataset_hint,
    format_eta,
    training_hint,
)

pg.setConfigOptions(antialias=True)

PAGE_DATASET, PAGE_MODEL, PAGE_SETTINGS, PAGE_TRAINING, PAGE_RESULTS = range(5)
THUMBS_PER_CLASS = 6
THUMB_PX = 56
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
BASIC_PROTOCOLS = ("official", "kfold-5", "subject-5fold", "subject-3fold", "holdout-20")
# The protocol a paper's numbers were measured with (ferapp.data.protocols presets).
PAPER_PROTOCOLS = {"P1": ("p1-ck", "p1-jaffe"), "P2": ("p2",), "P3": ("official",), "P4": ("p4",), "P5": ("p5",)}
ERROR_STYLE = "color: #b00020;"
WARN_STYLE = "color: #a05a00;"
OK_STYLE = "color: #1b7a2f;"


def default_runs_dir() -> Path:
    from ferapp.paths import runs_dir

    return runs_dir()


def _pct(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{100 * v:.1f} %"


def _gray_pixmap(img: np.ndarray, px: int) -> QPixmap:
    a = np.ascontiguousarray(img if img.ndim == 2 else img[..., 0], dtype=np.uint8)
    h, w = a.shape
    q = QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(q).scaled(px, px, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation)


def _ro_item(text: str, align=Qt.AlignmentFlag.AlignCenter) -> QTableWidgetItem:
    it = QTableWidgetItem(text)
    it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsEditable)
    it.setTextAlignment(align)
    return it


def _message(label: QLabel, text: str, style: str = "") -> None:
    label.setText(text)
    label.setStyleSheet(style)
    label.setVisible(bool(text))


# ============================================================================ 1. dataset
class DatasetPage(QWizardPage):
    """Pick a folder / zip / csv; load it on a worker; show format, counts, subjects, thumbnails, warnings."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("1. Dataset")
        self.setSubTitle("A folder, .zip or FER2013 csv. It is read on a background thread; nothing trains yet.")
        self.dataset = None
        self.loader = DatasetLoader(self)
        self.loader.progress.connect(self._on_progress)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_failed)

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("path to a dataset folder, .zip or .csv(.gz)")
        self.path_edit.returnPressed.connect(self.load_from_edit)
        self.folder_button = QPushButton("Folder…")
        self.zip_button = QPushButton("Zip…")
        self.csv_button = QPushButton("CSV…")
        self.load_button = QPushButton("Load")
        self.folder_button.clicked.connect(self._browse_folder)
        self.zip_button.clicked.connect(lambda: self._browse_file("Zip archives (*.zip)"))
        self.csv_button.clicked.connect(lambda: self._browse_file("FER2013 csv (*.csv *.csv.gz *.gz)"))
        self.load_button.clicked.connect(self.load_from_edit)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        for b in (self.folder_button, self.zip_button, self.csv_button, self.load_button):
            row.addWidget(b)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status_label = QLabel()
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setVisible(False)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)

        self.counts_table = QTableWidget(0, 0)
        self.counts_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.counts_table.verticalHeader().setDefaultSectionSize(22)
        self.counts_table.setMinimumWidth(240)
        self.thumbs = QWidget()
        self.thumbs_layout = QGridLayout(self.thumbs)
        self.thumbs_layout.setSpacing(3)
        self.thumbs_layout.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.thumbs)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.counts_table)
        split.addWidget(scroll)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([300, 700])
        self.counts_table.setMaximumWidth(420)
        self.warnings_label = QLabel()
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setVisible(False)

        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.status_label)
        lay.addWidget(self.error_label)
        lay.addWidget(self.summary_label)
        lay.addWidget(split, 1)
        lay.addWidget(self.warnings_label)

    # -- choosing and loading ---------------------------------------------------------
    def _browse_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Dataset folder", self.path_edit.text())
        if d:
            self.load(d)

    def _browse_file(self, filt: str) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Dataset file", self.path_edit.text(), filt + ";;All files (*)")
        if f:
            self.load(f)

    def load_from_edit(self) -> None:
        self.load(self.path_edit.text().strip())

    def load(self, path: str) -> None:
        self.path_edit.setText(path)
        self.dataset = None
        self._clear_summary()
        _message(self.error_label, "")
        if not path:
            self._show_error("Choose a dataset first.", "")
            return
        self.progress.setRange(0, 0)  # busy until the reader reports a total
        self.progress.setVisible(True)
        self.status_label.setText(f"Reading {path} …")
        self.load_button.setEnabled(False)
        self.loader.start(path)
        self.completeChanged.emit()

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))

    def _on_failed(self, message: str) -> None:
        self.progress.setVisible(False)
        self.load_button.setEnabled(True)
        self.status_label.setText("")
        self._show_error(message, dataset_hint(message))
        self.completeChanged.emit()

    def _show_error(self, message: str, hint: str) -> None:
        text = f"<b>Could not load the dataset:</b> {html.escape(message)}"
        if hint:
            text += "<br>" + html.escape(hint).replace("\n", "<br>")
        _message(self.error_label, text, ERROR_STYLE)

    def _on_loaded(self, ds) -> None:
        self.progress.setVisible(False)
        self.load_button.setEnabled(True)
        self.dataset = ds
        self.status_label.setText("")
        self._fill_summary(ds)
        self.completeChanged.emit()

    # -- summary -------------------------------------------------------------------------
    def _clear_summary(self) -> None:
        self.summary_label.setText("")
        self.counts_table.clear()
        self.counts_table.setRowCount(0)
        self.counts_table.setColumnCount(0)
        while self.thumbs_layout.count():
            w = self.thumbs_layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        _message(self.warnings_label, "")

    def warnings(self) -> list[str]:
        """Everything the user should know before training (reader warnings, imbalance, skipped files)."""
        from ferapp.data.summary import dataset_warnings

        ds = self.dataset
        if ds is None:
            return []
        out = list(ds.report.warnings)
        out += [w for w in dataset_warnings(ds) if w not in out]
        if ds.report.skipped:
            shown = ", ".join(f"{Path(p).name} ({why})" for p, why in ds.report.skipped[:3])
            more = f" and {len(ds.report.skipped) - 3} more" if len(ds.report.skipped) > 3 else ""
            out.append(f"{len(ds.report.skipped)} file(s) skipped: {shown}{more}")
        if not ds.report.num_subjects:
            out.append("no subject ids: subject-independent protocols (subject-<k>fold, p1-ck, p4) are unavailable")
        return out

    def _fill_summary(self, ds) -> None:
        self._clear_summary()
        r = ds.report
        h, w = ds.images.shape[1:3]
        self.summary_label.setText(
            f"<b>Format:</b> {html.escape(r.format)} &nbsp; <b>Images:</b> {len(ds)} &nbsp; "
            f"<b>Classes:</b> {len(ds.label_names)} &nbsp; <b>Subjects:</b> {r.num_subjects or 'n/a'} &nbsp; "
            f"<b>Crop size:</b> {w}×{h}<br><small>{html.escape(r.path)}</small>")
        names = list(ds.label_names)
        splits = [s for s in r.counts] or [""]
        cols = [s or "images" for s in splits] + (["total"] if len(splits) > 1 else [])
        self.counts_table.setColumnCount(len(cols))
        self.counts_table.setHorizontalHeaderLabels(cols)
        self.counts_table.setRowCount(len(names))
        self.counts_table.setVerticalHeaderLabels(names)
        labels = np.asarray(ds.labels)
        for i, n in enumerate(names):
            vals = [int(r.counts.get(s, {}).get(n, 0)) for s in splits] if r.counts else [int((labels == i).sum())]
            if len(splits) > 1:
                vals.append(sum(vals))
            for j, v in enumerate(vals):
                it = _ro_item(str(v), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if v == 0:
                    it.setForeground(QBrush(QColor("#b00020")))
                self.counts_table.setItem(i, j, it)
        self.counts_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        # thumbnails: a few images per class, spread over the class
        for i, n in enumerate(names):
            lab = QLabel(n)
            lab.setMinimumWidth(64)
            self.thumbs_layout.addWidget(lab, i, 0)
            idx = np.flatnonzero(labels == i)
            if len(idx) == 0:
                miss = QLabel("no images")
                miss.setStyleSheet(ERROR_STYLE)
                self.thumbs_layout.addWidget(miss, i, 1, 1, THUMBS_PER_CLASS)
                continue
            pick = idx[np.linspace(0, len(idx) - 1, min(THUMBS_PER_CLASS, len(idx))).round().astype(int)]
            for j, k in enumerate(pick):
                t = QLabel()
                t.setPixmap(_gray_pixmap(ds.images[k], THUMB_PX))
                t.setToolTip(str(ds.paths[k]))
                t.setFrameShape(QFrame.Shape.Box)
                self.thumbs_layout.addWidget(t, i, j + 1)
        warns = self.warnings()
        if warns:
            _message(self.warnings_label, "<b>Warnings</b><ul style='margin:0'>"
                     + "".join(f"<li>{html.escape(x)}</li>" for x in warns) + "</ul>", WARN_STYLE)
        else:
            _message(self.warnings_label, "No warnings: every class present, no skipped files.", OK_STYLE)

    def isComplete(self) -> bool:  # noqa: N802 (Qt API)
        return self.dataset is not None and not self.loader.busy


# ============================================================================ 2. model
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
            except Exception:  # noqa: BLE001 - a description must not fail the page
                self._params[name] = None
        return self._params[name]

    def _show_details(self) -> None:
        from ferapp.zoo import get_model_cfg

        name = self.arch
        if name is None:
            self.details.setText("")
            return
        cfg = get_model_cfg(name)
        n = self.param_count(name)
        reported = [(k, v) for k, v in cfg.reported.items() if isinstance(v, int | float) and k not in ("params",)
                    and not k.startswith("s_")]
        rep = ", ".join(f"{html.escape(k)}: <b>{v:g} %</b>" for k, v in reported) or "none reported"
        h, w = cfg.input_size
        crop = f" (five-crop {cfg.five_crop}×{cfg.five_crop})" if cfg.five_crop else ""
        channels = "grayscale" if cfg.channels == 1 else "colour"
        r = cfg.recipe
        labels_note = ""
        ds = getattr(self.wizard(), "dataset", None) if self.wizard() is not None else None
        if ds is not None and tuple(ds.label_names) != tuple(cfg.labels):
            labels_note = (f"<p><i>The dataset has {len(ds.label_names)} classes ({', '.join(ds.label_names)}); "
                           "the model's output layer is built for them.</i></p>")
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
            "</table>" + labels_note)

    def initializePage(self) -> None:  # noqa: N802
        self._show_details()

    def isComplete(self) -> bool:  # noqa: N802
        return self.arch is not None


# ============================================================================ 3. settings
class SettingsPage(QWizardPage):
    """Protocol, the paper's recipe (editable), device and the name of the model to save."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("3. Protocol and settings")
        self.setSubTitle("Prefilled with the paper's recipe for the chosen model; every field can be changed.")
        self._filled_for: str | None = None

        self.protocol = QComboBox()
        self.protocol.setEditable(True)
        self.protocol.setToolTip("official, kfold-<k>, subject-<k>fold, holdout-<pct> or a paper preset")
        self.protocol_info = QLabel()
        self.protocol_info.setWordWrap(True)
        self.protocol.currentTextChanged.connect(self._protocol_changed)

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
            stem = Path(ds.report.path).stem.replace("+", "p") if ds is not None else "data"
            self.name_edit.setText(re.sub(r"[^A-Za-z0-9_.\-]", "_", f"{arch}_{stem}"))
            self._filled_for = arch
        self._protocol_changed(self.protocol.currentText())
        self._name_changed(self.name_edit.text())

    def _fill_protocols(self) -> None:
        cfg = self._cfg()
        paper = PAPER_PROTOCOLS.get(cfg.paper, ())
        items = list(BASIC_PROTOCOLS) + [p for p in paper if p not in BASIC_PROTOCOLS]
        self.protocol.blockSignals(True)
        self.protocol.clear()
        for p in items:
            self.protocol.addItem(p)
            if p in paper:
                self.protocol.setItemData(self.protocol.count() - 1, f"paper preset for {cfg.paper}",
                                          Qt.ItemDataRole.ToolTipRole)
        # default: the paper's own protocol when the data allow it, else the closest one that fits
        fallbacks = ("subject-5fold", "subject-3fold", "kfold-5", "official")
        choice = next((p for p in (*paper, *fallbacks) if not self.protocol_error(p)), "kfold-5")
        self.paper_protocol_fits = bool(paper) and choice in paper
        self._paper_note = ""
        if paper and not self.paper_protocol_fits:
            self._paper_note = (f"<br><i>The paper's protocol {paper[0]} does not fit this dataset "
                                f"({html.escape(self.protocol_error(paper[0]))}).</i>")
        self.protocol.setCurrentText(choice)
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
    def protocol_error(self, name: str | None = None) -> str:
        """Why ``name`` (default: the chosen protocol) cannot run on the loaded dataset; "" if it can."""
        from ferapp.data import get_protocol

        name = (self.protocol.currentText() if name is None else name).strip()
        try:
            proto = get_protocol(name)
        except ValueError as e:
            return str(e)
        ds = self.wizard().dataset if self.wizard() is not None else None
        if ds is None:
            return ""
        try:
            folds = proto.folds(ds, seed=self.seed.value())
        except Exception as e:  # noqa: BLE001 - shown on the page
            return f"{proto.name} does not fit this dataset: {e}"
        if not folds:
            return f"{proto.name} gives no folds on this dataset"
        f = folds[0]
        if len(f.train_idx) < 2 or len(f.test_idx) == 0:
            return (f"{proto.name}: fold 1 has {len(f.train_idx)} training and {len(f.test_idx)} test images; "
                    "choose fewer folds or another protocol")
        self._fold_text = (f"{proto.describe()}<br>{len(folds)} fold(s); fold 1: {len(f.train_idx)} train / "
                           f"{len(f.val_idx)} val / {len(f.test_idx)} test images")
        return ""

    def _protocol_changed(self, _text: str) -> None:
        self._fold_text = ""
        err = self.protocol_error()
        if err:
            _message(self.protocol_info, html.escape(err), ERROR_STYLE)
        else:
            self.protocol_info.setStyleSheet("")
            self.protocol_info.setText(self._fold_text + getattr(self, "_paper_note", ""))
        self.completeChanged.emit()

    def name_error(self) -> str:
        name = self.name_edit.text().strip()
        if not name:
            return "Give the model a name."
        if not NAME_RE.match(name):
            return "Use letters, digits, '_', '-' or '.', starting with a letter or digit (at most 64)."
        return ""

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
        return not self.name_error() and not self.protocol_error()

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


# ============================================================================ 4. training
class TrainingPage(QWizardPage):
    """Live curves, progress with fold / epoch / ETA, a per-epoch table and Cancel."""

    EPOCH_COLUMNS = ("fold", "epoch", "train loss", "val loss", "val acc", "lr", "time (s)")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("4. Training")
        self.setSubTitle("Training runs on a background thread; Cancel stops it before the next batch.")
        self.job = TrainingJob(self)
        self.job.run_started.connect(self._on_run_started)
        self.job.fold_started.connect(self._on_fold_started)
        self.job.epoch_started.connect(self._on_epoch_started)
        self.job.batch_ended.connect(self._on_batch_ended)
        self.job.epoch_ended.connect(self._on_epoch_ended)
        self.job.run_ended.connect(self._on_run_ended)
        self.result = None
        self._reset_state()

        self.status_label = QLabel("Waiting to start…")
        f = QFont(self.status_label.font())
        f.setBold(True)
        self.status_label.setFont(f)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p %")
        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.clicked.connect(self.cancel)
        top = QHBoxLayout()
        top.addWidget(self.progress, 1)
        top.addWidget(self.cancel_button)

        self.loss_plot = pg.PlotWidget(background="w")
        self.loss_plot.setTitle("Loss", color="#333")
        self.loss_plot.setLabel("bottom", "epoch")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.25)
        self.loss_plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(255, 255, 255, 210), labelTextColor="#333")
        self.train_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolSize=5,
                                               symbolBrush="#1f77b4", name="train loss")
        self.val_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#ff7f0e", width=2), symbol="o", symbolSize=5,
                                             symbolBrush="#ff7f0e", name="val loss")
        self.acc_plot = pg.PlotWidget(background="w")
        self.acc_plot.setTitle("Validation accuracy", color="#333")
        self.acc_plot.setLabel("bottom", "epoch")
        self.acc_plot.setYRange(0, 1, padding=0.02)
        self.acc_plot.showGrid(x=True, y=True, alpha=0.25)
        self.acc_plot.addLegend(offset=(-10, -10), brush=pg.mkBrush(255, 255, 255, 210), labelTextColor="#333")
        self.acc_curve = self.acc_plot.plot([], [], pen=pg.mkPen("#2ca02c", width=2), symbol="o", symbolSize=5,
                                            symbolBrush="#2ca02c", name="val accuracy")
        for p in (self.loss_plot, self.acc_plot):
            p.setMinimumHeight(180)
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.acc_plot)

        self.table = QTableWidget(0, len(self.EPOCH_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.EPOCH_COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMaximumHeight(170)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setVisible(False)

        lay = QVBoxLayout(self)
        lay.addWidget(self.status_label)
        lay.addLayout(top)
        lay.addLayout(plots, 1)
        lay.addWidget(self.table)
        lay.addWidget(self.message)

    def _reset_state(self) -> None:
        self.result = None
        self.history: list[dict] = []  # one row per epoch, every fold
        self._xs: list[float] = []
        self._train: list[float] = []
        self._val: list[float] = []
        self._acc: list[float] = []
        self._fold = ("", 0, 1)
        self._epoch = (0, 1, 1)
        self._t0 = None
        self._fold_lines: list = []

    # -- run control -----------------------------------------------------------------------
    def initializePage(self) -> None:  # noqa: N802
        self.start()

    def start(self) -> None:
        w = self.wizard()
        if self.job.running:  # a cancelled run still finishing its batch
            self.job.run_ended.connect(self._restart_once, Qt.ConnectionType.SingleShotConnection)
            return
        self._reset_state()
        for ln in self._fold_lines:
            self.loss_plot.removeItem(ln)
        for c in (self.train_curve, self.val_curve, self.acc_curve):
            c.setData([], [])
        self.table.setRowCount(0)
        _message(self.message, "")
        s = w.settings_page
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out_dir = Path(w.runs_dir) / f"{s.model_name}-{stamp}"
        self.status_label.setText(f"Starting {w.model_page.arch} on {len(w.dataset)} images ({s.protocol_name})…")
        self.progress.setValue(0)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel training")
        import time

        self._t0 = time.monotonic()
        self.job.start(w.model_page.arch, w.dataset, s.protocol_name, s.overrides(), self.out_dir)
        QTimer.singleShot(0, self._lock_back)
        self.completeChanged.emit()

    def _restart_once(self, *_):
        self.start()

    def _lock_back(self) -> None:
        w = self.wizard()
        if w is not None and self.job.running:
            w.button(QWizard.WizardButton.BackButton).setEnabled(False)

    def cancel(self) -> None:
        """Ask the engine to stop before the next batch; the checkpoints written so far stay."""
        if self.job.running:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Stopping…")
            self.status_label.setText(self.status_label.text() + " — stopping after this batch…")

    def cleanupPage(self) -> None:  # noqa: N802 (Back pressed)
        self.cancel()

    @property
    def running(self) -> bool:
        return self.job.running

    # -- engine events (queued from the training thread) ----------------------------------
    def _on_run_started(self, info) -> None:
        self.status_label.setText(f"Preparing {info.get('arch')} ({info.get('protocol')})…")

    def _on_fold_started(self, fold: str, index: int, total: int) -> None:
        self._fold = (fold, index, total)
        if index > 0 and self._xs:
            ln = pg.InfiniteLine(pos=self._xs[-1] + 0.5, angle=90, pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine))
            self.loss_plot.addItem(ln)
            self._fold_lines.append(ln)

    def _on_epoch_started(self, epoch: int, total: int, num_batches: int) -> None:
        self._epoch = (epoch, total, num_batches)
        self._update_progress()

    def _on_batch_ended(self, step: int, loss: float) -> None:
        self._last_loss = loss
        self._update_progress()

    def total_batches(self) -> int:
        _, _, folds = self._fold
        _, epochs, nb = self._epoch
        return max(1, folds * epochs * nb)

    def _update_progress(self) -> None:
        import time

        fold, fi, folds = self._fold
        epoch, epochs, nb = self._epoch
        done = self.job.batches_done
        total = max(self.total_batches(), done)
        self.progress.setValue(int(1000 * done / total))
        elapsed = time.monotonic() - (self._t0 or time.monotonic())
        eta = elapsed / done * (total - done) if done else None
        loss = getattr(self, "_last_loss", float("nan"))
        loss_txt = f" · loss {loss:.3f}" if math.isfinite(loss) else ""
        self.status_label.setText(f"Fold {fi + 1}/{folds} ({fold}) · epoch {epoch + 1}/{epochs} · "
                                  f"{done}/{total} batches{loss_txt} · ETA {format_eta(eta)}")

    def _on_epoch_ended(self, epoch: int, metrics: dict) -> None:
        fold, fi, _ = self._fold
        row = {"fold": fi + 1, "epoch": epoch + 1, **metrics}
        self.history.append(row)
        self._xs.append(len(self._xs) + 1)
        self._train.append(float(metrics.get("train_loss", math.nan)))
        self._val.append(float(metrics.get("val_loss", math.nan)))
        self._acc.append(float(metrics.get("val_acc", math.nan)))
        x = np.asarray(self._xs, float)
        self.train_curve.setData(x, np.asarray(self._train))
        self.val_curve.setData(x, np.asarray(self._val), connect="finite")
        self.acc_curve.setData(x, np.asarray(self._acc), connect="finite")
        r = self.table.rowCount()
        self.table.insertRow(r)

        def num(k, fmt):
            v = metrics.get(k)
            return fmt.format(v) if isinstance(v, int | float) and math.isfinite(v) else "–"

        vals = [str(fi + 1), str(epoch + 1), num("train_loss", "{:.4f}"), num("val_loss", "{:.4f}"),
                _pct(metrics.get("val_acc")) if "val_acc" in metrics else "–", num("lr", "{:.3g}"),
                num("epoch_time_s", "{:.1f}")]
        for c, v in enumerate(vals):
            self.table.setItem(r, c, _ro_item(v))
        self.table.scrollToBottom()
        self._update_progress()

    def _on_run_ended(self, result) -> None:
        self.result = result
        w = self.wizard()
        if w is not None:
            w.run_result = result
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancel training")
        ckpts = checkpoints_of(result)
        ck_html = ""
        if ckpts:
            ck_html = ("<br><b>Checkpoints kept</b> (resume with <code>ferapp train --resume &lt;last.pt&gt; "
                       "--folds &lt;k&gt;</code>):<br>" + "<br>".join(html.escape(p) for p in ckpts))
        if result.outcome == "finished":
            self.progress.setValue(1000)
            self.status_label.setText(f"Finished: {len(result.folds)} fold(s), accuracy {_pct(result.mean_accuracy)}"
                                      f" ± {_pct(result.std_accuracy)}")
            _message(self.message, f"Run folder: {html.escape(str(result.out_dir))}. Press Next for the results "
                                   "and to save the model.", OK_STYLE)
        elif result.outcome == "cancelled":
            self.status_label.setText(f"Cancelled after {self.job.batches_done} batch(es).")
            _message(self.message, "Training was cancelled; nothing was saved to your models."
                     + (ck_html or "<br>No epoch had finished, so no checkpoint was written.")
                     + "<br>Go Back to change the settings and start again.", WARN_STYLE)
        else:
            self.status_label.setText("Training failed.")
            _message(self.message, f"<b>{html.escape(result.message or 'unknown error')}</b><br>"
                     + html.escape(training_hint(result.message or "")) + ck_html, ERROR_STYLE)
        if w is not None:
            w.button(QWizard.WizardButton.BackButton).setEnabled(True)
        self.completeChanged.emit()
        if w is not None:
            w.training_ended.emit(result)

    def isComplete(self) -> bool:  # noqa: N802
        return self.result is not None and self.result.outcome == "finished" and not self.job.running


# ============================================================================ 5. results
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
        self.paper_label = QLabel()
        self.paper_label.setWordWrap(True)
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
        lay.addWidget(self.paper_label)
        lay.addLayout(mid, 1)
        lay.addLayout(save_row)
        lay.addWidget(self.save_label)

    def initializePage(self) -> None:  # noqa: N802
        from ferapp.train.evaluate import aggregate
        from ferapp.zoo import get_model_cfg

        w = self.wizard()
        res = w.run_result
        self.saved_path = None
        _message(self.save_label, "")
        self.save_button.setEnabled(True)
        self.name_edit.setText(w.settings_page.model_name)
        tested = [f.test for f in res.folds if f.test is not None]
        n_folds = len(tested)
        self.headline.setText(f"Accuracy {_pct(res.mean_accuracy)} ± {_pct(res.std_accuracy)}"
                              f"  <span style='font-weight:normal;font-size:small'>(mean ± std over {n_folds} "
                              f"fold(s), {html.escape(res.protocol)}; macro F1 "
                              f"{_pct(res.mean_macro_f1)})</span>")
        cfg = get_model_cfg(res.arch)
        rep = [(k, v) for k, v in cfg.reported.items() if isinstance(v, int | float) and k != "params"
               and not k.startswith("s_")]
        paper = ", ".join(f"{html.escape(k)}: <b>{v:g} %</b>" for k, v in rep) or "no accuracy reported"
        self.paper_label.setText(f"<b>Ours</b> ({res.arch}, {html.escape(res.protocol)}, "
                                 f"{len(w.dataset)} images): <b>{_pct(res.mean_accuracy)}</b> &nbsp;|&nbsp; "
                                 f"<b>Paper {html.escape(cfg.paper)}</b>: {paper}<br><small>Different data or "
                                 "protocol than the paper's means the numbers are not directly comparable.</small>")
        agg = aggregate(tested) if tested else None
        pooled = (agg or {}).get("pooled") or {}
        labels = list(pooled.get("labels") or [])
        cm = np.asarray(pooled.get("confusion") or np.zeros((0, 0)), dtype=np.int64)
        self.per_class = dict(pooled.get("per_class_accuracy") or {})
        self.confusion_matrix = cm
        self.class_table.setRowCount(len(labels))
        for i, lab in enumerate(labels):
            acc = self.per_class.get(lab)
            self.class_table.setItem(i, 0, _ro_item(lab, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter))
            self.class_table.setItem(i, 1, _ro_item(_pct(acc)))
            self.class_table.setItem(i, 2, _ro_item(str(int(cm[i].sum())) if cm.size else "–"))
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
                it.setToolTip(f"true {labels[i]}, predicted {labels[j]}: {int(cm[i, j])} ({100 * v:.0f} % of the row)")
                self.confusion.setItem(i, j, it)

    def save(self) -> Path | None:
        """Copy the model folder into the user's store; emits ``model_saved(name)``."""
        from ferapp.train.run import save_to_user_models

        w = self.wizard()
        name = self.name_edit.text().strip()
        if not NAME_RE.match(name):
            _message(self.save_label, "Use letters, digits, '_', '-' or '.' for the name.", ERROR_STYLE)
            return None
        try:
            dst = save_to_user_models(w.run_result, name, overwrite=self.overwrite.isChecked())
        except FileExistsError:
            _message(self.save_label, f"A model named {html.escape(name)} already exists: choose another name or "
                                      "tick 'replace'.", ERROR_STYLE)
            return None
        except Exception as e:  # noqa: BLE001 - disk full, permissions: a message, the run folder stays
            _message(self.save_label, f"Saving failed: {html.escape(f'{type(e).__name__}: {e}')}. The trained "
                                      f"model is still in {html.escape(str(w.run_result.best_model_dir))}.",
                     ERROR_STYLE)
            return None
        self.saved_path = Path(dst)
        _message(self.save_label, f"Saved to {html.escape(str(dst))} (weights, config.json and model card "
                                  "README.md). It is now in the main window's model list.", OK_STYLE)
        self.save_button.setEnabled(False)
        w.model_saved.emit(name)
        return self.saved_path


# ============================================================================ the wizard
class TrainingWizard(QWizard):
    """``TrainingWizard(parent=None, dataset_path=None)``; emits ``model_saved(name)`` after Save.

    Attributes tests and the main window use: ``dataset`` (the loaded FaceDataset),
    ``run_result`` (the last RunResult), the pages (``dataset_page`` … ``results_page``) and
    ``training_page.job`` (the worker; ``job.extra_callbacks`` run on the training thread).
    """

    model_saved = Signal(str)
    training_ended = Signal(object)  # RunResult, whatever its outcome

    def __init__(self, parent=None, dataset_path: str | os.PathLike | None = None, *,
                 runs_dir: str | os.PathLike | None = None):
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self.run_result = None
        self._close_after_run = False
        self.dataset_page = DatasetPage()
        self.model_page = ModelPage()
        self.settings_page = SettingsPage()
        self.training_page = TrainingPage()
        self.results_page = ResultsPage()
        for pid, page in ((PAGE_DATASET, self.dataset_page), (PAGE_MODEL, self.model_page),
                          (PAGE_SETTINGS, self.settings_page), (PAGE_TRAINING, self.training_page),
                          (PAGE_RESULTS, self.results_page)):
            self.setPage(pid, page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Close")
        self.training_page.job.run_ended.connect(self._maybe_close)
        self.resize(1040, 760)
        if dataset_path:
            self.dataset_page.load(str(dataset_path))

    @property
    def dataset(self):
        return self.dataset_page.dataset

    @property
    def job(self) -> TrainingJob:
        return self.training_page.job

    def done(self, result: int) -> None:
        super().done(result)
        self._needs_restart = True  # reopened from the main window: start again at page 1

    def showEvent(self, event) -> None:  # noqa: N802
        if getattr(self, "_needs_restart", False) and not self.training_page.running:
            self._needs_restart = False
            self.restart()  # the loaded dataset stays; the next run starts from the dataset page
        super().showEvent(event)

    def reject(self) -> None:
        """Closing while training cancels the run first (checkpoints stay) and closes when it has stopped."""
        if self.training_page.running:
            self._close_after_run = True
            self.training_page.cancel()
            return
        super().reject()

    def _maybe_close(self, *_):
        if self._close_after_run:
            self._close_after_run = False
            super().reject()
