"""Page 4: the run on a worker thread, with live curves, progress, ETA, a per-epoch table and Cancel."""

from __future__ import annotations

import html
import math
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)
from superqt.utils import qthrottled

from ferapp.gui.wizard.widgets import ERROR_STYLE, OK_STYLE, WARN_STYLE, _message, _pct, _ro_item
from ferapp.gui.wizard.worker import TrainingJob
from ferapp.train.progress import RunProgress, checkpoints_of, training_hint

pg.setConfigOptions(antialias=True)


class TrainingPage(QWizardPage):
    """Live curves, progress with fold / epoch / ETA, a per-epoch table and Cancel."""

    EPOCH_COLUMNS = ("fold", "epoch", "train loss", "val loss", "val acc", "lr", "time (s)")
    PROGRESS_MS = 50

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("4. Training")
        self.setSubTitle("Training runs on a background thread; Cancel stops it before the next batch.")
        self.job = TrainingJob(self)
        self.job.run_started.connect(self._on_run_started)
        self.job.fold_started.connect(self._on_fold_started)
        self.job.epoch_started.connect(self._on_epoch_started)
        self.job.batch_ended.connect(self._on_batch_ended)
        # every batch is reported; the bar and the ETA are redrawn at most 20 times a second
        self._progress_soon = qthrottled(self._update_progress, timeout=self.PROGRESS_MS, parent=self)
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
        self.loss_plot.addLegend(
            offset=(-10, 10), brush=pg.mkBrush(255, 255, 255, 210), labelTextColor="#333"
        )
        self.train_curve = self.loss_plot.plot(
            [],
            [],
            pen=pg.mkPen("#1f77b4", width=2),
            symbol="o",
            symbolSize=5,
            symbolBrush="#1f77b4",
            name="train loss",
        )
        self.val_curve = self.loss_plot.plot(
            [],
            [],
            pen=pg.mkPen("#ff7f0e", width=2),
            symbol="o",
            symbolSize=5,
            symbolBrush="#ff7f0e",
            name="val loss",
        )
        self.acc_plot = pg.PlotWidget(background="w")
        self.acc_plot.setTitle("Validation accuracy", color="#333")
        self.acc_plot.setLabel("bottom", "epoch")
        self.acc_plot.setYRange(0, 1, padding=0.02)
        self.acc_plot.showGrid(x=True, y=True, alpha=0.25)
        self.acc_plot.addLegend(
            offset=(-10, -10), brush=pg.mkBrush(255, 255, 255, 210), labelTextColor="#333"
        )
        self.acc_curve = self.acc_plot.plot(
            [],
            [],
            pen=pg.mkPen("#2ca02c", width=2),
            symbol="o",
            symbolSize=5,
            symbolBrush="#2ca02c",
            name="val accuracy",
        )
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
        self.run_progress = RunProgress()  # fold / epoch / batches and the ETA (Qt-free)
        self.points_are_folds = False
        self._fold_lines: list = []

    # -- run control -----------------------------------------------------------------------
    def initializePage(self) -> None:
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
        self.status_label.setText(
            f"Starting {w.model_page.arch} on {len(w.dataset)} images ({s.protocol_name})…"
        )
        self.progress.setValue(0)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel training")
        self.run_progress.t0 = time.monotonic()
        self.set_axis(int(s.overrides().get("epochs") or 1), s.protocol_plan().n_folds)
        self.job.start(w.model_page.arch, w.dataset, s.protocol_name, s.overrides(), self.out_dir)
        QTimer.singleShot(0, self, self._lock_back)  # (dropped if the page is gone by then)
        self.completeChanged.emit()

    def set_axis(self, epochs: int, folds: int) -> None:
        """The plots' x-axis names what a point is: with one epoch per fold each point is a fold."""
        self.points_are_folds = epochs == 1 and folds > 1
        label = (
            "fold"
            if self.points_are_folds
            else "epoch (fold after fold; dashed lines start a new fold)"
            if folds > 1
            else "epoch"
        )
        for plot in (self.loss_plot, self.acc_plot):
            plot.setLabel("bottom", label)

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

    def cleanupPage(self) -> None:  # Back pressed
        self.cancel()

    @property
    def running(self) -> bool:
        return self.job.running

    # -- engine events (queued from the training thread) ----------------------------------
    def _on_run_started(self, info) -> None:
        self.status_label.setText(f"Preparing {info.get('arch')} ({info.get('protocol')})…")

    def _on_fold_started(self, fold: str, index: int, total: int) -> None:
        self.run_progress.fold_started(fold, index, total)
        if index > 0 and self._xs and not self.points_are_folds:
            ln = pg.InfiniteLine(
                pos=self._xs[-1] + 0.5, angle=90, pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine)
            )
            self.loss_plot.addItem(ln)
            self._fold_lines.append(ln)

    def _on_epoch_started(self, epoch: int, total: int, num_batches: int) -> None:
        self.run_progress.epoch_started(epoch, total, num_batches)
        self._update_progress()

    def _on_batch_ended(self, step: int, loss: float) -> None:
        self.run_progress.last_loss = loss
        self._progress_soon()

    def total_batches(self) -> int:
        return self.run_progress.total_batches()

    def _update_progress(self) -> None:
        done = self.job.batches_done
        self.progress.setValue(self.run_progress.permille(done))
        self.status_label.setText(self.run_progress.status(done, time.monotonic()))

    def _on_epoch_ended(self, epoch: int, metrics: dict) -> None:
        fi = self.run_progress.fold_index
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

        vals = [
            str(fi + 1),
            str(epoch + 1),
            num("train_loss", "{:.4f}"),
            num("val_loss", "{:.4f}"),
            _pct(metrics.get("val_acc")) if "val_acc" in metrics else "–",
            num("lr", "{:.3g}"),
            num("epoch_time_s", "{:.1f}"),
        ]
        for c, v in enumerate(vals):
            self.table.setItem(r, c, _ro_item(v))
        self.table.scrollToBottom()
        self._update_progress()

    def _on_run_ended(self, result) -> None:
        self._progress_soon.cancel()  # a batch's redraw still due must not overwrite the outcome
        self.result = result
        w = self.wizard()
        if w is not None:
            w.run_result = result
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancel training")
        ckpts = checkpoints_of(result)
        ck_html = ""
        if ckpts:
            ck_html = (
                "<br><b>Checkpoints kept</b> (resume with <code>ferapp train --resume &lt;last.pt&gt; "
                "--folds &lt;k&gt;</code>):<br>" + "<br>".join(html.escape(p) for p in ckpts)
            )
        if result.outcome == "finished":
            self.progress.setValue(1000)
            self.status_label.setText(
                f"Finished: {len(result.folds)} fold(s), accuracy {_pct(result.mean_accuracy)}"
                f" ± {_pct(result.std_accuracy)}"
            )
            _message(
                self.message,
                f"Run folder: {html.escape(str(result.out_dir))}. Press Next for the results "
                "and to save the model.",
                OK_STYLE,
            )
        elif result.outcome == "cancelled":
            self.status_label.setText(f"Cancelled after {self.job.batches_done} batch(es).")
            _message(
                self.message,
                "Training was cancelled; nothing was saved to your models."
                + (ck_html or "<br>No epoch had finished, so no checkpoint was written.")
                + "<br>Go Back to change the settings and start again.",
                WARN_STYLE,
            )
        else:
            self.status_label.setText("Training failed.")
            _message(
                self.message,
                f"<b>{html.escape(result.message or 'unknown error')}</b><br>"
                + html.escape(training_hint(result.message or ""))
                + ck_html,
                ERROR_STYLE,
            )
        if w is not None:
            w.button(QWizard.WizardButton.BackButton).setEnabled(True)
        self.completeChanged.emit()
        if w is not None:
            w.training_ended.emit(result)

    def isComplete(self) -> bool:
        return self.result is not None and self.result.outcome == "finished" and not self.job.running
