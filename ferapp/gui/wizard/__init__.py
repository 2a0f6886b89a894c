"""Training wizard: retrain any registered paper model on a local dataset, from the GUI.

Five pages — dataset, model, protocol and settings, training, results — on top of the
Qt-free engine: ``ferapp.data.load_dataset`` and ``ferapp.train.run.run_training`` run on
worker threads (``worker``), their callbacks arrive here as queued signals, and the
only thing the widgets do is show them. Cancel sets the run's ``threading.Event``; the engine
stops before the next batch and keeps ``fold<k>/last.pt``. Saving copies the run's model
folder (weights + config.json + model card) into the user's model store and emits
``model_saved(name)``, which the main window turns into ``refresh_models(select=name)``.

One module per page (``dataset_page`` … ``results_page``), ``widgets`` for what they share,
``wizard`` for the QWizard. What the pages decide is Qt-free and tested without Qt:
protocol planning and the default protocol (``ferapp.data.planning``), dataset warnings
(``ferapp.data.summary``), model names (``ferapp.zoo.names``), progress / ETA, checkpoints and
failure hints (``ferapp.train.progress``).
"""

from ferapp.gui.wizard.dataset_page import DatasetPage
from ferapp.gui.wizard.model_page import ModelPage
from ferapp.gui.wizard.results_page import ResultsPage
from ferapp.gui.wizard.settings_page import SettingsPage
from ferapp.gui.wizard.training_page import TrainingPage
from ferapp.gui.wizard.wizard import (
    PAGE_DATASET,
    PAGE_MODEL,
    PAGE_RESULTS,
    PAGE_SETTINGS,
    PAGE_TRAINING,
    TrainingWizard,
    default_runs_dir,
)
from ferapp.gui.wizard.worker import DatasetLoader, TrainingJob

__all__ = [
    "PAGE_DATASET",
    "PAGE_MODEL",
    "PAGE_RESULTS",
    "PAGE_SETTINGS",
    "PAGE_TRAINING",
    "DatasetLoader",
    "DatasetPage",
    "ModelPage",
    "ResultsPage",
    "SettingsPage",
    "TrainingJob",
    "TrainingPage",
    "TrainingWizard",
    "default_runs_dir",
]
