"""Page 1: choose a dataset, read it on a worker thread, show its counts, thumbnails and warnings."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)
from superqt.utils import qthrottled

from ferapp.data.summary import class_count_text, load_hint, training_warnings
from ferapp.gui import settings as gui_settings
from ferapp.gui.wizard.widgets import ERROR_STYLE, OK_STYLE, WARN_STYLE, _gray_pixmap, _message, _ro_item
from ferapp.gui.wizard.worker import DatasetLoader

THUMBS_PER_CLASS = 6
THUMB_PX = 56


class DatasetPage(QWizardPage):
    """Pick a folder / zip / csv; load it on a worker; show format, counts, subjects, thumbnails, warnings."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("1. Dataset")
        self.setSubTitle(
            "A folder, .zip or FER2013 csv. It is read on a background thread; nothing trains yet."
        )
        self.dataset = None
        self.loader = DatasetLoader(self)
        # the reader reports every block; the bar is redrawn at most 20 times a second
        self._progress_soon = qthrottled(self._on_progress, timeout=50, parent=self)
        self.loader.progress.connect(self._progress_soon)
        self.loader.located.connect(self._on_located)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_failed)
        self.loader.ambiguous.connect(self._on_ambiguous)

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
        self.found_label = QLabel()  # "… holds no image files; reading CK+48.zip, the only dataset in it"
        self.found_label.setWordWrap(True)
        self.found_label.setVisible(False)
        self.choices = QWidget()  # one "Use <file>" button per dataset found in a folder without images
        self.choices_layout = QHBoxLayout(self.choices)
        self.choices_layout.setContentsMargins(0, 0, 0, 0)
        self.choices.setVisible(False)
        self.choice_buttons: list[QPushButton] = []
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
        lay.addWidget(self.choices)
        lay.addWidget(self.found_label)
        lay.addWidget(self.summary_label)
        lay.addWidget(split, 1)
        lay.addWidget(self.warnings_label)

    # -- choosing and loading ---------------------------------------------------------
    def start_dir(self) -> str:
        """Where the file dialogs open: the folder holding the dataset being edited, else the
        one holding the last dataset loaded, else the home folder."""
        return gui_settings.dialog_dir("dataset_dir", self.path_edit.text().strip())

    def _browse_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Dataset folder", self.start_dir())
        if d:
            self.load(d)

    def _browse_file(self, filt: str) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Dataset file", self.start_dir(), filt + ";;All files (*)")
        if f:
            self.load(f)

    def load_from_edit(self) -> None:
        self.load(self.path_edit.text().strip())

    def load(self, path: str) -> None:
        self.path_edit.setText(path)
        self.dataset = None
        self._clear_summary()
        _message(self.error_label, "")
        _message(self.found_label, "")
        self._set_choices([])
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

    def _on_located(self, path: str, note: str) -> None:
        """The loader reads a dataset file found in the folder given: show which, and why."""
        self.path_edit.setText(path)
        _message(self.found_label, html.escape(note[:1].upper() + note[1:], quote=False) + ".", OK_STYLE)

    def _on_ambiguous(self, message: str, paths: list) -> None:
        self._on_failed(message, hint=False)
        self._set_choices(paths)

    def _set_choices(self, paths: list) -> None:
        while self.choices_layout.count():
            w = self.choices_layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.choice_buttons = []
        for p in paths:
            b = QPushButton(f"Use {Path(p).name}")
            b.setToolTip(p)
            b.clicked.connect(lambda _=False, p=p: self.load(p))
            self.choices_layout.addWidget(b)
            self.choice_buttons.append(b)
        self.choices_layout.addStretch(1)
        self.choices.setVisible(bool(paths))

    def _on_failed(self, message: str, hint: bool = True) -> None:
        self._progress_soon.cancel()
        self.progress.setVisible(False)
        self.load_button.setEnabled(True)
        self.status_label.setText("")
        self._show_error(message, load_hint(message) if hint else "")
        self.completeChanged.emit()

    def _show_error(self, message: str, hint: str) -> None:
        text = f"<b>Could not load the dataset:</b> {html.escape(message)}"
        if hint:
            text += "<br>" + html.escape(hint).replace("\n", "<br>")
        _message(self.error_label, text, ERROR_STYLE)

    def _on_loaded(self, ds) -> None:
        self._progress_soon.cancel()
        self.progress.setVisible(False)
        self.load_button.setEnabled(True)
        self.dataset = ds
        self.status_label.setText("")
        gui_settings.remember_dir("dataset_dir", ds.report.path.split("!")[0])
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
        return training_warnings(self.dataset) if self.dataset is not None else []

    def _fill_summary(self, ds) -> None:
        self._clear_summary()
        r = ds.report
        h, w = ds.images.shape[1:3]
        self.summary_label.setText(
            f"<b>Format:</b> {html.escape(r.format)} &nbsp; <b>Images:</b> {len(ds)} &nbsp; "
            f"<b>Classes:</b> {html.escape(class_count_text(ds), quote=False)} &nbsp; <b>Subjects:</b> {r.num_subjects or 'n/a'} &nbsp; "
            f"<b>Crop size:</b> {w}×{h}<br><small>{html.escape(r.path)}</small>"
        )
        names = list(ds.label_names)
        splits = [s for s in r.counts] or [""]
        cols = [s or "images" for s in splits] + (["total"] if len(splits) > 1 else [])
        self.counts_table.setColumnCount(len(cols))
        self.counts_table.setHorizontalHeaderLabels(cols)
        self.counts_table.setRowCount(len(names))
        self.counts_table.setVerticalHeaderLabels(names)
        labels = np.asarray(ds.labels)
        for i, n in enumerate(names):
            vals = (
                [int(r.counts.get(s, {}).get(n, 0)) for s in splits]
                if r.counts
                else [int((labels == i).sum())]
            )
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
            _message(
                self.warnings_label,
                "<b>Warnings</b><ul style='margin:0'>"
                + "".join(f"<li>{html.escape(x, quote=False)}</li>" for x in warns)
                + "</ul>",
                WARN_STYLE,
            )
        else:
            _message(self.warnings_label, "No warnings: every class present, no skipped files.", OK_STYLE)

    def isComplete(self) -> bool:  # Qt API
        return self.dataset is not None and not self.loader.busy
