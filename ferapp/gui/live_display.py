"""The main window's ~30 Hz display loop: drain the bridge's new results into the video, the
plots and the photo view, and keep the status bar's position, stats and no-face notice current.

A part that owns its timer and its three status-bar labels (the window adds them) and talks back
through signals. It takes the bridge, the window's LiveRun, the Session, the video view, the
plots and the photo part; it only reads the runner and the session, never changes either.
Signals: ``new_results(list)`` (results of live video this tick: the driver panel),
``ticked()`` (every tick: the REC clock), ``status(text, ms)``."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel

from ferapp.gui.bridge import RunnerBridge
from ferapp.gui.live_run import LiveRun
from ferapp.gui.plots import LivePlots
from ferapp.gui.stills import StillsControl
from ferapp.gui.video_view import VideoView
from ferapp.session import Session

DISPLAY_HZ = 30


class LiveDisplay(QObject):
    new_results = Signal(list)
    ticked = Signal()
    status = Signal(str, int)

    def __init__(
        self,
        bridge: RunnerBridge,
        live: LiveRun,
        session: Session,
        video: VideoView,
        plots: LivePlots,
        stills: StillsControl,
        min_face: Callable[[], float],
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.bridge, self.live, self.session = bridge, live, session
        self.video, self.plots, self.stills, self.min_face = video, plots, stills, min_face
        self.tick = 0
        self.build_stage = ""  # what the pipeline build loads now ("" when it is not building)
        self.notice_label, self.position_label, self.stats_label = (
            self._label(n) for n in ("noticeLabel", "positionLabel", "statsLabel")
        )
        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / DISPLAY_HZ))
        self.timer.timeout.connect(self.refresh)

    @staticmethod
    def _label(name: str) -> QLabel:
        label = QLabel("")
        label.setObjectName(name)
        return label

    def set_stage(self, text: str) -> None:
        """The pipeline build's stage (ModelControl.stage_changed): the video's loading state."""
        self.build_stage = text
        if text:
            self.video.show_loading(text)

    def refresh(self) -> None:
        results = self.bridge.drain()
        photos = self.stills.active
        if photos:  # photos: the one shown, with its own result and plots
            self.stills.refresh(results)
        elif results:
            self.plots.add_results(results)
            self.track_faces(results)
            self.new_results.emit(results)
        latest = self.bridge.latest
        frame = self.bridge.latest_frame
        if frame is not None and self.live.runner is not None and not photos:
            self.video.show_frame(frame.image, latest)
        elif self.video.loading is not None and not photos:  # the loading state: text, clock, bar move
            self.video.show_loading(self.build_stage or "Opening the source…")
        if (results or self.tick % 10 == 0) and not photos:
            self.plots.refresh(latest)
        self.tick += 1
        if self.tick % 8 == 0:
            self.update_stats()
            self.update_position()
        self.ticked.emit()

    def track_faces(self, results) -> None:
        """'No face found' in the status bar after 2 s of processed frames without a face."""
        change = self.session.faces_processed(any(r.faces for r in results))
        if change is False:
            self.notice_label.setText("")
        elif change:
            self.notice_label.setText(" No face found ")
            self.status.emit(
                f"No face found for {self.session.faces.after_s:.0f} s. Faces smaller than "
                f"{self.min_face():g} px, dark, strongly turned or covered are not detected: "
                "lower 'Min face' or try the cnn detector.",
                8000,
            )

    def update_position(self) -> None:
        r = self.live.runner
        pos = r.position_s if r is not None else None
        if pos is None:
            self.position_label.setText("")
            return
        dur = r.duration_s

        def mmss(t: float) -> str:
            return f"{int(t // 60):02d}:{t % 60:04.1f}"

        state = " (paused)" if r.paused else ""
        self.position_label.setText(f" {mmss(pos)}" + (f" / {mmss(dur)}" if dur else "") + state + " ")

    def update_stats(self) -> None:
        if self.live.runner is None:
            self.stats_label.setText("stopped")
            return
        s = self.live.runner.stats()
        text = (
            f"capture {s.capture_fps:.1f} fps · processed {s.processed_fps:.1f} fps · "
            f"latency p50 {s.latency_p50_ms:.0f} ms · dropped {s.dropped_recent} in 5 s"
        )
        if not s.source_ok:
            text += " · source FAULT"
        self.stats_label.setText(text)
