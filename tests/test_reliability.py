"""Reliability: source faults, stalls, callbacks that raise, file end, full/unwritable disks.

Uses the scripted fault-injecting source from tests/faults.py. The only time bounds are
liveness bounds ("stop() returns within ~1 s", "resumes within a few seconds").
"""

from __future__ import annotations

import errno
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ferapp.inference.runner import Runner
from ferapp.record import timeline as timeline_mod
from ferapp.record.timeline import TimelineError, TimelineWriter, read_timeline
from ferapp.types import Expression, Face, FaceResult, FrameResult
from tests.conftest import wait_until
from tests.faults import ScriptedSource, ThreadExceptions, empty, end, full_disk_open, gone, ok, raises, stall


class FakePipeline:
    """Instant pipeline: one fixed face per frame (so a timeline gets one row per frame)."""

    def __init__(self):
        self.calls = 0

    def process(self, frame, source=""):
        self.calls += 1
        probs = np.full(7, 1 / 7, np.float32)
        probs[3] += 0.3
        probs /= probs.sum()
        fr = FaceResult(Face((1, 2, 3, 4), face_id=0), Expression(probs))
        return FrameResult(frame, (fr,), model="fake", detector="none", source=source)


def _delays(errors: list[str]) -> list[float]:
    return [float(m.group(1)) for e in errors if (m := re.search(r"retrying in ([0-9.]+) s", e))]


# ----------------------------------------------------------------------------- runner faults
def test_every_fault_reported_retried_and_resumed():
    """ok -> exceptions -> ok -> empty frames -> ok -> device gone (open fails) -> back for good."""
    src = ScriptedSource([ok(5), raises(3), ok(5), empty(25), ok(5), gone(0.6), ok()])
    errors: list[str] = []
    results: list[FrameResult] = []
    with ThreadExceptions() as te:
        r = Runner(
            src,
            FakePipeline(),
            on_result=results.append,
            on_error=errors.append,
            max_backoff_s=0.1,
            empty_frames_fault=10,
        )
        r.start()
        assert wait_until(lambda: src.finished_script and r.stats().captured >= 40, 15), (src.phase, errors)
        assert wait_until(lambda: r.stats().source_ok, 5)
        assert r.stop(1.0)
    assert te.caught == []
    st = r.stats()
    text = "\n".join(errors)
    assert "injected fault" in text  # read() raising
    assert "returns empty frames" in text  # 10 empty frames in a row -> one fault each
    assert "stopped delivering frames" in text  # a live source returning None
    assert "still unavailable" in text and "not found" in text  # open() failing while gone
    assert text.count("is back") >= 3  # each fault cleared when frames came back
    assert st.faults >= 3 + 2 + 1
    assert st.source_ok and st.processed > 0 and len(results) == st.processed
    assert src.failed_opens >= 1 and src.opens > src.failed_opens  # reopened after it came back
    assert all(d <= 0.1 + 1e-9 for d in _delays(errors))  # backoff capped


def test_backoff_grows_and_is_capped():
    src = ScriptedSource([ok(2), raises(8), ok()])
    errors: list[str] = []
    r = Runner(src, FakePipeline(), on_error=errors.append, max_backoff_s=0.6)
    r.start()
    try:
        assert wait_until(lambda: any("is back" in e for e in errors), 15), errors
    finally:
        assert r.stop(1.0)
    d = _delays(errors)
    assert len(d) == 8, errors
    assert d == sorted(d) and d[0] < d[-1]  # exponential growth ...
    assert max(d) == pytest.approx(0.6, abs=0.05)  # ... capped at max_backoff_s
    # a successful frame resets the backoff
    assert r.stats().source_ok


def test_stop_returns_within_a_second_during_a_stalled_read():
    src = ScriptedSource([ok(3), stall(30), ok()])
    results: list = []
    with ThreadExceptions() as te:
        r = Runner(src, FakePipeline(), on_result=results.append)
        r.start()
        assert src.in_stall.wait(5)
        t0 = time.monotonic()
        gone_in_time = r.stop(1.0)
        took = time.monotonic() - t0
        assert took < 1.6  # liveness: stop() does not wait for the blocked read
        assert not gone_in_time  # the capture thread is still inside read(): reported honestly
        assert src.is_open  # not closed under a thread that is using it
        n_results = len(results)
        src.release()  # the read returns ...
        assert wait_until(lambda: not r.running, 3)  # ... and the thread exits
        assert not src.is_open  # the capture thread closed the source on its way out
        assert len(results) == n_results  # the late frame is dropped, no callback after stop
    assert te.caught == []


def test_stop_during_backoff_and_while_gone():
    src = ScriptedSource([ok(2), gone(60)])
    r = Runner(src, FakePipeline(), max_backoff_s=30)
    r.start()
    assert wait_until(lambda: r.stats().faults >= 1, 5)
    t0 = time.monotonic()
    assert r.stop(1.0)
    assert time.monotonic() - t0 < 1.6
    assert not r.running


def test_raising_callbacks_never_kill_the_threads():
    def boom(*_):
        raise RuntimeError("callback bug")

    src = ScriptedSource([ok(20), raises(1), ok(20), end()], is_live=False)
    ended = threading.Event()

    def on_end():
        ended.set()
        raise RuntimeError("on_end bug")

    with ThreadExceptions() as te:
        r = Runner(
            src,
            FakePipeline(),
            on_result=boom,
            on_error=boom,
            on_frame=boom,
            on_end=on_end,
            max_backoff_s=0.05,
        )
        r.start()
        assert ended.wait(10)
        r.stop(1.0)
    assert te.caught == []
    st = r.stats()
    assert st.captured == 40  # capture survived on_frame raising on every frame
    assert st.processed >= 1 and st.faults == 1


def test_processing_that_hangs_does_not_block_stop():
    class Hangs(FakePipeline):
        def __init__(self):
            super().__init__()
            self.entered = threading.Event()
            self.release = threading.Event()

        def process(self, frame, source=""):
            self.entered.set()
            self.release.wait(30)
            return super().process(frame, source)

    pipe = Hangs()
    results: list = []
    r = Runner(ScriptedSource([ok()]), pipe, on_result=results.append)
    r.start()
    assert pipe.entered.wait(5)
    t0 = time.monotonic()
    r.stop(1.0)
    assert time.monotonic() - t0 < 1.6
    pipe.release.set()
    assert wait_until(lambda: not r.running, 3)
    assert results == []  # the result finished after stop() is not delivered


def test_video_file_end_stops_cleanly_and_timeline_is_finalised(tmp_path):
    from ferapp.capture import open_source
    from ferapp.inference.pipeline import Pipeline
    from tests.media import write_test_video

    video = write_test_video(tmp_path / "clip.avi", 24)
    src = open_source(str(video), realtime=True)  # played at its 30 fps, as the GUI plays it
    pipe = Pipeline(model="cc_lenet5", smoothing=0.0, realtime=True)
    writer = TimelineWriter(tmp_path / "t.csv", {"source": str(video)})
    ended = threading.Event()
    errors: list[str] = []
    with ThreadExceptions() as te:
        r = Runner(src, pipe, on_result=writer.write, on_end=ended.set, on_error=errors.append)
        r.start()
        assert ended.wait(60)
        assert wait_until(lambda: not r.running, 2)
        assert r.stop(1.0)
    writer.close(processed=r.stats().processed)
    assert te.caught == [] and errors == []
    st = r.stats()
    assert st.captured == 24 and st.processed >= 1 and st.faults == 0
    tl = read_timeline(tmp_path / "t.csv")
    assert not tl.recovered and tl.warnings == []
    assert tl.meta["finalized"] is True and tl.meta["frames"] == st.processed
    assert len(tl) == writer.rows >= 1  # the demo face is found
    assert set(np.unique(tl.columns["frame"])) <= set(range(24))


# ------------------------------------------------------------------------- disk full / unwritable
def test_writer_on_unwritable_folder_is_a_clear_error(tmp_path):
    a_file = tmp_path / "not_a_dir"
    a_file.write_text("x")
    for target in (a_file / "t.csv", Path("/proc/forbidden/t.csv")):
        with pytest.raises(TimelineError, match="Cannot write timeline"):
            TimelineWriter(target)
    with pytest.raises(TimelineError, match="must be a .csv file"):
        TimelineWriter(tmp_path)  # a folder


def test_writer_on_read_only_folder(tmp_path, monkeypatch):
    """A folder the user may not write to (simulated: root ignores chmod, and CI runs as root)."""
    import builtins

    ro = tmp_path / "ro"
    ro.mkdir()

    def guard(real):
        def opener(path, *a, **k):
            if str(path).startswith(str(ro)):
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, *a, **k)

        return opener

    monkeypatch.setattr(os, "open", guard(os.open))
    monkeypatch.setattr(builtins, "open", guard(builtins.open))
    with pytest.raises(TimelineError, match="Cannot write timeline.*Permission denied"):
        TimelineWriter(ro / "t.csv")


def _result(i: int) -> FrameResult:
    from ferapp.types import Frame

    frame = Frame(np.zeros((4, 4, 3), np.uint8), i, i / 30, time.time())
    return FakePipeline().process(frame, "fake")


@pytest.mark.parametrize("fail_on", ["write", "flush"])
def test_disk_full_while_recording(tmp_path, monkeypatch, fail_on):
    monkeypatch.setattr(timeline_mod, "open", full_disk_open(3000, fail_on=fail_on), raising=False)
    path = tmp_path / "t.csv"
    w = TimelineWriter(path, fsync_interval_s=0.0)
    written = 0
    with pytest.raises(TimelineError, match="No space left on device") as ei:
        for i in range(10_000):
            w.write(_result(i))
            written += 1
    assert "Recording stopped" in str(ei.value)
    assert w.closed and 0 < written < 10_000
    with pytest.raises(TimelineError, match="closed"):
        w.write(_result(0))  # further writes: the same clear error type
    w.close()  # no-op, no exception
    monkeypatch.undo()
    tl = read_timeline(path)  # what reached the disk before it filled is readable
    assert tl.recovered and 0 < len(tl) <= written + 1  # +1: the failed row may have reached the OS
    assert np.all(np.isfinite(tl.probs))


def test_fsync_failure_is_a_timeline_error(tmp_path, monkeypatch):
    w = TimelineWriter(tmp_path / "t.csv", fsync_interval_s=0.0)

    def no_space(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(timeline_mod.os, "fsync", no_space)
    with pytest.raises(TimelineError, match="No space left"):
        w.write(_result(0))
    assert w.closed
    w2 = TimelineWriter.__new__(TimelineWriter)  # close() hitting a full disk
    monkeypatch.undo()
    w2.__init__(tmp_path / "u.csv")
    w2.write(_result(0))
    monkeypatch.setattr(timeline_mod.os, "fsync", no_space)
    with pytest.raises(TimelineError, match="Cannot finalise"):
        w2.close()
    assert w2._fh.closed  # the handle is released even so
    w2.close()  # second close is a no-op


def _run_cli(argv, capsys):
    from ferapp.cli import main

    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_analyze_to_unwritable_path_fails_clearly(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for out in (a_file / "x.csv", Path("/proc/forbidden/x.csv")):
        rc, _, err = _run_cli(
            ["analyze", "demo", "--model", "cc_lenet5", "--quiet", "--max-frames", "3", "--out", str(out)],
            capsys,
        )
        assert rc != 0
        assert "error: Cannot write timeline" in err and str(out) in err
        assert "Traceback" not in err


def test_cli_analyze_disk_full_mid_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(timeline_mod, "open", full_disk_open(2500), raising=False)
    out = tmp_path / "t.csv"
    rc, _, err = _run_cli(
        ["analyze", "demo", "--model", "cc_lenet5", "--quiet", "--max-frames", "400", "--out", str(out)],
        capsys,
    )
    assert rc == 3
    assert "error: Recording stopped" in err and "No space left on device" in err
    monkeypatch.undo()
    tl = read_timeline(out)
    assert tl.recovered and len(tl) > 0  # what was written before the disk filled is kept


def test_wall_timestamps_and_long_times_keep_their_precision(tmp_path):
    """A wall-clock timestamp (~1.7e9 s) must survive the CSV to the millisecond, and so must
    time_s after hours of recording (5 significant digits would round them to ~1e5 s / 1 s)."""
    from ferapp.types import Frame

    w = TimelineWriter(tmp_path / "t.csv")
    wall = 1_764_083_812.3456
    for i, t in enumerate([0.0, 0.5, 12_345.678]):
        frame = Frame(np.zeros((4, 4, 3), np.uint8), i, t, wall + t)
        w.write(FakePipeline().process(frame, "x"))
    w.close()
    tl = read_timeline(tmp_path / "t.csv")
    assert np.allclose(tl.columns["timestamp"], [wall, wall + 0.5, wall + 12_345.678], atol=1e-3, rtol=0)
    assert np.allclose(tl.columns["time_s"], [0.0, 0.5, 12_345.678], atol=1e-3, rtol=0)
