"""File > Analyze video or folder…: ``ferapp analyze`` from the window.

The same engine (``ferapp.inference.batch.run_analysis``) runs as a bridge job (a worker thread) with the
window's model, detector and smallest face size; a progress bar and Cancel (which stops between
frames and keeps a finalised timeline of what was done); the timeline goes to the recordings
folder and opens in the timeline viewer when the run ends with any face in it (else the dialog
says no face was found and what to change in the toolbar).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
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
from superqt.utils import qthrottled

from ferapp.gui.bridge import Job, start_job


class BatchAnalysisDialog(QDialog):
    """Pick a video or a folder of images, analyse it, open the timeline."""

    timeline_ready = Signal(str)  # path of the finished timeline

    def __init__(
        self,
        model: str | None,
        detector: str,
        min_face: float,
        out_dir: Path,
        parent: QWidget | None = None,
        source: str | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Analyze a video or a folder")
        self.resize(560, 220)
        self.model, self.detector, self.min_face, self.out_dir = (
            model,
            detector,
            float(min_face),
            Path(out_dir),
        )
        self.job: Job | None = None
        self._busy = False  # from start until its end was delivered
        self.result = None
        self.error: str | None = None
        self._progress_soon = qthrottled(self._progress, timeout=50, parent=self)  # ~20 redraws a second

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
        self.info = QLabel(
            f"Model {model or '(default)'} · detector {detector} · faces from {min_face:g} px · "
            f"timeline to {self.out_dir}"
        )
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
        return self._busy

    def start(self) -> None:
        from ferapp.inference.batch import AnalysisRequest

        src = self.source_edit.text().strip()
        if not src:
            self.status.setText("Choose a video or a folder first.")
            return
        if self.running:
            return
        req = AnalysisRequest(
            source=src, out_dir=self.out_dir, model=self.model, detector=self.detector, min_face=self.min_face
        )
        self.result, self.error = None, None
        self.start_btn.setEnabled(False)
        self.status.setText(f"Analyzing {Path(src).name}…")
        self._busy = True
        self.job = start_job(
            _analyze,
            req,
            pass_job=True,
            name="ferapp-batch",
            message=_message,
            on_event=self._on_job_event,
            on_done=self._finished,
            on_failed=self._failed,
        )

    def _on_job_event(self, _name: str, args: tuple) -> None:  # "progress": frames read, total (0 = unknown)
        self._progress_soon(*args)

    @property
    def cancel_event(self):
        return self.job.cancel_event if self.job is not None else None

    def cancel(self) -> None:
        if self.running:
            self.job.cancel()
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
        self._busy = False
        self._progress_soon.cancel()
        self.result = res
        self.start_btn.setEnabled(True)
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000 if not res.interrupted else self.progress.value())
        from ferapp.inference.analyze import no_face_hint

        s = res.summary
        cancelled = "Cancelled: " if res.interrupted else ""
        if res.rows == 0:  # nothing to plot: say so instead of opening an empty viewer
            name = Path(self.source_edit.text().strip()).name
            text = (
                f"{cancelled}No faces found in {s.processed} processed frame(s) of {name}."
                if s.processed
                else f"{cancelled}No frame could be read from {name}."
            )
            hint = no_face_hint(s, self.min_face, self.detector, wording="gui")
            if hint:
                text += f"\n{hint}, then Analyze again."
            self.status.setText(text)
            return
        self.status.setText(
            f"{cancelled}{s.processed} frames, face in {s.frames_with_face}, "
            f"{len(s.face_ids)} face id(s); timeline {res.out} ({res.rows} rows)"
        )
        self.timeline_ready.emit(str(res.out))

    def _failed(self, message: str) -> None:
        self._busy = False
        self._progress_soon.cancel()
        self.error = message
        self.start_btn.setEnabled(True)
        self.progress.setRange(0, 1000)
        self.status.setText(f"Could not analyze: {message}")

    def closeEvent(self, event) -> None:  # Qt API
        if self.running:
            self.job.cancel()  # stops after the current frame; the timeline written so far is finalised
            self._busy = False
        super().closeEvent(event)


def _analyze(job: Job, req):
    """The job (a pool thread)."""
    from ferapp.inference.batch import run_analysis

    req.out_dir.mkdir(parents=True, exist_ok=True)
    return run_analysis(
        req, on_progress=lambda i, n: job.emit("progress", i, n or 0), should_stop=job.cancel_event.is_set
    )


def _message(exc: BaseException) -> str:
    from ferapp.inference.batch import AnalysisError

    return str(exc) if isinstance(exc, AnalysisError) else f"{type(exc).__name__}: {exc}"
