"""Every place ferapp reads or writes, in one module (each overridable by an environment variable).

| what                     | default                                      | override                 |
|--------------------------|----------------------------------------------|--------------------------|
| shipped models           | ``<package>/../models``                      | ``FERAPP_MODELS_DIR``    |
| resources (style, demo)  | ``<package>/../resources``                   | -                        |
| user models (saved by the wizard and ``ferapp train --save``) | ``<user data>/models`` | ``FERAPP_USER_MODELS_DIR`` |
| training runs (wizard and ``ferapp train``) | ``<user data>/runs``      | ``FERAPP_RUNS_DIR``      |
| GUI recordings           | ``<documents>/ferapp/recordings``            | ``FERAPP_RECORDINGS_DIR``|
| dataset cache            | ``<user cache>/datasets``                    | ``FERAPP_CACHE_DIR``     |
| real clips (tests, bench)| ``<repo>/../shared/videos``                  | ``FERAPP_VIDEOS_DIR``    |
"""

from __future__ import annotations

import os
from pathlib import Path

import ferapp


def _env(name: str) -> Path | None:
    v = os.environ.get(name)
    return Path(v).expanduser() if v else None


def repo_root() -> Path:
    """The folder holding ``ferapp/``, ``resources/`` and ``models/``."""
    return Path(ferapp.__file__).resolve().parents[1]


def _packaged(name: str, repo_name: str) -> Path:
    """A data folder inside an installed wheel (``ferapp/_models``), else the repository's."""
    inside = Path(ferapp.__file__).resolve().parent / name
    return inside if inside.is_dir() else repo_root() / repo_name


def resources_dir() -> Path:
    """``resources/`` (style sheet, demo media): the repository's, or the wheel's copy."""
    return _packaged("_resources", "resources")


def demo_dir() -> Path:
    return resources_dir() / "demo"


def shipped_models_dir() -> Path:
    return _env("FERAPP_MODELS_DIR") or _packaged("_models", "models")


def user_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("ferapp"))


def user_models_dir(create: bool = False) -> Path:
    p = _env("FERAPP_USER_MODELS_DIR") or user_data_dir() / "models"
    if create:
        p.mkdir(parents=True, exist_ok=True)
    return p


def runs_dir() -> Path:
    """Training runs of the wizard and of ``ferapp train`` (one place for both)."""
    return _env("FERAPP_RUNS_DIR") or user_data_dir() / "runs"


def recordings_dir() -> Path:
    """Where the GUI records timelines."""
    env = _env("FERAPP_RECORDINGS_DIR")
    if env:
        return env
    import platformdirs

    return Path(platformdirs.user_documents_dir()) / "ferapp" / "recordings"


def cache_dir() -> Path:
    """The preprocessed-dataset cache."""
    env = _env("FERAPP_CACHE_DIR")
    if env:
        return env
    import platformdirs

    return Path(platformdirs.user_cache_dir("ferapp")) / "datasets"


def shared_videos_dir() -> Path | None:
    """The real clips used by benchmarks and real-data tests; None when absent."""
    p = _env("FERAPP_VIDEOS_DIR") or repo_root().parent / "shared" / "videos"
    return p if p.is_dir() else None
