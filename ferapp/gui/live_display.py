"""The main window's ~30 Hz display loop: drain the bridge's new results into the video, the
plots and the driver panel, and keep the status bar's position, stats, no-face notice and
REC clock current. It only reads the runner and the session; it never changes either."""

from __future__ import annotations


class LiveDisplay:
    def __init__(self, win):
        self.win = win
        self.tick = 0

    def refresh(self) -> None:
        win = self.win
        results = win.bridge.drain()
        if win.stills.active:  # photos: the one shown, with its own result and plots
            win.stills.refresh(results)
        elif results:
            win.plots.add_results(results)
            self.track_faces(results)
            win.driver_mode.update(results)
        latest = win.bridge.latest
        frame = win.bridge.latest_frame
        if frame is not None and win.runner is not None and not win.stills.active:
            win.video.show_frame(frame.image, latest)
        elif win.video.loading is not None and not win.stills.active:  # the loading state: text, clock, bar move
            win.video.show_loading(win.model_ctl.build_stage or "Opening the source…")
        if (results or self.tick % 10 == 0) and not win.stills.active:
            win.plots.refresh(latest)
        self.tick += 1
        if self.tick % 8 == 0:
            self.update_stats()
            self.update_position()
        win.recording_ctl.tick()

    def track_faces(self, results) -> None:
        """'No face found' in the status bar after 2 s of processed frames without a face."""
        win = self.win
        change = win.session.faces_processed(any(r.faces for r in results))
        if change is False:
            win.notice_label.setText("")
        elif change:
            win.notice_label.setText(" No face found ")
            win.status(f"No face found for {win.session.faces.after_s:.0f} s. Faces smaller than "
                       f"{win.min_face_spin.value()} px, dark, strongly turned or covered are not detected: "
                       "lower 'Min face' or try the cnn detector.", 8000)

    def update_position(self) -> None:
        r = self.win.runner
        pos = r.position_s if r is not None else None
        if pos is None:
            self.win.position_label.setText("")
            return
        dur = r.duration_s

        def mmss(t: float) -> str:
            return f"{int(t // 60):02d}:{t % 60:04.1f}"

        state = " (paused)" if r.paused else ""
        self.win.position_label.setText(f" {mmss(pos)}" + (f" / {mmss(dur)}" if dur else "") + state + " ")

    def update_stats(self) -> None:
        if self.win.runner is None:
            self.win.stats_label.setText("stopped")
            return
        s = self.win.runner.stats()
        text = (f"capture {s.capture_fps:.1f} fps · processed {s.processed_fps:.1f} fps · "
                f"latency p50 {s.latency_p50_ms:.0f} ms · dropped {s.dropped_recent} in 5 s")
        if not s.source_ok:
            text += " · source FAULT"
        self.win.stats_label.setText(text)
