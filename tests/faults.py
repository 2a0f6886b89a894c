"""Fault injection for reliability tests: a scripted FrameSource and a disk that fills up.

``ScriptedSource`` is a real ``ferapp.capture.FrameSource`` whose behaviour follows a script
of phases, so a test can say "5 good frames, a 10 s stall, 40 empty frames, 3 exceptions,
gone for 0.6 s, then good frames forever" and watch what the Runner does with it::

    src = ScriptedSource([ok(5), stall(10), empty(40), raises(3), gone(0.6), ok()])

Phases (each advances to the next when done):
  ok(n)       n good frames (n=None: forever)
  stall(s)    the next read() blocks s seconds (or until ``release()``), then returns a frame
  empty(n)    n frames whose image is empty
  raises(n)   n reads raise OSError("injected fault")
  gone(s)     read() returns None (a live source that stopped) and open() raises SourceError
              until s seconds have passed since the phase began: the device disappeared
  end()       read() returns None for ever (a file that ended; use is_live=False)

``full_disk_open(limit)`` returns an ``open`` replacement whose files raise
``OSError(ENOSPC)`` once ``limit`` bytes have been written: monkeypatch it into a module
(``monkeypatch.setattr(timeline, "open", full_disk_open(4096), raising=False)``).
"""

from __future__ import annotations

import builtins
import errno
import threading
import time
from dataclasses import dataclass

import numpy as np

from ferapp.capture import FrameSource, SourceError
from ferapp.types import Frame


@dataclass
class Phase:
    kind: str
    n: int | None = None  # frames / reads for ok, empty, raises
    seconds: float = 0.0  # for stall, gone


def ok(n: int | None = None) -> Phase:
    return Phase("ok", n)


def stall(seconds: float) -> Phase:
    return Phase("stall", 1, seconds)


def empty(n: int) -> Phase:
    return Phase("empty", n)


def raises(n: int) -> Phase:
    return Phase("raises", n)


def gone(seconds: float) -> Phase:
    return Phase("gone", None, seconds)


def end() -> Phase:
    return Phase("end")


class ScriptedSource(FrameSource):
    """A FrameSource driven by a list of phases (see the module docstring)."""

    fps = 1000.0

    def __init__(
        self,
        phases: list[Phase],
        is_live: bool = True,
        name: str = "scripted",
        frame_delay_s: float = 0.002,
        shape: tuple[int, int, int] = (16, 16, 3),
    ):
        super().__init__()
        self.phases = list(phases)
        self.is_live = is_live
        self.name = name
        self.frame_delay_s = frame_delay_s
        self.shape = shape
        self.lock = threading.Lock()
        self.phase_i = 0
        self.done_in_phase = 0
        self.phase_started = time.monotonic()
        self.index = 0
        self.opens = 0
        self.failed_opens = 0
        self.closes = 0
        self.reads = 0
        self.in_stall = threading.Event()  # set while a read() is blocked in a stall
        self._release = threading.Event()
        self.read_threads: set[str] = set()

    # -- script ----------------------------------------------------------------------------
    @property
    def phase(self) -> Phase:
        return self.phases[self.phase_i] if self.phase_i < len(self.phases) else Phase("end")

    @property
    def finished_script(self) -> bool:
        """True once the last phase is running (or the script ran out)."""
        return self.phase_i >= len(self.phases) - 1

    def _advance(self) -> None:
        self.phase_i += 1
        self.done_in_phase = 0
        self.phase_started = time.monotonic()

    def _count(self) -> None:
        self.done_in_phase += 1
        ph = self.phase
        if ph.n is not None and self.done_in_phase >= ph.n:
            self._advance()

    def release(self) -> None:
        """End any stall now (test clean-up)."""
        self._release.set()

    def _frame(self, image: np.ndarray | None = None) -> Frame:
        img = np.full(self.shape, self.index % 256, np.uint8) if image is None else image
        f = Frame(img, self.index, self.index / self.fps, time.time())
        self.index += 1
        return f

    # -- FrameSource -----------------------------------------------------------------------
    def _open(self) -> None:
        with self.lock:
            self.opens += 1
            ph = self.phase
            if ph.kind == "gone":
                if time.monotonic() - self.phase_started < ph.seconds:
                    self.failed_opens += 1
                    raise SourceError(f"device '{self.name}' not found")
                self._advance()

    def _read(self) -> Frame | None:
        self.reads += 1
        self.read_threads.add(threading.current_thread().name)
        if self.frame_delay_s:
            time.sleep(self.frame_delay_s)
        with self.lock:
            ph = self.phase
            if ph.kind == "ok":
                self._count()
                return self._frame()
            if ph.kind == "empty":
                self._count()
                return self._frame(np.zeros((0, 0, 3), np.uint8))
            if ph.kind == "raises":
                self._count()
                raise OSError("injected fault")
            if ph.kind == "gone":
                if time.monotonic() - self.phase_started >= ph.seconds:
                    self._advance()  # back without a reopen (e.g. a flaky stream)
                    return self._frame()
                return None
            if ph.kind == "end":
                return None
            assert ph.kind == "stall", ph
            seconds = ph.seconds
        self.in_stall.set()
        try:
            self._release.wait(seconds)
        finally:
            self.in_stall.clear()
        with self.lock:
            self._count()
            return self._frame()

    def _close(self) -> None:
        self.closes += 1


class FullDiskFile:
    """Wraps a real text file; raises OSError(ENOSPC) once ``limit`` characters were written."""

    def __init__(self, fh, limit: int, fail_on: str = "write"):
        self._fh = fh
        self.limit = limit
        self.written = 0
        self.fail_on = fail_on

    def _full(self) -> OSError:
        return OSError(errno.ENOSPC, "No space left on device")

    def write(self, s: str) -> int:
        self.written += len(s)
        if self.written > self.limit and self.fail_on == "write":
            raise self._full()
        return self._fh.write(s)

    def flush(self) -> None:
        if self.written > self.limit and self.fail_on == "flush":
            raise self._full()
        self._fh.flush()

    def fileno(self) -> int:
        return self._fh.fileno()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def full_disk_open(limit: int, suffix: str = ".csv", fail_on: str = "write"):
    """An ``open`` whose files ending in ``suffix`` opened for writing fill up after ``limit`` chars."""
    real_open = builtins.open

    def fake_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if str(file).endswith(suffix) and any(c in mode for c in "wa"):
            return FullDiskFile(fh, limit, fail_on)
        return fh

    return fake_open


class ThreadExceptions:
    """Collects exceptions that escape any thread (``threading.excepthook``) while active."""

    def __init__(self):
        self.caught: list[BaseException] = []
        self._old = None

    def __enter__(self):
        self._old = threading.excepthook

        def hook(args):
            self.caught.append(args.exc_value)

        threading.excepthook = hook
        return self

    def __exit__(self, *exc) -> None:
        threading.excepthook = self._old
