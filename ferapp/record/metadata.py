"""What a timeline's JSON sidecar says about the run that wrote it.

One function for both writers, ``ferapp analyze`` (``ferapp.inference.batch``) and the window's
Record (``ferapp.gui.recording``), so that both sidecars hold the same keys (README, "Timeline
format"). ``TimelineWriter`` adds its own bookkeeping (format, software, start/end time,
columns, rows, frames, finalized). A new key about the run goes here, once.
"""

from __future__ import annotations

import math
from typing import Any

RUN_KEYS = ("source", "model", "model_source", "detector", "min_face", "smoothing", "fps", "every", "driver")


def run_metadata(
    *,
    source: str,
    model: str,
    detector: str,
    min_face: float,
    fps: float | None,
    model_source: str = "",
    smoothing: float = 0.0,
    every: int = 1,
    driver: bool = False,
) -> dict[str, Any]:
    """The sidecar's run keys (``RUN_KEYS``, in that order).

    ``source``: the source as given (camera index, file, folder, ``demo``); ``model``: the
    expression model's name; ``model_source``: which store it came from (shipped, user, file or
    architecture: ``LoadedModel.source``, since a user model may not shadow a shipped name); ``detector`` and ``min_face`` (px): the face finder's settings;
    ``smoothing``: the EMA factor (0 = raw); ``fps``: the source's own frame rate (None when it
    has none, e.g. a camera that does not say); ``every``: every N-th frame was processed;
    ``driver``: driver-monitoring columns are present."""
    rate = float(fps) if fps is not None and math.isfinite(float(fps)) and float(fps) > 0 else None
    return {
        "source": str(source),
        "model": str(model),
        "model_source": str(model_source),
        "detector": str(detector),
        "min_face": float(min_face),
        "smoothing": float(smoothing),
        "fps": rate,
        "every": int(every),
        "driver": bool(driver),
    }
