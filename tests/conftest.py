"""Shared fixtures. Qt runs offscreen; real-data tests fail (not skip) under FERAPP_REQUIRE_DATA=1."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("FERAPP_TORCH_THREADS", "1")

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_datasets_dir() -> Path:
    env = os.environ.get("FERAPP_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "datasets"


def require_data(relpath: str) -> Path:
    """Path to a shared dataset file; skip when absent, FAIL when FERAPP_REQUIRE_DATA=1."""
    p = shared_datasets_dir() / relpath
    if not p.exists():
        msg = f"real dataset missing: {p}"
        if os.environ.get("FERAPP_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return p


def wait_until(pred: Callable[[], object], timeout: float = 60.0, step: float = 0.02) -> bool:
    """Poll ``pred`` until it is true or ``timeout`` seconds pass; returns its last value's truth.
    Tests wait on a condition with this (or ``qtbot.waitUntil``), never on a fixed sleep: the
    timeout only bounds a failure, so make it generous for a loaded 2-core machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


@pytest.fixture
def fer2013_csv() -> Path:
    return require_data("fer2013/fer2013.csv.gz")


@pytest.fixture
def ckplus48_zip() -> Path:
    return require_data("ckplus48/CK+48.zip")


@pytest.fixture
def ferplus_csv() -> Path:
    return require_data("ferplus/fer2013new.csv")


@pytest.fixture(autouse=True)
def _never_touch_the_users_files(request, tmp_path, monkeypatch):
    """Every test: settings, recordings, user models and run folders go to tmp_path, never to
    the real user's (a test that forgot would change what the next `ferapp` launch shows). So does
    the dataset cache, but for the real-data tests (the real datasets' cache is worth keeping)."""
    monkeypatch.setenv("FERAPP_RECORDINGS_DIR", str(tmp_path / "recordings"))
    monkeypatch.setenv("FERAPP_USER_MODELS_DIR", str(tmp_path / "user_models"))
    monkeypatch.setenv("FERAPP_RUNS_DIR", str(tmp_path / "runs"))
    if request.node.get_closest_marker("realdata") is None and "FERAPP_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("FERAPP_CACHE_DIR", str(tmp_path / "cache"))
    try:
        from PySide6.QtCore import QSettings
    except ImportError:
        return
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
