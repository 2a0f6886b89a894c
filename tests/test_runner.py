"""Runner: latest frame wins (drops instead of queueing), stats, fault retry, clean stop."""

from __future__ import annotations

import threading
import time

import numpy as np

from ferapp.inference.runner import Runner
from ferapp.inference.smoothing import EmaSmoother
from ferapp.types import Frame, FrameResult
from tests.conftest import wait_until


class FastSource:
    """A live source producing frames as fast as asked (no pacing)."""

    name = "fast"
    is_live = True
    fps = 1000.0

    def __init__(self, limit=None, delay=0.0):
        self.i = 0
        self.limit = limit
        self.delay = delay
        self.closed = False

    def open(self):
        self.closed = False

    def read(self):
        if self.limit is not None and self.i >= self.limit:
            return None
        if self.delay:
            time.sleep(self.delay)
        self.i += 1
        return Frame(np.zeros((8, 8, 3), np.uint8), self.i - 1, self.i / 1000.0, time.time())

    def close(self):
        self.closed = True


class FileLikeSource(FastSource):
    is_live = False


class SlowPipeline:
    def __init__(self, delay=0.02):
        self.delay = delay
        self.seen = []

    def process(self, frame, source=""):
        time.sleep(self.delay)
        self.seen.append(frame.index)
        return FrameResult(frame, (), model="slow", detector="none", source=source)


def test_drops_instead_of_queueing():
    src = FastSource(delay=0.001)
    pipe = SlowPipeline(0.02)
    results = []
    r = Runner(src, pipe, on_result=results.append)
    r.start()
    # the capture side outruns the 20 ms pipeline; wait for enough of both, not for a fixed time
    assert wait_until(lambda: r.stats().processed >= 10 and len(pipe.seen) >= 10 and r.stats().dropped > 0)
    assert r.stop(1.0)
    st = r.stats()
    assert st.dropped > 0
    assert st.captured > st.processed >= 10
    # latest frame wins: processed indices increase with gaps
    assert all(b > a for a, b in zip(pipe.seen, pipe.seen[1:], strict=False))
    assert max(np.diff(pipe.seen)) > 1
    assert st.latency_p50_ms > 0 and st.processed_fps > 0


def test_stops_cleanly_within_a_second():
    before = threading.active_count()
    src = FastSource(delay=0.001)
    pipe = SlowPipeline(0.005)
    r = Runner(src, pipe)
    r.start()
    assert wait_until(lambda: len(pipe.seen) >= 3)  # both threads are busy
    assert r.stop(1.0)  # True: both threads ended within the second
    assert not r.running
    assert src.closed
    assert threading.active_count() <= before


def test_file_source_end_calls_on_end():
    ended = threading.Event()
    src = FileLikeSource(limit=20)
    r = Runner(src, SlowPipeline(0.0), on_end=ended.set)
    r.start()
    assert ended.wait(3.0)
    r.stop()


class FlakySource(FastSource):
    """Raises for a while, then recovers (a camera unplugged and plugged back)."""

    def __init__(self):
        super().__init__(delay=0.002)
        self.fail_between = (20, 40)
        self.reopens = 0

    def open(self):
        self.reopens += 1

    def read(self):
        if self.fail_between[0] <= self.i < self.fail_between[1]:
            self.i += 1
            raise OSError("camera disconnected")
        return super().read()


def test_fault_retry_and_resume():
    errors = []
    src = FlakySource()
    r = Runner(src, SlowPipeline(0.0), on_error=errors.append, max_backoff_s=0.05)
    r.start()
    wait_until(lambda: r.stats().captured >= 60)
    r.stop()
    st = r.stats()
    assert st.captured >= 60, st  # resumed after the fault
    assert st.faults >= 1
    assert any("camera disconnected" in e for e in errors)
    assert any("is back" in e for e in errors)
    assert src.reopens >= 1


def test_processing_error_reported_not_crash():
    errors = []

    class Broken(SlowPipeline):
        def process(self, frame, source=""):
            if frame.index % 2 == 0:
                raise ValueError("boom")
            return super().process(frame, source)

    src = FileLikeSource(limit=10, delay=0.02)
    r = Runner(src, Broken(0.0), on_error=errors.append)
    r.start()
    r.join(3)
    r.stop()
    assert any("boom" in e for e in errors)


def test_ema_smoother():
    s = EmaSmoother(0.5)
    a = np.array([1, 0, 0, 0, 0, 0, 0], np.float32)
    b = np.array([0, 1, 0, 0, 0, 0, 0], np.float32)
    s(1, a)
    out = s(1, b)
    assert np.allclose(out[:2], [0.5, 0.5])
    assert np.allclose(s(2, b), b)  # other face independent
    s.set_alpha(0.0)
    assert np.allclose(s(1, a), a)  # off = raw
