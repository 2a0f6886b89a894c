"""The GUI's one thread-to-Qt bridge (ferapp/gui/bridge.py): jobs on superqt workers, with the
two places where it departs from plain superqt checked (the warnings module after overlapping
jobs, an error raised in a generator job) and a pool with room for a long job beside short ones."""

from __future__ import annotations

import threading
import warnings

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QCoreApplication, QThread

from ferapp.gui.bridge import run_in_background, start_job, wait_for_jobs

pytestmark = pytest.mark.gui

WAIT = 30_000  # ms; never a timing assertion
HOLD = 30.0  # s a blocked job waits at most (it is released long before)


def test_overlapping_jobs_leave_the_warnings_module_as_they_found_it(qtbot):
    """A enters, B enters, A leaves, B leaves: with superqt's own run() (catch_warnings around each
    job) B restores A's state, leaving showwarning bound to A and an 'always' filter in force."""
    show, filters = warnings.showwarning, list(warnings.filters)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    ended = []

    def job_a():
        a_in.set()
        b_in.wait(HOLD)

    def job_b():
        b_in.set()
        a_out.wait(HOLD)

    a = run_in_background(job_a, ended.append)
    a.signals.finished.connect(a_out.set)  # direct, on A's thread, once A's run() is over
    assert a_in.wait(HOLD)
    run_in_background(job_b, ended.append)
    qtbot.waitUntil(lambda: len(ended) == 2, timeout=WAIT)
    assert warnings.showwarning is show and list(warnings.filters) == filters


def test_a_runtime_error_in_a_generator_job_reaches_on_failed(qtbot):
    """superqt's GeneratorWorker hands back a RuntimeError it caught (torch raises them) and its
    run() drops it as 'worker deleted': the window would wait for the build forever."""
    seen, failed, done = [], [], []

    def build():
        yield "Loading PyTorch…"
        raise RuntimeError("PytorchStreamReader failed reading zip archive")

    run_in_background(build, done.append, failed.append, on_yield=seen.append)
    qtbot.waitUntil(lambda: bool(failed or done), timeout=WAIT)
    assert failed == ["RuntimeError: PytorchStreamReader failed reading zip archive"] and done == []
    assert seen == ["Loading PyTorch…"]


def test_a_short_job_runs_while_long_ones_hold_every_core(qtbot):
    """Qt's pool has one thread per core: a training run and an analysis would hold a model load
    back until they end."""
    release = threading.Event()
    long_done, short_done = [], []
    for _ in range(QThread.idealThreadCount()):
        run_in_background(lambda: release.wait(HOLD), long_done.append)
    try:
        run_in_background(lambda: "loaded", short_done.append)
        qtbot.waitUntil(lambda: short_done == ["loaded"], timeout=WAIT)
        assert long_done == []
    finally:
        release.set()
    qtbot.waitUntil(lambda: len(long_done) == QThread.idealThreadCount(), timeout=WAIT)


def test_a_job_reports_events_in_order_stops_when_cancelled_and_ends_once(qtbot):
    events, done, failed = [], [], []
    names = []

    def engine(job, limit):
        names.append(threading.current_thread().name)
        step = 0
        while not job.cancel_event.is_set() and step < limit:
            step += 1
            job.emit("progress", step, limit)
            if step == 3:
                job.cancel_event.wait(HOLD)  # held here until cancelled
        return step

    job = start_job(
        engine,
        10_000,
        pass_job=True,
        name="ferapp-test-engine",
        on_event=lambda name, args: events.append((name, *args)),
        on_done=done.append,
        on_failed=failed.append,
    )
    qtbot.waitUntil(lambda: len(events) == 3, timeout=WAIT)
    job.cancel()
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT)
    assert wait_for_jobs(timeout=WAIT / 1000)
    QCoreApplication.processEvents()  # anything still queued (a late event, a second end) arrives now
    assert events == [("progress", i, 10_000) for i in (1, 2, 3)]
    assert done == [3] and failed == [] and names == ["ferapp-test-engine"]
    assert threading.current_thread().name != "ferapp-test-engine"


def test_wait_for_jobs_with_cancel_stops_a_job_that_checks_its_event(qtbot):
    done = []

    def endless(job):
        while not job.cancel_event.wait(0.01):
            pass
        return "stopped"

    start_job(endless, pass_job=True, on_done=done.append)
    assert wait_for_jobs(timeout=WAIT / 1000, cancel=True)
    qtbot.waitUntil(lambda: done == ["stopped"], timeout=WAIT)
