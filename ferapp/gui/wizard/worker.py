"""Worker side of the training wizard: dataset loading and ``run_training`` on plain threads.

The engine (``ferapp.data.load_dataset``, ``ferapp.train.run.run_training``) is Qt-free and
talks through callbacks and a ``threading.Event``. This module is the wizard's bridge (same
pattern as ``bridge.BackgroundTask``): each job runs on a daemon ``threading.Thread`` and
re-emits the engine's callbacks as Qt signals of a ``QObject`` that lives on the GUI thread,
so Qt delivers them queued and no widget is ever touched from the worker.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ferapp.train.callbacks import Callback

log = logging.getLogger(__name__)


class DatasetLoader(QObject):
    """``load_dataset(path)`` on a thread. ``progress(done, total)``, then ``loaded`` or ``failed``.

    The path is first resolved by ``locate_dataset``: a folder that holds one dataset archive
    and no images is read as that archive (``located(path, note)`` says so first); one holding
    several ends in ``ambiguous(message, [paths])`` instead of ``failed``."""

    progress = Signal(int, int)
    located = Signal(str, str)  # the path read instead of the one given, and why
    loaded = Signal(object)  # FaceDataset
    failed = Signal(str)
    ambiguous = Signal(str, list)  # message, the dataset files found (str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.thread: threading.Thread | None = None
        self._generation = 0

    @property
    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, path: str, **load_kwargs: Any) -> None:
        self._generation += 1
        gen = self._generation
        self.thread = threading.Thread(target=self._run, args=(gen, path, load_kwargs), name="ferapp-dataset-load",
                                       daemon=True)
        self.thread.start()

    def _run(self, gen: int, path: str, load_kwargs: dict) -> None:
        from ferapp.data import load_dataset
        from ferapp.data.locate import AmbiguousDataset, locate_dataset

        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if gen == self._generation and (now - last[0] > 0.05 or done >= total):
                last[0] = now
                _emit(self.progress, int(done), int(total))

        try:
            found = locate_dataset(path)
            if found.note and gen == self._generation:
                _emit(self.located, str(found.path), found.note)
            ds = load_dataset(found.path, progress=progress, **load_kwargs)
        except AmbiguousDataset as e:
            if gen == self._generation:
                _emit(self.ambiguous, str(e), [str(c) for c in e.candidates])
            return
        except Exception as e:  # noqa: BLE001 - every failure becomes a message on the page
            log.debug("dataset load failed:\n%s", traceback.format_exc())
            if gen == self._generation:
                _emit(self.failed, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
            return
        if gen == self._generation:  # a newer load started meanwhile: drop this one
            _emit(self.loaded, ds)


def _emit(signal, *args) -> None:
    """Emit from a worker thread; a receiver deleted meanwhile (window closed) must not kill the worker."""
    try:
        signal.emit(*args)
    except RuntimeError:  # "Internal C++ object already deleted"
        pass


class _Forwarder(Callback):
    """Engine callbacks (training thread) -> the job's signals (delivered queued on the GUI thread)."""

    def __init__(self, job: TrainingJob):
        self.job = job
        self._last_batch_emit = 0.0

    def on_run_start(self, info):
        _emit(self.job.run_started, dict(info))

    def on_fold_start(self, fold, index, total):
        _emit(self.job.fold_started, str(fold), int(index), int(total))

    def on_epoch_start(self, epoch, total_epochs, num_batches):
        _emit(self.job.epoch_started, int(epoch), int(total_epochs), int(num_batches))

    def on_batch_end(self, step, loss):
        self.job.batches_done += 1
        now = time.monotonic()
        # Throttled (~20 Hz) so a fast run never floods the GUI thread; the first batch always reports.
        if self.job.batches_done == 1 or now - self._last_batch_emit > 0.05:
            self._last_batch_emit = now
            _emit(self.job.batch_ended, int(step), float("nan") if loss is None else float(loss))

    def on_epoch_end(self, epoch, metrics):
        clean = {k: (float(v) if isinstance(v, int | float) else v) for k, v in metrics.items()}
        _emit(self.job.epoch_ended, int(epoch), clean)

    def on_fold_end(self, fold, result):
        _emit(self.job.fold_ended, str(fold), result)

    def on_run_end(self, outcome):
        pass  # run_ended is emitted once run_training has returned (see TrainingJob._run)


class TrainingJob(QObject):
    """One ``run_training`` call on a daemon thread; ``cancel()`` sets the engine's Event.

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
        self.cancel_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.result = None
        self.batches_done = 0
        self.extra_callbacks: list[Callback] = []
        self._active = False
        self.run_ended.connect(self._on_ended)  # first connection: runs before every other slot

    @property
    def running(self) -> bool:
        """True from ``start`` until ``run_ended`` was delivered (the thread may linger a moment after)."""
        return self._active

    def _on_ended(self, _result) -> None:
        self._active = False

    def start(self, arch: str, data, protocol: str, overrides: dict, out_dir: str | Path,
              model_kwargs: dict | None = None) -> None:
        if self.running:
            raise RuntimeError("a training run is already in progress")
        self.cancel_event = threading.Event()
        self.result = None
        self.batches_done = 0
        self._active = True
        kwargs = dict(overrides=dict(overrides), out_dir=str(out_dir), model_kwargs=model_kwargs,
                      callbacks=[_Forwarder(self), *self.extra_callbacks], cancel=self.cancel_event)
        self.thread = threading.Thread(target=self._run, args=(arch, data, protocol, kwargs),
                                       name="ferapp-training", daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def _run(self, arch, data, protocol, kwargs) -> None:
        from ferapp.train.run import RunResult, run_training

        try:
            res = run_training(arch, data, protocol, **kwargs)
        except BaseException as e:  # noqa: BLE001 - run_training never raises; belt and braces
            res = RunResult(outcome="failed", message=f"{type(e).__name__}: {e}", arch=arch, protocol=protocol,
                            out_dir=kwargs.get("out_dir"), traceback=traceback.format_exc())
        self.result = res
        _emit(self.run_ended, res)
