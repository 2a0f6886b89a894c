"""Remembered settings (QSettings, INI format so tests can redirect it with ``QSettings.setPath``).

What the window remembers between sessions; a key never written falls back to ``defaults()``,
which takes every app default from ``ferapp.config.settings()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from ferapp.config import settings

ORG = "ferapp"
APP = "ferapp"


def defaults() -> dict[str, Any]:
    """Each remembered key's value before the user changes it (read when asked, so they follow
    ``ferapp.config.settings()``)."""
    s = settings()
    return {
        "source": "",  # none remembered: the first camera, else the demo (``session.initial_source``)
        "detector": s.detection.detector,
        "model": "",  # none remembered: the store's default model
        "smoothing": s.inference.smoothing(live=True),
        "min_face": s.detection.min_face,
        "landmarks": s.display.landmarks,
        "record_video": s.recording.video,
        # where file dialogs open: the folder of the last file picked (never the working directory)
        "dataset_dir": "",  # the training wizard's dataset dialogs
        "open_dir": "",  # File > Open video / image / folder
    }


def app_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG, APP)


def read(key: str, settings: QSettings | None = None) -> Any:
    s = settings or app_settings()
    default = defaults().get(key)
    value = s.value(key, default)
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
    if isinstance(default, float | int):
        try:
            v = type(default)(float(value))
        except (TypeError, ValueError, OverflowError):
            return default
        return v if v == v else default  # NaN in a hand-edited file: the default
    return value if value is not None else default


def write(key: str, value: Any, settings: QSettings | None = None) -> None:
    s = settings or app_settings()
    s.setValue(key, value)


def dialog_dir(key: str, current: str = "", settings: QSettings | None = None) -> str:
    """Where a file dialog opens: the folder holding ``current`` (a path being edited), else the
    folder remembered under ``key`` (``remember_dir``), else the home folder; never the process's
    working directory, which for a desktop app is wherever it happened to be started."""
    remembered = read(key, settings)
    for d in (
        Path(current).expanduser().absolute().parent if current else None,
        Path(remembered) if remembered else None,
    ):
        if d is not None and d.is_dir():
            return str(d)
    return str(Path.home())


def remember_dir(key: str, picked: str, settings: QSettings | None = None) -> None:
    """Remember the folder holding ``picked`` (a file or folder the user chose) under ``key``."""
    if picked:
        write(key, str(Path(picked).expanduser().absolute().parent), settings)
