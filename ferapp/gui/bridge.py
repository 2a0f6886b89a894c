"""The one place where Qt-free core callbacks (worker threads) become Qt signals.

``RunnerBridge`` is handed to ``ferapp.inference.runner.Runner`` as its callbacks. It never
repaints anything: results are appended to a small thread-safe buffer that the window's
~30 Hz display timer drains (DeepLabCut-live style), and only errors / end-of-stream /
recording failures travel as queued signals. ``BackgroundTask`` runs one blocking core call
(loading a model, building the pipeline) on a plain thread and reports back with a signal, so
the UI never freezes while torch loads weights.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from ferapp.types import Frame, FrameResult

log = logging.getLogger(__name__)


class RunnerBridge(QObject):
    """Runner callbacks -> buffer + queued signals. All ``on_*`` methods are thread-safe."""

    result_ready = Signal(object)  # every FrameResult (queued; for counters/tests, not for painting)
    error = Signal(str)  # a worker fault, meant for the status bar
    ended = Signal(int)  # a file source reached its end (the session's run id of its runner)
    recording_failed = Signal(str)  # the recorder hit a disk error and stopped

    def __init__(self, parent: QObject | None = None, buffer: int = 512):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: deque[FrameResult] = deque(maxlen=buffer)
        self._latest: FrameResult | None = None
        self._latest_frame: Frame | None = None
        self.sinks: list[Callable[[FrameResult], None]] = []  # run on the worker thread (recording)
        self.results = 0

    # -- called from worker threads ------------------------------------------------------
    def on_result(self, result: FrameResult) -> None:
        for sink in list(self.sinks):
            try:
                sink(result)
            except Exception as e:  # a sink must never kill the inference thread
                log.exception("result sink failed")
                self.error.emit(f"{type(e).__name__}: {e}")
        with self._lock:
            self._latest = result
            self._pending.append(result)
            self.results += 1
        self.result_ready.emit(result)

    def on_frame(self, frame: Frame) -> None:
        self._latest_frame = frame  # a single reference swap: atomic under the GIL

    def on_error(self, message: str) -> None:
        self.error.emit(str(message))

    def on_end(self, run_id: int = 0) -> None:
        self.ended.emit(int(run_id))

    # -- called from the GUI thread --------------------------------------------------------
    def drain(self) -> list[FrameResult]:
        """Results that arrived since the last call (oldest first)."""
        with self._lock:
            out = list(self._pending)
            self._pending.clear()
        return out

    @property
    def latest(self) -> FrameResult | None:
        with self._lock:
            return self._latest

    @property
    def latest_frame(self) -> Frame | None:
        return self._latest_frame

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self._latest = None
            self._latest_frame = None


class BackgroundTask(QObject):
    """Run ``fn()`` on a daemon thread; ``finished(result)`` or ``failed(message)`` on the GUI thread."""

    finished = Signal(object)
    failed = Signal(str)

    _alive: set[BackgroundTask] = set()  # keep running tasks referenced until they report

    def __init__(self, fn: Callable[[], Any], name: str = "ferapp-task"):
        super().__init__()
        self._fn = fn
        self._name = name
        self.thread: threading.Thread | None = None

    def start(self, on_done: Callable[[Any], None] | None = None,
              on_error: Callable[[str], None] | None = None) -> BackgroundTask:
        if on_done is not None:
            self.finished.connect(on_done, Qt.ConnectionType.QueuedConnection)
        if on_error is not None:
            self.failed.connect(on_error, Qt.ConnectionType.QueuedConnection)
        self.finished.connect(self._release, Qt.ConnectionType.QueuedConnection)
        self.failed.connect(self._release, Qt.ConnectionType.QueuedConnection)
        BackgroundTask._alive.add(self)
        self.thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            value = self._fn()
        except Exception as e:  # every failure becomes a message
            log.debug("background task failed:\n%s", traceback.format_exc())
            if isinstance(e, KeyError | ValueError | OSError) and e.args and isinstance(e.args[0], str):
                msg = e.args[0]  # our own messages are written for users: no exception class name
            else:
                msg = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            self.failed.emit(msg)
        else:
            self.finished.emit(value)

    def _release(self, *_: object) -> None:  # GUI thread, after the callbacks above were queued
        BackgroundTask._alive.discard(self)

    @classmethod
    def wait_all(cls, timeout: float = 30.0) -> bool:
        """Join every task still running (at exit: a daemon thread killed inside torch or dlib
        while the interpreter finalises aborts the process). True when all finished."""
        import time

        deadline = time.monotonic() + timeout
        for task in list(cls._alive):
            t = task.thread
            if t is not None and t.is_alive():
                t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.thread is not None and t.thread.is_alive() for t in cls._alive)
