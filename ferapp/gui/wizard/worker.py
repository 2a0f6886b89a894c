"""Worker side of the training wizard: dataset loading and ``run_training`` as bridge jobs.

The engine (``ferapp.data.load_dataset``, ``ferapp.train.run.run_training``) is Qt-free and
talks through callbacks and a ``threading.Event``. Each job runs on the GUI's one thread-to-Qt
bridge (``ferapp.gui.bridge.start_job``, superqt workers): the engine's callbacks become
``job.emit(name, *args)`` events, delivered queued on the GUI thread, where this module re-emits
them as the typed signals below. Nothing is emitted on these objects from another thread, so a
page closed meanwhile only drops its connections. Progress is reported as it comes; the pages
redraw at most ~20 times a second (``qthrottled`` on their slots).
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ferapp.gui.bridge import Job, start_job
from ferapp.train.callbacks import Callback


def _with_class(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class DatasetLoader(QObject):
    """``load_dataset(path)`` as a job. ``progress(done, total)``, then ``loaded`` or ``failed``.

    The path is first resolved by ``locate_dataset``: a folder that holds one dataset archive
    and no images is read as that archive (``located(path, note)`` says so first); one holding
    several ends in ``ambiguous(message, [paths])`` instead of ``failed``. A load started while
    another runs replaces it: the older one's events are dropped."""

    progress = Signal(int, int)
    located = Signal(str, str)  # the path read instead of the one given, and why
    loaded = Signal(object)  # FaceDataset
    failed = Signal(str)
    ambiguous = Signal(str, list)  # message, the dataset files found (str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.job: Job | None = None
        self._generation = 0
        self._busy = False

    @property
    def busy(self) -> bool:
        """From ``start`` until its ``loaded`` / ``failed`` / ``ambiguous`` was delivered."""
        return self._busy

    def start(self, path: str, **load_kwargs: Any) -> None:
        self._generation += 1
        gen = self._generation
        self._busy = True

        def current(fn):
            def slot(*args):
                if gen == self._generation:
                    fn(*args)

            return slot

        self.job = start_job(
            _load,
            path,
            load_kwargs,
            pass_job=True,
            message=_with_class,
            name="ferapp-dataset-load",
            on_event=current(self._event),
            on_done=current(self._done),
            on_failed=current(self._failed),
        )

    def _event(self, name: str, args: tuple) -> None:
        if name == "ambiguous":
            self._busy = False
        getattr(self, name).emit(*args)

    def _done(self, ds) -> None:
        if ds is not None:  # None: it ended in `ambiguous`
            self._busy = False
            self.loaded.emit(ds)

    def _failed(self, message: str) -> None:
        self._busy = False
        self.failed.emit(message)


def _load(job: Job, path: str, load_kwargs: dict):
    """The job (a pool thread)."""
    from ferapp.data import load_dataset
    from ferapp.data.locate import AmbiguousDataset, locate_dataset

    try:
        found = locate_dataset(path)
        if found.note:
            job.emit("located", str(found.path), found.note)
        return load_dataset(
            found.path,
            progress=lambda done, total: job.emit("progress", int(done), int(total)),
            **load_kwargs,
        )
    except AmbiguousDataset as e:
        job.emit("ambiguous", str(e), [str(c) for c in e.candidates])
        return None


class _Forwarder(Callback):
    """Engine callbacks (training thread) -> the job's events (re-emitted on the GUI thread)."""

    def __init__(self):
        self.job: Job | None = None
        self.batches = 0  # counted here, on the training thread: exact when the run is held or cancelled

    def on_run_start(self, info):
        self.job.emit("run_started", dict(info))

    def on_fold_start(self, fold, index, total):
        self.job.emit("fold_started", str(fold), int(index), int(total))

    def on_epoch_start(self, epoch, total_epochs, num_batches):
        self.job.emit("epoch_started", int(epoch), int(total_epochs), int(num_batches))

    def on_batch_end(self, step, loss):
        self.batches += 1
        self.job.emit("batch_ended", int(step), float("nan") if loss is None else float(loss))

    def on_epoch_end(self, epoch, metrics):
        clean = {k: (float(v) if isinstance(v, int | float) else v) for k, v in metrics.items()}
        self.job.emit("epoch_ended", int(epoch), clean)

    def on_fold_end(self, fold, result):
        self.job.emit("fold_ended", str(fold), result)

    def on_run_end(self, outcome):
        pass  # run_ended is emitted once run_training has returned (see TrainingJob)


class TrainingJob(QObject):
    """One ``run_training`` call as a bridge job; ``cancel()`` sets the engine's Event.

    Signals mirror the engine's callbacks; ``run_ended(RunResult)`` arrives exactly once, after
    ``run_training`` returned (outcome finished / cancelled / failed; the engine never raises).
    ``extra_callbacks`` run on the training thread (tests use them to synchronise with it).
    """

    run_started = Signal(object)
    fold_started = Signal(str, int, int)
    epoch_started = Signal(int, int, int)
    batch_ended = Signal(int, float)
    epoch_ended = Signal(int, object)
    fold_ended = Signal(str, object)
    run_ended = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.job: Job | None = None
        self.result = None
        self._forwarder = _Forwarder()
        self.extra_callbacks: list[Callback] = []
        self._active = False
        self.run_ended.connect(self._on_ended)  # first connection: runs before every other slot

    @property
    def running(self) -> bool:
        """True from ``start`` until ``run_ended`` was delivered (the thread may linger a moment after)."""
        return self._active

    @property
    def batches_done(self) -> int:
        """Batches the run has finished so far (counted on the training thread)."""
        return self._forwarder.batches

    @property
    def cancel_event(self):
        return self.job.cancel_event if self.job is not None else None

    def _on_ended(self, _result) -> None:
        self._active = False

    def start(
        self,
        arch: str,
        data,
        protocol: str,
        overrides: dict,
        out_dir: str | Path,
        model_kwargs: dict | None = None,
    ) -> None:
        if self.running:
            raise RuntimeError("a training run is already in progress")
        self.result = None
        self._forwarder = _Forwarder()
        self._active = True
        kwargs = dict(overrides=dict(overrides), out_dir=str(out_dir), model_kwargs=model_kwargs)
        self.job = start_job(
            _train,
            arch,
            data,
            protocol,
            kwargs,
            [self._forwarder, *self.extra_callbacks],
            pass_job=True,
            on_event=self._event,
            on_done=self._ended,
            name="ferapp-training",
            on_failed=lambda message: self._ended(_failed_run(message, arch, protocol, out_dir)),
        )

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _event(self, name: str, args: tuple) -> None:
        getattr(self, name).emit(*args)

    def _ended(self, result) -> None:
        self.result = result
        self.run_ended.emit(result)


def _train(job: Job, arch, data, protocol, kwargs: dict, callbacks: list[Callback]):
    """The job (a pool thread): ``run_training`` never raises; a failure ends the run as ``failed``."""
    from ferapp.train.run import RunResult, run_training

    callbacks[0].job = job  # the _Forwarder
    try:
        return run_training(arch, data, protocol, callbacks=callbacks, cancel=job.cancel_event, **kwargs)
    except BaseException as e:  # belt and braces: the page must hear of the end
        return RunResult(
            outcome="failed",
            message=f"{type(e).__name__}: {e}",
            arch=arch,
            protocol=protocol,
            out_dir=kwargs.get("out_dir"),
            traceback=traceback.format_exc(),
        )


def _failed_run(message: str, arch: str, protocol: str, out_dir) -> Any:
    from ferapp.train.run import RunResult

    return RunResult(outcome="failed", message=message, arch=arch, protocol=protocol, out_dir=str(out_dir))
