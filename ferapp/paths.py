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


def shared_videos_dir() -> Path | None:
    """The real clips used by benchmarks and real-data tests (``FERAPP_VIDEOS_DIR`` or
    ``../shared/videos`` beside the repository); None when absent."""
    import os

    env = os.environ.get("FERAPP_VIDEOS_DIR")
    p = Path(env) if env else repo_root().parent / "shared" / "videos"
    return p if p.is_dir() else None


def recordings_dir() -> Path:
    """Where the GUI records timelines: ``FERAPP_RECORDINGS_DIR``, else <documents>/ferapp/recordings."""
    import os

    env = os.environ.get("FERAPP_RECORDINGS_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_documents_dir()) / "ferapp" / "recordings"
