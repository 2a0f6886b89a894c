"""Remembered settings (QSettings, INI format so tests can redirect it with ``QSettings.setPath``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from ferapp.config import DEFAULT_MIN_FACE

ORG = "ferapp"
APP = "ferapp"

DEFAULTS: dict[str, Any] = {
    "source": "",
    "detector": "hog",
    "model": "",
    "smoothing": 0.6,
    "min_face": DEFAULT_MIN_FACE,
    "landmarks": True,
    "record_video": False,
    # where file dialogs open: the folder of the last file picked (never the working directory)
    "dataset_dir": "",  # the training wizard's dataset dialogs
    "open_dir": "",  # File > Open video / image / folder
}


def app_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG, APP)


def read(key: str, settings: QSettings | None = None) -> Any:
    s = settings or app_settings()
    default = DEFAULTS.get(key)
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
    for d in (Path(current).expanduser().absolute().parent if current else None,
              Path(remembered) if remembered else None):
        if d is not None and d.is_dir():
            return str(d)
    return str(Path.home())


def remember_dir(key: str, picked: str, settings: QSettings | None = None) -> None:
    """Remember the folder holding ``picked`` (a file or folder the user chose) under ``key``."""
    if picked:
        write(key, str(Path(picked).expanduser().absolute().parent), settings)
