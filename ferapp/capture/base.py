"""FrameSource base class, the user-facing SourceError, the source registry and spec parsing.

A *spec* is the string a user types or picks: ``"0"`` (webcam index), ``"demo"`` /
``"demo:2"`` / ``"demo:4"`` (the built-in animated demo with 1/2/4 faces), ``"demo:driver"``
(the demo face acting out every driver alert, ``ferapp/capture/driver_demo.py``), a folder of
images, an image file, or a video file / stream URL. ``parse_source_spec`` turns it into
``(kind, arg)``; ``open_source`` builds the registered source for that kind and opens it.
Only ``SourceError`` (or ``ValueError``) ever escapes these two functions.
"""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ferapp.types import Frame

IMAGE_EXTS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".jp2"}
)
VIDEO_EXTS = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".gif"}
)
DEMO_FACES = (1, 2, 4)


class Pacer:
    """Plays frames at their own rate: ``wait(t)`` sleeps until media time ``t`` (seconds) is
    due on the wall clock. ``pause()`` / ``resume()`` stop and restart that clock (a paused
    video resumes where it was, not in a rush to catch up); ``restart()`` starts it anew."""

    def __init__(self) -> None:
        self._t0: float | None = None
        self._paused_at: float | None = None

    def restart(self) -> None:
        self._t0, self._paused_at = None, None

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = time.monotonic()

    def resume(self) -> None:
        if self._paused_at is not None:
            if self._t0 is not None:
                self._t0 += time.monotonic() - self._paused_at
            self._paused_at = None

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def wait(self, t: float, stop=None) -> None:
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now - t
            return
        delay = self._t0 + t - now
        if delay > 0.25:  # long waits in slices, so a stop request is honoured promptly
            end = now + delay
            while (rest := end - time.monotonic()) > 0:
                if stop is not None and stop():
                    return
                time.sleep(min(rest, 0.1))
        elif delay > 0:
            time.sleep(delay)
        elif delay < -1.0:  # fell far behind (a slow disk, a debugger): do not rush to catch up
            self._t0 = now - t


class SourceError(Exception):
    """A frame source cannot be opened or read; the message is meant for the user."""


class FrameSource(abc.ABC):
    """A stream of BGR frames: ``open()``, then ``read()`` until it returns None, ``close()``.

    Also a context manager (opens on enter if needed, closes on exit) and an iterator.
    """

    fps: float = 30.0  # native frame rate
    name: str = ""  # the spec shown to users
    is_live: bool = False  # True for cameras and the real-time demo
    can_pause: bool = False  # files and the demo: ``pause()`` / ``resume()`` hold the media clock
    frame_count: int = 0  # frames in a file source (0 = unknown / endless)
    frame_ready: bool = True  # False: nothing to read yet (a PhotoBook between photos); the runner waits

    def __init__(self) -> None:
        self.skipped: list[tuple[str, str]] = []  # (file, reason) for skipped inputs
        self._opened = False

    @property
    def is_open(self) -> bool:
        return self._opened

    def open(self) -> FrameSource:
        if not self._opened:
            self._open()
            self._opened = True
        return self

    def read(self) -> Frame | None:
        """Next frame, or None when the stream has ended."""
        if not self._opened:
            raise SourceError(f"Source '{self.name}' is not open")
        return self._read()

    def close(self) -> None:
        if self._opened:
            self._opened = False
            self._close()

    # -- playback (sources that can pause override these) --------------------------------------
    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    @property
    def position_s(self) -> float | None:
        """Media time of the last frame read (None for live cameras)."""
        return None

    @property
    def duration_s(self) -> float | None:
        """Length of a file source in seconds (None when unknown or endless)."""
        return self.frame_count / self.fps if self.frame_count and self.fps else None

    @abc.abstractmethod
    def _open(self) -> None: ...

    @abc.abstractmethod
    def _read(self) -> Frame | None: ...

    def _close(self) -> None:  # pragma: no cover - default no-op
        pass

    def __enter__(self) -> FrameSource:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        self.open()
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


_SOURCES: dict[str, Callable[..., FrameSource]] = {}


def register_source(kind: str):
    """Class decorator: ``@register_source("video")`` makes ``open_source`` build it for that kind.

    The class is called as ``cls(arg, **kw)`` with the ``arg`` from ``parse_source_spec``.
    """

    def deco(cls):
        _SOURCES[kind] = cls
        cls.kind = kind
        return cls

    return deco


def list_source_kinds() -> list[str]:
    return sorted(_SOURCES)


_WEBCAM_RE = re.compile(r"(?:(?:webcam|cam|camera):)?([0-9]{1,3})", re.IGNORECASE)
_DEMO_RE = re.compile(r"demo(?::([0-9]+))?", re.IGNORECASE)


def parse_source_spec(spec: str) -> tuple[str, object]:
    """``spec`` -> ``(kind, arg)``: ("webcam", int), ("demo", faces), ("demo_driver", None),
    ("folder"|"image"|"video", Path),
    ("stream", url). Raises SourceError for anything that cannot be a source."""
    if not isinstance(spec, str):
        raise SourceError(f"Source must be a string, got {type(spec).__name__}")
    s = spec.strip()
    if not s:
        raise SourceError("No source given (use a camera index like 0, 'demo', or a file/folder)")
    m = _WEBCAM_RE.fullmatch(s)
    if m:
        return "webcam", int(m.group(1))
    if s.lower() == "demo:driver":
        return "demo_driver", None
    m = _DEMO_RE.fullmatch(s)
    if m:
        faces = int(m.group(1)) if m.group(1) else 1
        if faces not in DEMO_FACES:
            raise SourceError(f"demo supports {', '.join(map(str, DEMO_FACES))} faces, not {faces}")
        return "demo", faces
    if re.match(r"^[a-z][a-z0-9+.-]*://", s, re.IGNORECASE) and not s.lower().startswith("file://"):
        return "stream", s
    if s.lower().startswith("file://"):
        s = s[7:]
    try:
        path = Path(s).expanduser()
        ext = path.suffix.lower()
        if path.is_dir():
            return "folder", path
        if not path.exists():
            what = "image" if ext in IMAGE_EXTS else "video"
            raise SourceError(f"Cannot open {what} '{s}': file not found")
        if not path.is_file():
            raise SourceError(f"Cannot open '{s}': not a file or folder")
    except SourceError:
        raise
    except (OSError, ValueError, RuntimeError) as e:  # name too long, NUL byte, bad encoding...
        raise SourceError(f"Cannot open '{s[:200]}': {e}") from None
    if ext in IMAGE_EXTS:
        return "image", path
    return "video", path


def open_source(spec: str, **kw) -> FrameSource:
    """Parse ``spec``, build the registered source and open it. Raises SourceError."""
    import ferapp.capture.demo  # noqa: F401
    import ferapp.capture.driver_demo  # noqa: F401
    import ferapp.capture.sources  # noqa: F401  (fills the registry)

    kind, arg = parse_source_spec(spec)
    factory = _SOURCES.get(kind)
    if factory is None:
        raise SourceError(f"No source registered for kind '{kind}'")
    src = factory(arg, **kw)
    try:
        src.open()
    except SourceError:
        raise
    except Exception as e:  # a backend failure must still reach the user as a SourceError
        src.close()
        raise SourceError(f"Cannot open '{spec}': {e}") from e
    return src
