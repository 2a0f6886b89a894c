"""The QWizard that holds the five pages (see the package docstring)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWizard

from ferapp.gui.wizard.dataset_page import DatasetPage
from ferapp.gui.wizard.model_page import ModelPage
from ferapp.gui.wizard.results_page import ResultsPage
from ferapp.gui.wizard.settings_page import SettingsPage
from ferapp.gui.wizard.training_page import TrainingPage
from ferapp.gui.wizard.worker import TrainingJob

PAGE_DATASET, PAGE_MODEL, PAGE_SETTINGS, PAGE_TRAINING, PAGE_RESULTS = range(5)


def default_runs_dir() -> Path:
    from ferapp.paths import runs_dir

    return runs_dir()


class TrainingWizard(QWizard):
    """``TrainingWizard(parent=None, dataset_path=None)``; emits ``model_saved(name)`` after Save.

    Attributes tests and the main window use: ``dataset`` (the loaded FaceDataset),
    ``run_result`` (the last RunResult), the pages (``dataset_page`` … ``results_page``) and
    ``training_page.job`` (the worker; ``job.extra_callbacks`` run on the training thread).
    """

    model_saved = Signal(str)
    training_ended = Signal(object)  # RunResult, whatever its outcome

    def __init__(
        self,
        parent=None,
        dataset_path: str | os.PathLike | None = None,
        *,
        runs_dir: str | os.PathLike | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self.run_result = None
        self._close_after_run = False
        self.dataset_page = DatasetPage()
        self.model_page = ModelPage()
        self.settings_page = SettingsPage()
        self.training_page = TrainingPage()
        self.results_page = ResultsPage()
        for pid, page in (
            (PAGE_DATASET, self.dataset_page),
            (PAGE_MODEL, self.model_page),
            (PAGE_SETTINGS, self.settings_page),
            (PAGE_TRAINING, self.training_page),
            (PAGE_RESULTS, self.results_page),
        ):
            self.setPage(pid, page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Close")
        self.training_page.job.run_ended.connect(self._maybe_close)
        self.resize(1040, 760)
        if dataset_path:
            self.dataset_page.load(str(dataset_path))

    @property
    def dataset(self):
        return self.dataset_page.dataset

    @property
    def job(self) -> TrainingJob:
        return self.training_page.job

    def done(self, result: int) -> None:
        super().done(result)
        self._needs_restart = True  # reopened from the main window: start again at page 1

    def showEvent(self, event) -> None:
        if getattr(self, "_needs_restart", False) and not self.training_page.running:
            self._needs_restart = False
            self.restart()  # the loaded dataset stays; the next run starts from the dataset page
        super().showEvent(event)

    def reject(self) -> None:
        """Closing while training cancels the run first (checkpoints stay) and closes when it has stopped."""
        if self.training_page.running:
            self._close_after_run = True
            self.training_page.cancel()
            return
        super().reject()

    def _maybe_close(self, *_):
        if self._close_after_run:
            self._close_after_run = False
            super().reject()
