"""Recording on the result path: every processed result is written by the inference thread.

Qt-free. ``Recorder`` is a sink for the GUI's ``RunnerBridge.sinks`` (called on the worker
thread), so rows are
never lost to a busy or closing UI. It writes the timeline CSV + JSON sidecar through
``ferapp.record.TimelineWriter`` and, optionally, an annotated MP4 next to it that runs on the
wall clock (``AnnotatedVideoWriter(live=True)``: it lasts as long as the recording). A disk error
(``TimelineError`` / video write failure) stops recording and calls ``on_failure(message)``;
the live view keeps running. ``stop()`` finalises the sidecar and is safe from any thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferapp.record.output import OutputError
from ferapp.record.timeline import TimelineError, TimelineWriter
from ferapp.types import FrameResult

log = logging.getLogger(__name__)


def timestamped_path(folder: Path, stem: str = "ferapp", ext: str = ".csv") -> Path:
    base = time.strftime(f"{stem}_%Y%m%d_%H%M%S")
    p = folder / f"{base}{ext}"
    n = 1
    while p.exists():
        p = folder / f"{base}_{n}{ext}"
        n += 1
    return p


class Recorder:
    """Thread-safe timeline (+ optional annotated video) writer fed with FrameResults."""

    def __init__(self, on_failure: Callable[[str], None] | None = None):
        self.on_failure = on_failure
        self._lock = threading.Lock()
        self.writer: TimelineWriter | None = None
        self.video = None
        self.video_path: Path | None = None
        self.path: Path | None = None
        self.started_at: float | None = None

    @property
    def active(self) -> bool:
        return self.writer is not None

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_at if self.started_at is not None else 0.0

    def start(
        self,
        path: Path,
        meta: dict[str, Any] | None = None,
        video: bool = False,
        video_fps: float = 30.0,
        extra_columns: tuple[str, ...] = (),
    ) -> Path:
        """Open the files now (raises TimelineError with a user-facing message). ``meta``: the
        sidecar's run keys (``ferapp.record.metadata.run_metadata``); ``video_fps``: the MP4's
        fixed rate (the source's own, at most 30)."""
        with self._lock:
            if self.writer is not None:
                raise TimelineError("already recording")
            from ferapp.record.video import AnnotatedVideoWriter

            path = Path(path)
            self.video = None
            self.video_path = path.with_suffix(".mp4") if video else None
            if self.video_path is not None:
                try:  # claim the MP4 first: nothing is created when either output is refused
                    self.video = AnnotatedVideoWriter(self.video_path, video_fps, live=True)
                except OutputError as e:
                    self.video_path = None
                    raise TimelineError(str(e)) from None
            try:
                self.writer = TimelineWriter(path, meta=meta or {}, extra_columns=extra_columns)
            except TimelineError:
                if self.video is not None:
                    self.video.abort()
                    self.video, self.video_path = None, None
                raise
            self.path = path
            self.started_at = time.monotonic()
        return self.path

    def write(self, result: FrameResult) -> None:
        """Sink: append one processed result (worker thread)."""
        with self._lock:
            if self.writer is None:
                return
            try:
                self.writer.write(result)
                if self.video is not None:
                    self.video.write(result)
            except (TimelineError, OutputError, OSError, RuntimeError) as e:
                msg = str(e) if isinstance(e, TimelineError) else f"Recording stopped: {e}"
                self._close_locked(error=msg)
                failed = msg
            else:
                return
        log.warning(failed)
        if self.on_failure is not None:
            self.on_failure(failed)

    def _close_locked(self, error: str | None = None, final_meta: dict[str, Any] | None = None) -> None:
        writer, self.writer = self.writer, None
        video, self.video = self.video, None
        self.started_at = None
        if video is not None:
            video.close()
        if writer is not None:
            try:
                meta = {k: v for k, v in (final_meta or {}).items() if writer.meta.get(k) is None}
                if error:
                    meta["stopped_by_error"] = error
                writer.close(**meta)
            except TimelineError as e:
                log.warning("%s", e)

    def stop(self, **final_meta: Any) -> Path | None:
        """Finalise the files; returns the CSV path (None when not recording). ``final_meta``
        fills sidecar keys that were unknown (None) at the start, e.g. the source's fps when
        Record was pressed before capture ran."""
        with self._lock:
            if self.writer is None:
                return None
            path = self.path
            self._close_locked(final_meta=final_meta)
        return path

    @property
    def rows(self) -> int:
        w = self.writer
        return w.rows if w is not None else 0
