"""What is live in the main window now, shared by its parts: the source shown, the built
pipeline and the running runner (``None`` until built / while stopped).

The window is the only writer (it builds, starts and stops them through its Session); the parts
(model control, recording, driver mode, photos, live display) read it. Plain Python: the parts'
tests build one by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class LiveRun:
    source_spec: str = "demo"
    pipeline: Any = None  # ferapp.inference.pipeline.Pipeline
    runner: Any = None  # ferapp.inference.runner.Runner

    @property
    def source_fps(self) -> float | None:
        """The running source's own frame rate (None before capture runs)."""
        source = getattr(self.runner, "source", None) if self.runner is not None else None
        return getattr(source, "fps", None)
