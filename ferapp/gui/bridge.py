"""The one place where work on other threads becomes Qt signals (the GUI's only core<->Qt bridge).

**Jobs** — one blocking core call (building the pipeline, loading a model, a detector or a
dataset, a training run, a batch analysis) runs on Qt's thread pool as a superqt worker, the
pattern napari uses (``create_worker`` / ``GeneratorWorker``). Its end reaches the GUI thread
exactly once, as ``returned(value)`` or ``errored(exception)`` (``on_done`` / ``on_failed(message)``
in :func:`run_in_background`); a generator function's ``yield`` s arrive as ``yielded``; an engine
that reports through callbacks calls ``job.emit(name, *args)``, delivered queued as
``event(name, args)``; ``job.cancel()`` sets ``job.cancel_event``, which the engine checks
between steps (the engines take a ``threading.Event`` or a ``should_stop``).

**The live runner** — its capture and inference threads belong to the Qt-free core
(``ferapp.inference.runner``), so :class:`RunnerBridge` is handed to it as its callbacks: results
go into a small buffer that the window's ~30 Hz display timer drains (latest frame wins, the
DeepLabCut-live pattern), and only errors, end of stream and recording failures travel as queued
signals.

Two departures from plain superqt, both covered by tests/test_gui_bridge.py:

* superqt's ``WorkerBase.run`` wraps each job in ``warnings.catch_warnings()``, which swaps
  process-global state and is not thread-safe: after two overlapping jobs (a model load during a
  training run) the process is left with ``warnings.showwarning`` bound to a finished worker and an
  ``always`` filter in force. It also takes a ``RuntimeError`` returned by a generator job for a
  deleted worker and drops it, so a torch error while building the pipeline would never be
  reported. :class:`_Run` is superqt's ``run`` without the wrapper, and reports every error.
* Qt's global pool has one thread per core (two on a 2-core laptop): a training run and a batch
  analysis would hold a model load queued behind them. Jobs are blocking calls, not CPU slices,
  so the pool is given room for ``MAX_JOBS``.
"""

from __future__ import annotations

import inspect
import logging
import threading
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal
from superqt.utils import FunctionWorker, GeneratorWorker, WorkerBase
from superqt.utils._qthreading import GeneratorWorkerSignals

from ferapp.types import Frame, FrameResult

log = logging.getLogger(__name__)

MAX_JOBS = 32  # threads the pool may run at once (jobs block on I/O, torch and dlib; few run at a time)


class JobSignals(GeneratorWorkerSignals):
    """superqt's worker signals plus ``event(name, args)`` for callback-driven engines."""

    event = Signal(str, object)


class _Run:
    """superqt's ``WorkerBase.run`` without the process-global ``warnings.catch_warnings``, and
    with every exception (a ``RuntimeError`` included) reported as ``errored``."""

    name = ""  # the thread's name while the job runs (logs, debuggers, tests)

    def run(self) -> None:
        self.started.emit()
        self._running = True
        thread = threading.current_thread()
        pool_name, thread.name = thread.name, self.name or thread.name
        try:
            result = self.work()
            if isinstance(result, Exception):  # GeneratorWorker returns a RuntimeError it caught
                raise result
            if not self.abort_requested:
                self.returned.emit(result)
        except Exception as exc:  # every failure reaches the GUI thread
            self.errored.emit(exc)
        thread.name = pool_name
        self._running = False
        self.finished.emit()
        self._finished.emit(self)


class _JobMixin:
    cancel_event: threading.Event

    def emit(self, name: str, *args: Any) -> None:
        """From the job's thread: ``event(name, args)``, delivered queued on the GUI thread."""
        self.signals.event.emit(name, args)

    def cancel(self) -> None:
        """Ask the job to stop at its next check (``cancel_event``)."""
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


class FunctionJob(_JobMixin, _Run, FunctionWorker):
    """``func(*args, **kwargs)``, or ``func(job, *args, **kwargs)`` with ``pass_job`` (an engine that
    reports through ``job.emit`` and checks ``job.cancel_event``)."""

    def __init__(self, func: Callable, *args: Any, pass_job: bool = False, **kwargs: Any):
        super().__init__(func, *args, **kwargs)
        self.signals = JobSignals()
        self.cancel_event = threading.Event()
        if pass_job:
            self._args = (self, *self._args)


class GeneratorJob(_JobMixin, _Run, GeneratorWorker):
    """A generator function: each ``yield`` arrives as ``yielded(value)``, its return value as
    ``returned``."""

    def __init__(self, func: Callable, *args: Any, **kwargs: Any):
        super().__init__(func, *args, SignalsClass=JobSignals, **kwargs)
        self.cancel_event = threading.Event()


Job = FunctionJob | GeneratorJob


def user_message(exc: BaseException) -> str:
    """A failure as one line for the user: our own messages (KeyError / ValueError / OSError with
    a sentence) as they are, anything else with its exception class."""
    if isinstance(exc, KeyError | ValueError | OSError) and exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _room_in_pool() -> None:
    pool = QThreadPool.globalInstance()
    if pool.maxThreadCount() < MAX_JOBS:
        pool.setMaxThreadCount(MAX_JOBS)


def start_job(
    func: Callable,
    *args: Any,
    on_done: Callable[[Any], None] | None = None,
    on_failed: Callable[[str], None] | None = None,
    on_yield: Callable[[Any], None] | None = None,
    on_event: Callable[[str, tuple], None] | None = None,
    pass_job: bool = False,
    message: Callable[[BaseException], str] = user_message,
    name: str = "ferapp-job",
    **kwargs: Any,
) -> Job:
    """Run ``func(*args, **kwargs)`` on the pool (``func(job, *args, **kwargs)`` with ``pass_job``);
    a generator function's yields go to ``on_yield``, ``job.emit`` s to ``on_event(name, args)``. ``on_done(value)`` or ``on_failed(message)``
    follows on the GUI thread, exactly once (``message`` turns the exception into the text);
    ``name`` names the thread while the job runs."""
    if inspect.isgeneratorfunction(func):
        job: Job = GeneratorJob(func, *args, **kwargs)
    else:
        job = FunctionJob(func, *args, pass_job=pass_job, **kwargs)
    job.name = name
    if on_yield is not None:
        job.yielded.connect(on_yield)
    if on_event is not None:
        job.event.connect(on_event)
    if on_done is not None:
        job.returned.connect(on_done)

    def failed(exc: BaseException) -> None:
        log.debug("background job failed:\n%s", "".join(traceback.format_exception(exc)))
        if on_failed is not None:
            on_failed(message(exc))

    job.errored.connect(failed)
    _room_in_pool()
    job.start()
    return job


def run_in_background(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None] | None = None,
    on_failed: Callable[[str], None] | None = None,
    on_yield: Callable[[Any], None] | None = None,
    name: str = "ferapp-job",
) -> Job:
    """``fn()`` (a plain function, or a generator function whose yields go to ``on_yield``) on the
    pool; ``on_done(value)`` or ``on_failed(message)`` on the GUI thread."""
    return start_job(fn, on_done=on_done, on_failed=on_failed, on_yield=on_yield, name=name)


def wait_for_jobs(timeout: float = 30.0, cancel: bool = False) -> bool:
    """Wait for every running job (at exit: a thread killed inside torch or dlib while the
    interpreter finalises aborts the process); ``cancel`` first asks each to stop (a training run
    after its batch, an analysis after its frame: what they wrote is kept). True when all finished."""
    if cancel:
        for job in list(WorkerBase._worker_set):
            if isinstance(job, _JobMixin):
                job.cancel()
    return QThreadPool.globalInstance().waitForDone(int(timeout * 1000))


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
