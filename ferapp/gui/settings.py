"""Remembered settings (QSettings, INI format so tests can redirect it with ``QSettings.setPath``)."""

from __future__ import annotations

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
    "dataset_dir": "",  # the folder holding the dataset the training wizard last loaded (its file dialogs open there)
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
