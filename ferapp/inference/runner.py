"""Real-time runner: capture thread -> slot of one (latest frame wins) -> inference thread.

Qt-free: results go out through plain callbacks (the GUI bridges them to signals in
``ferapp/gui/bridge.py``). Faults in the source (exceptions, empty frames, disappearance)
are reported through ``on_error`` and retried with exponential backoff; a live source
that comes back resumes; a file source that ends stops the runner cleanly (``on_end``).
``stop()`` returns within about a second with both threads gone.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ferapp.types import Frame, FrameResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerStats:
    capture_fps: float = 0.0
    processed_fps: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    dropped: int = 0  # since start
    dropped_recent: int = 0  # in the last ``RECENT_S`` seconds (what the status bar shows)
    captured: int = 0
    processed: int = 0
    faults: int = 0
    source_ok: bool = True


RECENT_S = 5.0


class _Rate:
    """Events per second (and count) over a sliding window of timestamps."""

    def __init__(self, window_s: float = 2.0):
        self.window = window_s
        self.times: deque[float] = deque()

    def tick(self, t: float) -> None:
        self.times.append(t)
        while self.times and t - self.times[0] > self.window:
            self.times.popleft()

    def count(self, now: float) -> int:
        while self.times and now - self.times[0] > self.window:
            self.times.popleft()
        return len(self.times)

    def rate(self, now: float) -> float:
        while self.times and now - self.times[0] > self.window:
            self.times.popleft()
        if len(self.times) < 2:
            return 0.0
        span = max(self.times[-1] - self.times[0], 1e-6)
        return (len(self.times) - 1) / span


class Runner:
    """Run ``pipeline.process`` on the latest frame of ``source`` until stopped or the source ends.

    source: an unopened or opened FrameSource, or a source spec string (opened on start).
    """

    def __init__(
        self,
        source,
        pipeline,
        on_result: Callable[[FrameResult], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_end: Callable[[], None] | None = None,
        on_frame: Callable[[Frame], None] | None = None,
        max_backoff_s: float = 5.0,
        empty_frames_fault: int = 30,
        realtime: bool = True,
    ):
        """``realtime``: a file source given as a spec plays at its own fps (live viewing);
        False reads it as fast as it decodes."""
        self._source_spec = source if isinstance(source, str) else None
        self.source = None if isinstance(source, str) else source
        self.pipeline = pipeline
        self.on_result = on_result
        self.on_error = on_error
        self.on_end = on_end
        self.on_frame = on_frame
        self.max_backoff_s = max_backoff_s
        self.empty_frames_fault = empty_frames_fault
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._capture_done = False
        self._threads: list[threading.Thread] = []
        self.realtime = bool(realtime)
        self._paused = threading.Event()
        self._cap_rate = _Rate()
        self._proc_rate = _Rate()
        self._drop_times = _Rate(RECENT_S)
        self._latencies: deque[float] = deque(maxlen=300)
        self._dropped = 0
        self._captured = 0
        self._processed = 0
        self._faults = 0
        self._source_ok = True
        self.ended = threading.Event()
        # A capture thread stuck in a blocking read() when stop() gives up closes the source
        # itself once read() returns (closing it from another thread mid-read is unsafe).
        self._close_lock = threading.Lock()
        self._capture_running = False
        self._deferred_close = False

    @property
    def source_name(self) -> str:
        if self.source is not None:
            return getattr(self.source, "name", str(self._source_spec))
        return str(self._source_spec)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        from ferapp.capture import open_source

        if self.source is None:
            self.source = open_source(self._source_spec, realtime=self.realtime)  # raises SourceError
        elif not getattr(self.source, "is_open", True):
            self.source.open()
        self._stop.clear()
        self._capture_running = True
        self._deferred_close = False
        self._threads = [
            threading.Thread(target=self._capture_loop, name="ferapp-capture", daemon=True),
            threading.Thread(target=self._infer_loop, name="ferapp-inference", daemon=True),
        ]
        for t in self._threads:
            t.start()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def stop(self, timeout: float = 1.0) -> bool:
        """Stop both threads; True when they are gone within ``timeout`` seconds."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = any(t.is_alive() for t in self._threads)
        with self._close_lock:
            # still inside source.read()/open(): the capture thread closes it when that returns
            self._deferred_close = self._capture_running
            close_now = not self._capture_running
        if close_now:
            self._close_source()
        return not alive

    def _close_source(self) -> None:
        try:
            if self.source is not None:
                self.source.close()
        except Exception:  # closing a broken source must not raise
            log.debug("source close failed", exc_info=True)

    def join(self, timeout: float | None = None) -> None:
        for t in self._threads:
            t.join(timeout)

    # -- playback ----------------------------------------------------------------------------
    @property
    def can_pause(self) -> bool:
        return bool(getattr(self.source, "can_pause", False))

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def pause(self) -> None:
        """Hold a file / demo source where it is (nothing is read until ``resume``)."""
        if self.can_pause and not self._paused.is_set():
            self._paused.set()
            self.source.pause()

    def resume(self) -> None:
        if self._paused.is_set():
            self.source.resume()
            self._paused.clear()

    @property
    def position_s(self) -> float | None:
        return getattr(self.source, "position_s", None)

    @property
    def duration_s(self) -> float | None:
        return getattr(self.source, "duration_s", None)

    # -- stats -------------------------------------------------------------------------------
    def stats(self) -> RunnerStats:
        now = time.monotonic()
        lat = np.asarray(self._latencies, dtype=np.float64) * 1000.0
        return RunnerStats(
            capture_fps=self._cap_rate.rate(now),
            processed_fps=self._proc_rate.rate(now),
            latency_p50_ms=float(np.percentile(lat, 50)) if len(lat) else 0.0,
            latency_p95_ms=float(np.percentile(lat, 95)) if len(lat) else 0.0,
            dropped=self._dropped,
            dropped_recent=self._drop_times.count(now),
            captured=self._captured,
            processed=self._processed,
            faults=self._faults,
            source_ok=self._source_ok,
        )

    # -- threads -----------------------------------------------------------------------------
    def _report(self, msg: str) -> None:
        log.warning(msg)
        if self.on_error is not None:
            try:
                self.on_error(msg)
            except Exception:
                log.exception("on_error callback failed")

    def _fault(self, msg: str, attempt: int) -> int:
        """Report a source fault, wait with backoff, try to reopen. Returns the next attempt number."""
        self._faults += 1
        self._source_ok = False
        delay = min(self.max_backoff_s, 0.25 * (2**attempt))
        self._report(f"{msg} — retrying in {delay:.1f} s")
        if self._stop.wait(delay):
            return attempt + 1
        try:
            self.source.close()
        except Exception:
            pass
        try:
            self.source.open()
        except Exception as e:
            self._report(f"Source '{self.source_name}' still unavailable: {e}")
        return attempt + 1

    def _capture_loop(self) -> None:
        attempt = 0
        empties = 0
        try:
            while not self._stop.is_set():
                if self._paused.is_set() or not getattr(self.source, "frame_ready", True):
                    self._stop.wait(0.05)
                    continue
                try:
                    frame = self.source.read()
                except Exception as e:  # any source failure is a fault, never a crash
                    attempt = self._fault(f"Source '{self.source_name}' failed: {e}", attempt)
                    continue
                if self._stop.is_set():
                    break  # a read that blocked past stop(): drop its frame
                if frame is None:
                    if getattr(self.source, "is_live", False):
                        attempt = self._fault(
                            f"Source '{self.source_name}' stopped delivering frames", attempt
                        )
                        continue
                    break  # a file/folder/image source ended
                if frame.image is None or frame.image.size == 0:
                    empties += 1
                    if empties >= self.empty_frames_fault:
                        empties = 0
                        attempt = self._fault(f"Source '{self.source_name}' returns empty frames", attempt)
                    continue
                empties = 0
                if not self._source_ok:
                    self._source_ok = True
                    self._report(f"Source '{self.source_name}' is back")
                attempt = 0
                self._captured += 1
                self._cap_rate.tick(time.monotonic())
                if self.on_frame is not None:
                    try:
                        self.on_frame(frame)
                    except Exception:  # a display bug must not kill capture
                        log.exception("on_frame callback failed")
                with self._cond:
                    if self._slot is not None:
                        self._dropped += 1
                        self._drop_times.tick(time.monotonic())
                    self._slot = frame
                    self._cond.notify()
        finally:
            with self._cond:
                self._capture_done = True
                self._cond.notify_all()
            with self._close_lock:
                self._capture_running = False
                deferred = self._deferred_close
            if deferred:
                self._close_source()

    def _infer_loop(self) -> None:
        consecutive_failures = 0
        try:
            while True:
                with self._cond:
                    while self._slot is None and not self._capture_done and not self._stop.is_set():
                        self._cond.wait(0.1)
                    if self._stop.is_set():
                        return
                    frame, self._slot = self._slot, None
                    if frame is None and self._capture_done:
                        return
                if frame is None:
                    continue
                try:
                    result = self.pipeline.process(frame, source=self.source_name)
                    consecutive_failures = 0
                except Exception as e:
                    consecutive_failures += 1
                    self._report(f"Processing failed: {type(e).__name__}: {e}")
                    if consecutive_failures >= 50:
                        self._report("Too many processing failures; stopping")
                        return
                    continue
                now = time.time()
                result = _with_latency(result, now - frame.wall_time)
                self._latencies.append(result.latency_s)
                self._processed += 1
                self._proc_rate.tick(time.monotonic())
                if self._stop.is_set():
                    return  # stop() was called while processing: no callbacks after stop
                if self.on_result is not None:
                    try:
                        self.on_result(result)
                    except Exception:
                        log.exception("on_result callback failed")
        finally:
            self.ended.set()
            if not self._stop.is_set() and self.on_end is not None:
                try:
                    self.on_end()
                except Exception:
                    log.exception("on_end callback failed")


def _with_latency(result: FrameResult, latency: float) -> FrameResult:
    return dataclasses.replace(result, latency_s=latency)
