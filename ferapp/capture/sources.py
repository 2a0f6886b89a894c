"""The concrete sources: webcam, video file / stream, single image, folder of images."""

from __future__ import annotations

import logging
import math
import re
import time
from pathlib import Path

import cv2
import numpy as np

from ferapp.capture.base import IMAGE_EXTS, VIDEO_EXTS, FrameSource, Pacer, SourceError, register_source
from ferapp.safeio import ImageError, read_image  # the one image reader: regular files, bounded, size-checked
from ferapp.types import Frame

log = logging.getLogger(__name__)


class _QuietCv:
    """Silence OpenCV's own warnings (e.g. 'can't open camera by index') for a probe."""

    def __enter__(self):
        try:
            self._old = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        except Exception:  # pragma: no cover - older builds
            self._old = None
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            cv2.utils.logging.setLogLevel(self._old)


def _valid_fps(value: float, fallback: float = 30.0) -> float:
    return float(value) if value and math.isfinite(value) and 0.5 < value < 1000 else fallback


@register_source("webcam")
class WebcamSource(FrameSource):
    """A camera by index via ``cv2.VideoCapture``; ``width``/``height`` request a capture size."""

    is_live = True

    def __init__(self, index: int = 0, width: int = 640, height: int = 480, **_):
        super().__init__()
        self.index = int(index)
        self.name = str(self.index)
        self.width, self.height = width, height
        self._cap: cv2.VideoCapture | None = None
        self._i = 0
        self._t0 = 0.0

    def _open(self) -> None:
        with _QuietCv():
            try:
                cap = cv2.VideoCapture(self.index)
            except Exception:
                cap = None
            if cap is None or not cap.isOpened():
                if cap is not None:
                    cap.release()
                raise SourceError(f"No camera at index {self.index}")
        if self.width and self.height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self.fps = _valid_fps(cap.get(cv2.CAP_PROP_FPS))
        self._cap, self._i, self._t0 = cap, 0, time.monotonic()

    def _read(self) -> Frame | None:
        ok, img = self._cap.read()
        if not ok or img is None:
            return None
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        f = Frame(img, self._i, time.monotonic() - self._t0, time.time())
        self._i += 1
        return f

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def list_cameras(max_index: int = 3) -> list[int]:
    """Indices 0..max_index-1 of cameras that open and deliver a frame. Never raises."""
    found = []
    for i in range(max(0, int(max_index))):
        with _QuietCv():
            try:
                cap = cv2.VideoCapture(i)
                ok = cap.isOpened() and cap.read()[0]
                cap.release()
            except Exception:
                ok = False
        if ok:
            found.append(i)
    return found


class _Paced:
    """Mixin: ``realtime=True`` plays frames at the source's fps (the GUI); False (batch
    analysis) reads as fast as frames decode. Pausing holds the media clock."""

    can_pause = True
    realtime = False
    _pacer: Pacer | None = None
    _last_t: float | None = None

    def _pace(self, t: float) -> None:
        self._last_t = t
        if self.realtime:
            if self._pacer is None:
                self._pacer = Pacer()
            self._pacer.wait(t)

    def pause(self) -> None:
        if self._pacer is not None:
            self._pacer.pause()

    def resume(self) -> None:
        if self._pacer is not None:
            self._pacer.resume()

    @property
    def position_s(self) -> float | None:
        return self._last_t


@register_source("video")
class VideoFileSource(_Paced, FrameSource):
    """A video file. ``timestamp`` is media time ``index / fps`` (fps fallback 30)."""

    is_live = False

    def __init__(self, path: Path | str, realtime: bool = False, **_):
        super().__init__()
        self.path = Path(path)
        self.name = str(path)
        self.realtime = bool(realtime)
        self._cap = None
        self._first: np.ndarray | None = None
        self._i = 0
        self.frame_count = 0

    def _open(self) -> None:
        p = self.path
        if not p.exists():
            raise SourceError(f"Cannot open video '{p}': file not found")
        with _QuietCv():
            try:
                cap = cv2.VideoCapture(str(p))
                ok = cap.isOpened()
                first = cap.read()[1] if ok else None
            except Exception:
                cap, first = None, None
        if first is None:
            if cap is not None:
                cap.release()
            raise SourceError(f"Cannot open video '{p}': not a video or image (or unsupported codec)")
        self.fps = _valid_fps(cap.get(cv2.CAP_PROP_FPS))
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(n) if n and math.isfinite(n) and n > 0 else 0
        self._cap, self._first, self._i = cap, first, 0
        self._pacer, self._last_t = None, None

    def _read(self) -> Frame | None:
        if self._first is not None:
            img, self._first = self._first, None
        else:
            ok, img = self._cap.read()
            if not ok or img is None:
                return None
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        self._pace(self._i / self.fps)
        f = Frame(img, self._i, self._i / self.fps, time.time())
        self._i += 1
        return f

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


@register_source("stream")
class StreamSource(VideoFileSource):
    """A network stream (rtsp://, http://...) opened by OpenCV; treated as live."""

    is_live = True
    can_pause = False

    def _pace(self, t: float) -> None:  # a stream delivers at its own rate
        self._last_t = t

    def _open(self) -> None:
        with _QuietCv():
            cap = cv2.VideoCapture(self.name)
            first = cap.read()[1] if cap.isOpened() else None
        if first is None:
            cap.release()
            raise SourceError(f"Cannot open stream '{self.name}'")
        self.fps = _valid_fps(cap.get(cv2.CAP_PROP_FPS))
        self._cap, self._first, self._i = cap, first, 0


@register_source("image")
class ImageSource(FrameSource):
    """One image file, delivered once (``fps`` is nominal, default 1)."""

    is_live = False

    def __init__(self, path: Path | str, fps: float = 1.0, **_):
        super().__init__()
        self.path = Path(path)
        self.name = str(path)
        self.fps = float(fps)
        self._img = None
        self._done = False

    def _open(self) -> None:
        if not self.path.exists():
            raise SourceError(f"Cannot open image '{self.path}': file not found")
        try:
            img = read_image(self.path)
        except ImageError as e:
            raise SourceError(f"Cannot open image '{self.path}': {e}") from None
        self._img, self._done = img, False

    def _read(self) -> Frame | None:
        if self._done:
            return None
        self._done = True
        return Frame(self._img, 0, 0.0, time.time(), self.path.name, still=True)


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


@register_source("folder")
class FolderSource(_Paced, FrameSource):
    """Every image in a folder (not recursive), natural-sorted; undecodable files are skipped
    with a logged warning and recorded in ``skipped`` as (file name, reason). ``realtime``:
    a slide show at ``fps`` images per second (the GUI)."""

    is_live = False

    def __init__(self, path: Path | str, fps: float = 1.0, realtime: bool = False, **_):
        super().__init__()
        self.path = Path(path)
        self.name = str(path)
        self.fps = float(fps)
        self.realtime = bool(realtime)
        self.files: list[Path] = []
        self._pos = 0
        self._i = 0

    def _open(self) -> None:
        if not self.path.is_dir():
            raise SourceError(f"Cannot open folder '{self.path}': not a folder")
        files = []
        for p in sorted(self.path.iterdir(), key=_natural_key):
            if p.name.startswith(".") or not p.is_file():
                continue
            if p.suffix.lower() in IMAGE_EXTS:
                files.append(p)
            elif p.suffix.lower() in VIDEO_EXTS:  # a recording of its own in a batch: noted, not warned
                self.skipped.append((p.name, f"a video, not a photo ({p.suffix})"))
            else:
                self._skip(p, f"not an image file ({p.suffix or 'no extension'})")
        if not files:
            raise SourceError(f"Folder '{self.path}' has no images")
        self.files, self._pos, self._i = files, 0, 0
        self.frame_count = len(files)
        self._pacer, self._last_t = None, None

    def _skip(self, p: Path, reason: str) -> None:
        log.warning("Skipping %s: %s", p, reason)
        self.skipped.append((p.name, reason))

    def _read(self) -> Frame | None:
        while self._pos < len(self.files):
            p = self.files[self._pos]
            self._pos += 1
            try:
                img = read_image(p)
            except ImageError as e:
                self._skip(p, str(e))
                continue
            self._pace(self._i / self.fps)
            f = Frame(img, self._i, self._i / self.fps, time.time(), p.name, still=True)
            self._i += 1
            return f
        return None
