"""Photos in the window: one result per photo, Previous / Next, plots of that photo only.

An image or a folder of images runs through the usual runner with a ``PhotoBook`` source
(``ferapp.capture.photos``): every photo is analysed once, in the background, in order (a
photo the user jumps to goes first), and each result is kept here (faces and labels, not the
pixels). The window shows one photo at a time with its boxes; the Photos toolbar and the keys
Left / Right (also Page Up / Page Down, Home, End) move between photos, and the plots show that
photo's faces (``LivePlots.show_photo``), never a time series across different people. Once
every photo is done the runner ends, and browsing goes on from the kept results.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QToolBar

from ferapp.capture.photos import PhotoBook, is_photo_spec
from ferapp.gui.bridge import RunnerBridge
from ferapp.gui.live_run import LiveRun
from ferapp.gui.plots import LivePlots
from ferapp.gui.video_view import VideoView
from ferapp.types import FrameResult

_NO_PIXELS = np.zeros((0, 0, 3), np.uint8)


class StillsControl(QObject):
    """A part that owns its toolbar and keys (the window adds ``toolbar`` and ``key_actions``); it
    takes the bridge (each photo's result), the window's LiveRun (is the runner on?), the video
    view and the plots it draws into."""

    def __init__(
        self,
        bridge: RunnerBridge,
        live: LiveRun,
        video: VideoView,
        plots: LivePlots,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.live, self.video, self.plots = live, video, plots
        self.book: PhotoBook | None = None
        self.results: dict[int, FrameResult] = {}  # photo index -> its result, pixels dropped
        self.index = 0  # the photo shown
        self._image = None  # (index, decoded pixels) of the photo shown
        self._drawn: tuple | None = None  # what the view shows now: (index, has result, landmarks)
        bridge.sinks.append(self._processed)  # worker thread: the next photo may be read
        bridge.error.connect(self._runner_error)

        tb = self.toolbar = QToolBar("Photos")
        tb.setObjectName("photosToolbar")
        tb.setMovable(False)
        self.prev_action = QAction("◀ Previous", self)
        self.prev_action.setShortcuts([QKeySequence(Qt.Key.Key_Left), QKeySequence(Qt.Key.Key_PageUp)])
        self.prev_action.setToolTip("Previous photo (Left, Page Up)")
        self.prev_action.triggered.connect(lambda: self.show(self.index - 1))
        self.next_action = QAction("Next ▶", self)
        self.next_action.setShortcuts([QKeySequence(Qt.Key.Key_Right), QKeySequence(Qt.Key.Key_PageDown)])
        self.next_action.setToolTip("Next photo (Right, Page Down)")
        self.next_action.triggered.connect(lambda: self.show(self.index + 1))
        self.first_action = QAction(
            "First photo", self, shortcut=QKeySequence(Qt.Key.Key_Home), triggered=lambda: self.show(0)
        )
        self.last_action = QAction(
            "Last photo",
            self,
            shortcut=QKeySequence(Qt.Key.Key_End),
            triggered=lambda: self.show(self.count - 1),
        )
        self.key_actions = (self.first_action, self.last_action)  # keys only: the window adds them
        self.label = QLabel("")
        self.label.setObjectName("photoLabel")
        tb.addAction(self.prev_action)
        tb.addWidget(self.label)
        tb.addAction(self.next_action)
        self._set_active(False)

    # -- the source ----------------------------------------------------------------------------
    def source_for(self, spec: str) -> PhotoBook | None:
        """A PhotoBook for an image or folder spec (the runner opens it); None for other sources.
        The photo shown before stays shown when the same photos are started again."""
        if not is_photo_spec(spec):
            self.book = None
            self._set_active(False)
            return None
        same = self.book is not None and self.book.spec == spec
        start = self.index if same else 0
        self.book = PhotoBook(spec, start=start)
        self.results.clear()
        self.index, self._image, self._drawn = start, None, None
        self._set_active(True)
        self.plots.set_stills(True)
        return self.book

    @property
    def active(self) -> bool:
        return self.book is not None

    @property
    def count(self) -> int:
        return len(self.book.files) if self.book is not None else 0

    def _set_active(self, on: bool) -> None:
        self.toolbar.setVisible(on)
        for a in (self.prev_action, self.next_action, self.first_action, self.last_action):
            a.setEnabled(on)
        if not on:
            self.plots.set_stills(False)

    def _processed(self, result: FrameResult) -> None:
        book = self.book
        if book is not None and result.frame.still:
            book.processed(result.frame.index)

    def _runner_error(self, message: str) -> None:
        """A photo that failed in the model must not stop the others (the runner goes on)."""
        if self.book is not None and message.startswith("Processing failed"):
            self.book.give_up_in_flight(message)

    # -- browsing ------------------------------------------------------------------------------
    def show(self, index: int) -> None:
        """Show photo ``index`` (clamped); analysed next if it has no result yet."""
        if not self.active or not self.count:
            return
        self.index = max(0, min(int(index), self.count - 1))
        if self.index not in self.results and self.book is not None:
            self.book.goto(self.index)
        self.refresh([])

    def add_results(self, results: list[FrameResult]) -> None:
        for r in results:
            if r.frame.still:
                self.results[r.frame.index] = dataclasses.replace(
                    r, frame=dataclasses.replace(r.frame, image=_NO_PIXELS)
                )

    def refresh(self, results: list[FrameResult]) -> None:
        """The display timer in photo mode: keep results, redraw only what changed."""
        self.add_results(results)
        if not self.count:
            return
        result = self.results.get(self.index)
        key = (self.index, result is not None, self.video.show_landmarks)
        if key != self._drawn:
            image = self._pixels(self.index)
            if image is not None:
                self.video.show_frame(image, result)
            else:
                self.video.clear(f"Cannot read {self.book.files[self.index].name}")
            self.plots.show_photo(result)
            self._drawn = key
        self._update_label(result)

    def _pixels(self, index: int):
        if self._image is not None and self._image[0] == index:
            return self._image[1]
        from ferapp.safeio import ImageError, read_image

        try:
            img = read_image(self.book.files[index])
        except ImageError:  # corrupt or unreadable: the label says so, the view shows nothing
            img = None
        self._image = (index, img)
        return img

    def _update_label(self, result: FrameResult | None) -> None:
        n, i = self.count, self.index
        name = self.book.files[i].name
        if result is not None:
            k = len(result.faces)
            state = f"{k} face{'s' if k != 1 else ''}" if k else "no face found"
        elif self.book.done(i):
            state = "unreadable"
        elif self.live.runner is None:
            state = "not analysed (press Start)"
        else:
            state = "analysing…"
        done = len(self.results)
        progress = "" if done >= n else f"   ({done} of {n} analysed)"
        self.label.setText(f"  Photo {i + 1} / {n} · {name} · {state}{progress}  ")
        self.prev_action.setEnabled(i > 0)
        self.next_action.setEnabled(i < n - 1)

    def ended_message(self) -> str:
        n = self.count
        if n == 1:
            return f"Photo analysed: {self.book.files[0].name} (Start analyses it again)"
        return f"All {n} photos analysed: Left / Right (or Previous / Next) to browse"
