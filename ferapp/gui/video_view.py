"""The live video widget: paints the latest annotated frame, aspect-fit, when told to.

It never decides when to repaint: the main window's display timer calls ``show_frame``
with the newest frame and result at ~30 Hz. While the pipeline builds it shows a loading
state (what is loading, for how long, and a moving bar that proves the window is alive),
repainted by the same timer, until the first frame arrives.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from ferapp.record.annotate import annotate
from ferapp.types import FrameResult


class VideoView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("videoView")
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.show_landmarks = True
        self._image: QImage | None = None
        self._buffer: np.ndarray | None = None  # keeps the QImage's memory alive
        self.placeholder = "No source running — press Space or Start"
        self.frames_shown = 0
        self.loading: str | None = None  # what is loading (the loading state), or None
        self._loading_since = 0.0
        self.paints = 0  # paint events so far (the bench's time-to-first-paint watches the first)

    def show_loading(self, text: str) -> None:
        """Enter (or update the text of) the loading state; a frame or ``clear`` ends it."""
        if self.loading is None:
            self._loading_since = time.monotonic()
        self.loading = text
        self.update()

    def show_frame(self, image: np.ndarray, result: FrameResult | None) -> None:
        """Draw ``result`` onto ``image`` (BGR) and schedule one repaint."""
        drawn = annotate(image, result, landmarks=self.show_landmarks)
        rgb = np.ascontiguousarray(drawn[:, :, ::-1])
        h, w = rgb.shape[:2]
        self._buffer = rgb
        self._image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        self.frames_shown += 1
        self.loading = None
        self.update()

    def clear(self, message: str | None = None) -> None:
        self._image = None
        self._buffer = None
        self.loading = None
        if message is not None:
            self.placeholder = message
        self.update()

    def current_image(self) -> QImage | None:
        return self._image

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.paints += 1
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 28))
        if self._image is None and self.loading is not None:
            self._paint_loading(p)
            p.end()
            return
        if self._image is None:
            p.setPen(QColor(170, 170, 170))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            p.end()
            return
        iw, ih = self._image.width(), self._image.height()
        s = min(self.width() / iw, self.height() / ih)
        w, h = iw * s, ih * s
        target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(target, self._image)
        p.end()

    def _paint_loading(self, p: QPainter) -> None:
        elapsed = time.monotonic() - self._loading_since
        r = self.rect()
        text_box = QRectF(r.x(), r.center().y() - 40, r.width(), 36)
        p.setPen(QColor(200, 200, 205))
        p.drawText(text_box, Qt.AlignmentFlag.AlignCenter, f"{self.loading}   {elapsed:.1f} s")
        bar_w, bar_h = min(320.0, r.width() * 0.6), 6.0
        x0, y0 = (r.width() - bar_w) / 2, r.center().y() + 6
        p.fillRect(QRectF(x0, y0, bar_w, bar_h), QColor(52, 52, 60))
        seg = bar_w / 4  # an indeterminate bar: a segment sweeping across, once a second
        pos = (elapsed % 1.0) * (bar_w + seg) - seg
        left, right = max(x0, x0 + pos), min(x0 + bar_w, x0 + pos + seg)
        if right > left:
            p.fillRect(QRectF(left, y0, right - left, bar_h), QColor(90, 160, 230))
