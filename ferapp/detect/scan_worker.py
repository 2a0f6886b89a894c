"""The finder's background full-frame scan: one thread per ``FaceFinder``, one scan at a time.

``submit(frame_no, gray)`` queues a scan (the latest request wins), ``poll()`` / ``wait()``
return ``(frame_no, faces)`` of the finished one on the caller's thread, and an exception in
the detector is re-raised there. Every worker is joined at interpreter exit.
"""

from __future__ import annotations

import atexit
import threading
import weakref

import numpy as np

from ferapp.detect.base import FaceDetector
from ferapp.types import Face

_WORKERS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_workers() -> None:
    """Join every scan thread before the interpreter finalises: a daemon thread killed inside
    dlib's C++ code aborts the process ("terminate called without an active exception")."""
    for w in list(_WORKERS):
        w.close()


class ScanWorker:
    """One background thread running full-frame scans, one at a time (latest request wins)."""

    def __init__(self, detector: FaceDetector):
        self.detector = detector
        self._cond = threading.Condition()
        self._job: tuple[int, np.ndarray] | None = None
        self._result: tuple[int, list[Face]] | None = None
        self._busy = False
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="ferapp-face-scan", daemon=True)
        self._thread.start()
        _WORKERS.add(self)

    @property
    def pending(self) -> bool:
        with self._cond:
            return self._busy or self._job is not None or self._result is not None

    def submit(self, frame_no: int, gray: np.ndarray) -> None:
        with self._cond:
            self._job = (frame_no, gray)
            self._cond.notify_all()

    def poll(self) -> tuple[int, list[Face]] | None:
        with self._cond:
            self._raise()
            r, self._result = self._result, None
            return r

    def wait(self, timeout: float = 30.0) -> tuple[int, list[Face]] | None:
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self._result is not None
                    or self._error is not None
                    or (not self._busy and self._job is None)
                ),
                timeout,
            )
            self._raise()
            r, self._result = self._result, None
            return r

    def cancel(self) -> None:
        with self._cond:
            self._job, self._result = None, None

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread; waits for a scan in progress to finish (one scan: well under a second)."""
        with self._cond:
            self._closed = True
            self._job = None
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _raise(self) -> None:
        if self._error is not None:
            e, self._error = self._error, None
            raise RuntimeError(f"face scan failed: {e}") from e

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._job is not None or self._closed)
                if self._closed:
                    return
                (frame_no, gray), self._job = self._job, None
                self._busy = True
            try:
                faces = self.detector.detect(gray)
                out = (frame_no, faces)
                err = None
            except Exception as e:  # reported to the caller on its thread
                out, err = None, e
            with self._cond:
                self._busy = False
                if err is not None:
                    self._error = err
                elif self._job is None or self._job[0] < frame_no:  # a newer request supersedes
                    self._result = out
                self._cond.notify_all()
