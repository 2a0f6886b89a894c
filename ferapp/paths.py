"""Where the package's shipped files live (resources/, models/), independent of the CWD."""

from __future__ import annotations

from pathlib import Path

import ferapp


def repo_root() -> Path:
    """The folder holding ``ferapp/``, ``resources/`` and ``models/``."""
    return Path(ferapp.__file__).resolve().parents[1]


def resources_dir() -> Path:
    """``resources/`` (icons, style sheet, demo media)."""
    return repo_root() / "resources"


def demo_dir() -> Path:
    return resources_dir() / "demo"
