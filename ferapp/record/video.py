"""The annotated MP4 (boxes, ids, labels drawn by ``annotate``), written under the same rules
as a timeline: ``.mp4`` only, never an input, never over an existing file unless ``overwrite``,
one writer at a time (``OutputClaim``). OpenCV opens the file by name, so it is written inside
a fresh private folder beside the output and moved into place when closed: nothing exists under
the output's name before that (a refused or killed run leaves no empty or broken MP4 there).

Timing: an MP4 from OpenCV has one fixed frame rate, while results arrive when the model is
done with them (every frame of a file, every N-th with ``--every N``, or as fast as the live
pipeline manages). So each result is put at the frame slot of its time and the picture before it
is repeated until then (a result due in a slot already written is dropped): the video lasts as
long as what it shows.

- ``live=False`` (``ferapp analyze``): the clock is the frame's media time (``Frame.timestamp``);
  the last result is held as long as the one before it (``--every 3``: three frames).
- ``live=True`` (the window's Record): the clock is the wall clock from the writer's creation to
  ``close()``. A thread writes the newest result's picture at ``fps`` (repeating it during a
  pause or a slow model), so the file lasts as long as the recording did, the inference
  thread only hands results over, and a long pause costs no burst of work at the end.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ferapp.record.output import OutputClaim, OutputError
from ferapp.types import FrameResult

MAX_LIVE_FPS = 30.0  # a live recording's rate at most (each written frame costs an encode)


class AnnotatedVideoWriter:
    """``write(result)`` per processed frame; the frame size is taken from the first frame."""

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float = 30.0,
        overwrite: bool = False,
        inputs: Sequence[str | os.PathLike | None] = (),
        live: bool = False,
    ):
        self.path = Path(path)
        self.fps = max(1.0, float(fps))
        if live:
            self.fps = min(self.fps, MAX_LIVE_FPS)
        self.live = bool(live)
        self._claim = OutputClaim(self.path, ".mp4", inputs, overwrite, private_dir=True)
        self._writer = None
        self.frames = 0  # frames in the file (repeats included)
        self.results = 0  # results drawn into it
        self._t0: float | None = None
        self._gap = 1  # slots between the last two results: the last one is shown that long too
        self._last = None  # the newest picture written: repeated until the next one is due
        self._lock = threading.Lock()
        self._error: Exception | None = None
        self._pending: FrameResult | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.live:
            self._t0 = time.monotonic()
            self._thread = threading.Thread(target=self._run_live, name="ferapp-video", daemon=True)
            self._thread.start()

    # -- writing -------------------------------------------------------------------------
    def write(self, result: FrameResult) -> None:
        """Add one processed result (raises OutputError when the video cannot be written)."""
        if self._error is not None:
            raise self._error
        if self.live:
            with self._lock:
                self._pending = result  # the thread draws the newest one at its next slot
            return
        t = float(result.frame.timestamp)
        if self._t0 is None:
            self._t0 = t
        slot = max(0, round((t - self._t0) * self.fps))
        if slot < self.frames:
            return  # its slot is taken (two results within one frame interval)
        self._gap = slot - (self.frames - 1) if self.frames else 1
        self._put(self._draw(result), slot)

    def _draw(self, result: FrameResult):
        from ferapp.record.annotate import annotate

        self.results += 1
        return annotate(result.frame.image, result)

    def _put(self, img, slot: int) -> None:
        """Fill the slots before ``slot`` with the previous picture (or this one, at the start),
        then write ``img`` at ``slot``."""
        self._open(img)
        fill = self._last if self._last is not None else img
        while self.frames < slot:
            self._writer.write(fill)
            self.frames += 1
        self._writer.write(img)
        self.frames += 1
        self._last = img

    def _fill_to(self, frames: int) -> None:
        """Repeat the newest picture until the file holds ``frames`` frames."""
        if self._last is None:
            return
        while self.frames < frames:
            self._writer.write(self._last)
            self.frames += 1

    def _open(self, img) -> None:
        if self._writer is not None:
            return
        import cv2

        h, w = img.shape[:2]
        writer = cv2.VideoWriter(
            str(self._claim.private_path()), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h)
        )
        if not writer.isOpened():
            raise OutputError(f"cannot write video '{self.path}' (no MP4 encoder, or the disk refused it)")
        self._writer = writer

    # -- the live clock ------------------------------------------------------------------
    def _due(self) -> int:
        """Frames the file should hold by now (one per 1/fps s since the start)."""
        return int((time.monotonic() - self._t0) * self.fps) + 1

    def _live_step(self) -> None:
        """Bring the file up to now: the newest result (if one came) at the current slot, the
        previous picture repeated in the slots before it."""
        due = self._due()
        if self.frames >= due:
            return
        with self._lock:
            result, self._pending = self._pending, None
        if result is not None:
            self._put(self._draw(result), due - 1)
        else:
            self._fill_to(due)

    def _run_live(self) -> None:
        try:
            while not self._stop.is_set():
                self._live_step()
                next_at = self._t0 + self.frames / self.fps
                self._stop.wait(max(0.001, next_at - time.monotonic()))
        except Exception as e:  # reported by the next write() and by close()
            self._error = (
                e if isinstance(e, OutputError) else OutputError(f"Recording the video stopped: {e}")
            )

    # -- ending --------------------------------------------------------------------------
    def _finish_live(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self._error is None:
            try:
                self._live_step()  # the newest result, and the last repeats up to now
            except Exception as e:
                self._error = e

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    def close(self) -> Path | None:
        """Finish the file and move it into place; None when no frame was written (no file)."""
        if self.live:
            self._finish_live()
        else:
            self._fill_to(self.frames - 1 + self._gap)  # the last result stands for as long as the one before
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if not self.frames:
            self._claim.abort()
            return None
        return self._claim.commit()

    def abort(self) -> None:
        """Stop and delete the unfinished video (nothing is left under the output's name)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._claim.abort()
