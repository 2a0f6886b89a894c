"""The annotated MP4 (boxes, ids, labels drawn by ``annotate``), written under the same rules
as a timeline: ``.mp4`` only, never an input, never over an existing file unless ``overwrite``,
one writer at a time (``OutputClaim``). OpenCV opens the file by name, so it is written inside
a fresh private folder beside the output and moved into place when closed: nothing exists under
the output's name before that (a refused or killed run leaves no empty or broken MP4 there)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ferapp.record.output import OutputClaim, OutputError
from ferapp.types import FrameResult


class AnnotatedVideoWriter:
    """``write(result)`` per processed frame; the frame size is taken from the first frame."""

    def __init__(self, path: str | os.PathLike, fps: float = 30.0, overwrite: bool = False,
                 inputs: Sequence[str | os.PathLike | None] = ()):
        self.path = Path(path)
        self.fps = max(1.0, float(fps))
        self._claim = OutputClaim(self.path, ".mp4", inputs, overwrite, private_dir=True)
        self._writer = None
        self.frames = 0

    def write(self, result: FrameResult) -> None:
        import cv2

        from ferapp.record.annotate import annotate

        img = annotate(result.frame.image, result)
        if self._writer is None:
            h, w = img.shape[:2]
            target = self._claim.private_path()
            self._writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                self._writer = None
                raise OutputError(f"cannot write video '{self.path}' (no MP4 encoder, or the disk refused it)")
        self._writer.write(img)
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file and move it into place; None when no frame was written (no file)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if not self.frames:
            self._claim.abort()
            return None
        return self._claim.commit()

    def abort(self) -> None:
        """Stop and delete the unfinished video (nothing is left under the output's name)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._claim.abort()
