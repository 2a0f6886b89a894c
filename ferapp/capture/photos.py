"""Photos for the window: an image file or a folder of images, each analysed once, in any order.

A slide show at one image per second (``FolderSource(realtime=True)``) made a user wait for
photo 40, and the live plot joined the people of different photos into one time series.
``PhotoBook`` instead hands the runner one photo at a time: the next one only after the last
was processed (``processed``, called from the runner's result sink), so none is dropped by the
runner's latest-frame-wins queue. It sweeps the photos in order; ``goto(i)`` puts photo ``i``
first (the user jumped there), and the sweep then goes on after it and wraps around to the
ones it skipped. When every photo is done, ``read()`` returns None: the source has ended.

Qt-free; ``ferapp.gui.stills`` shows the results one photo at a time.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ferapp.capture.base import FrameSource, SourceError, parse_source_spec
from ferapp.types import Frame


def is_photo_spec(spec: str) -> bool:
    """True for an image file or a folder of images (False for anything else, even a bad spec)."""
    try:
        return parse_source_spec(spec)[0] in ("image", "folder")
    except SourceError:
        return False


class PhotoBook(FrameSource):
    """The photos of ``spec`` (an image or a folder), delivered one at a time (see module doc)."""

    kind = "photos"
    is_live = False
    can_pause = False
    fps = 1.0  # nominal: a photo's ``timestamp`` is its index

    def __init__(self, spec: str | Path, start: int = 0):
        super().__init__()
        self.spec = str(spec)
        self.name = self.spec
        self.files: list[Path] = []
        self._lock = threading.Lock()
        self._done: set[int] = set()
        self._in_flight: int | None = None
        self._want = max(0, int(start))
        self._last = -1

    # -- FrameSource -------------------------------------------------------------------------
    def _open(self) -> None:
        kind, path = parse_source_spec(self.spec)
        if kind == "folder":
            from ferapp.capture.sources import FolderSource

            listing = FolderSource(path).open()  # the folder source's own rules: natural order, images only
            self.files, self.skipped = list(listing.files), list(listing.skipped)
            listing.close()
        elif kind == "image":
            self.files = [Path(path)]
        else:
            raise SourceError(f"'{self.spec}' is not an image or a folder of images")
        self.frame_count = len(self.files)
        with self._lock:
            self._done.clear()
            self._in_flight = None
            self._want = min(self._want, len(self.files) - 1)
            self._last = -1

    @property
    def frame_ready(self) -> bool:
        """The runner may read now: the last photo was processed (or every photo is done)."""
        with self._lock:
            return self._in_flight is None

    def _read(self) -> Frame | None:
        from ferapp.safeio import ImageError, read_image

        while True:
            with self._lock:
                i = self._pick()
                if i is None:
                    return None  # every photo is done
                self._in_flight, self._last = i, i
            p = self.files[i]
            try:
                img = read_image(p)
            except ImageError as e:  # corrupt, unreadable, too large, not a regular file
                self.skipped.append((p.name, str(e)))
            else:
                return Frame(img, i, float(i), time.time(), p.name, still=True)
            self.processed(i)  # nothing to analyse: done

    def _pick(self) -> int | None:
        n = len(self.files)
        if len(self._done) >= n:
            return None
        if self._want is not None and self._want not in self._done:
            i, self._want = self._want, None
            return i
        for k in range(1, n + 1):  # after the last one delivered, wrapping around
            i = (self._last + k) % n
            if i not in self._done:
                return i
        return None

    # -- driving -----------------------------------------------------------------------------
    def processed(self, index: int) -> None:
        """Photo ``index`` has its result (or cannot have one): the next may be read."""
        with self._lock:
            self._done.add(int(index))
            if self._in_flight == index:
                self._in_flight = None

    def give_up_in_flight(self, reason: str) -> None:
        """The photo being analysed failed (the runner reported an error): skip it, go on."""
        with self._lock:
            i, self._in_flight = self._in_flight, None
            if i is not None:
                self._done.add(i)
        if i is not None:
            self.skipped.append((self.files[i].name, reason))

    def goto(self, index: int) -> None:
        """Analyse photo ``index`` next (nothing happens when it is done already)."""
        with self._lock:
            if 0 <= index < len(self.files) and index not in self._done:
                self._want = int(index)

    def done(self, index: int) -> bool:
        with self._lock:
            return index in self._done

    @property
    def done_count(self) -> int:
        with self._lock:
            return len(self._done)
