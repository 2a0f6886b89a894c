"""File > Analyze video or folder…: ``ferapp analyze`` from the window.

The same engine (``ferapp.inference.batch.run_analysis``) runs on a worker thread with the
window's model, detector and smallest face size; a progress bar and Cancel (which stops between
frames and keeps a finalised timeline of what was done); the timeline goes to the recordings
folder and opens in the timeline viewer when the run ends with any face in it (else the dialog
says no face was found and what to change in the toolbar).
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class _Signals(QObject):
    progress = Signal(int, int)  # frames read, total (0 = unknown)
    finished = Signal(object)  # AnalysisResult
    failed = Signal(str)


class BatchAnalysisDialog(QDialog):
    """Pick a video or a folder of images, analyse it, open the timeline."""

    timeline_ready = Signal(str)  # path of the finished timeline

    def __init__(self, model: str | None, detector: str, min_face: float, out_dir: Path,
                 parent: QWidget | None = None, source: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Analyze a video or a folder")
        self.resize(560, 220)
        self.model, self.detector, self.min_face, self.out_dir = model, detector, float(min_face), Path(out_dir)
        self.cancel_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.result = None
        self.error: str | None = None
        self.signals = _Signals()
        self.signals.progress.connect(self._progress, Qt.ConnectionType.QueuedConnection)
        self.signals.finished.connect(self._finished, Qt.ConnectionType.QueuedConnection)
        self.signals.failed.connect(self._failed, Qt.ConnectionType.QueuedConnection)

        self.source_edit = QLineEdit(source or "")
        self.source_edit.setPlaceholderText("a video file or a folder of images")
        video_btn = QPushButton("Video…")
        folder_btn = QPushButton("Folder…")
        video_btn.clicked.connect(self._pick_video)
        folder_btn.clicked.connect(self._pick_folder)
        row = QHBoxLayout()
        row.addWidget(self.source_edit, 1)
        row.addWidget(video_btn)
        row.addWidget(folder_btn)
        self.info = QLabel(f"Model {model or '(default)'} · detector {detector} · faces from {min_face:g} px · "
                           f"timeline to {self.out_dir}")
        self.info.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.start_btn = self.buttons.addButton("Analyze", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_btn = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.start_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self.cancel)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.info)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)

    # -- choosing ----------------------------------------------------------------------------
    def _pick_video(self) -> None:
        from ferapp.capture import VIDEO_EXTS

        filt = f"Videos ({' '.join('*' + e for e in sorted(VIDEO_EXTS))});;All files (*)"
        path, _ = QFileDialog.getOpenFileName(self, "Analyze a video", "", filt)
        if path:
            self.source_edit.setText(path)

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Analyze a folder of images")
        if path:
            self.source_edit.setText(path)

    # -- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        from ferapp.inference.batch import AnalysisRequest

        src = self.source_edit.text().strip()
        if not src:
            self.status.setText("Choose a video or a folder first.")
            return
        if self.running:
            return
        req = AnalysisRequest(source=src, out_dir=self.out_dir, model=self.model, detector=self.detector,
                              min_face=self.min_face)
        self.cancel_event.clear()
        self.result, self.error = None, None
        self.start_btn.setEnabled(False)
        self.status.setText(f"Analyzing {Path(src).name}…")
        self.thread = threading.Thread(target=self._run, args=(req,), name="ferapp-batch", daemon=True)
        self.thread.start()

    def _run(self, req) -> None:
        from ferapp.inference.batch import AnalysisError, run_analysis

        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            res = run_analysis(req, on_progress=lambda i, n: self.signals.progress.emit(i, n or 0),
                               should_stop=self.cancel_event.is_set)
        except AnalysisError as e:
            self.signals.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - every failure reaches the dialog
            self.signals.failed.emit(f"{type(e).__name__}: {e}")
        else:
            self.signals.finished.emit(res)

    def cancel(self) -> None:
        if self.running:
            self.cancel_event.set()
            self.status.setText("Cancelling after the current frame…")
        else:
            self.reject()

    def _progress(self, i: int, n: int) -> None:
        if n > 0:
            self.progress.setValue(int(1000 * min(i, n) / n))
            self.progress.setFormat(f"{i} / {n} frames")
        else:
            self.progress.setRange(0, 0)  # unknown length: a busy bar
            self.progress.setFormat(f"{i} frames")

    def _finished(self, res) -> None:
        self.result = res
        self.start_btn.setEnabled(True)
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000 if not res.interrupted else self.progress.value())
        from ferapp.inference.analyze import no_face_hint

        s = res.summary
        cancelled = "Cancelled: " if res.interrupted else ""
        if res.rows == 0:  # nothing to plot: say so instead of opening an empty viewer
            name = Path(self.source_edit.text().strip()).name
            text = (f"{cancelled}No faces found in {s.processed} processed frame(s) of {name}." if s.processed
                    else f"{cancelled}No frame could be read from {name}.")
            hint = no_face_hint(s, self.min_face, self.detector, wording="gui")
            if hint:
                text += f"\n{hint}, then Analyze again."
            self.status.setText(text)
            return
        self.status.setText(f"{cancelled}{s.processed} frames, face in {s.frames_with_face}, "
                            f"{len(s.face_ids)} face id(s); timeline {res.out} ({res.rows} rows)")
        self.timeline_ready.emit(str(res.out))

    def _failed(self, message: str) -> None:
        self.error = message
        self.start_btn.setEnabled(True)
        self.progress.setRange(0, 1000)
        self.status.setText(f"Could not analyze: {message}")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.running:
            self.cancel_event.set()
            self.thread.join(10)
        super().closeEvent(event)
