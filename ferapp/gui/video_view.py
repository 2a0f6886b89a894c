"""The live video widget: paints the latest annotated frame, aspect-fit, when told to.

It never decides when to repaint: the main window's display timer calls ``show_frame``
with the newest frame and result at ~30 Hz.
"""

from __future__ import annotations

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

    def show_frame(self, image: np.ndarray, result: FrameResult | None) -> None:
        """Draw ``result`` onto ``image`` (BGR) and schedule one repaint."""
        drawn = annotate(image, result, landmarks=self.show_landmarks)
        rgb = np.ascontiguousarray(drawn[:, :, ::-1])
        h, w = rgb.shape[:2]
        self._buffer = rgb
        self._image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        self.frames_shown += 1
        self.update()

    def clear(self, message: str | None = None) -> None:
        self._image = None
        self._buffer = None
        if message is not None:
            self.placeholder = message
        self.update()

    def current_image(self) -> QImage | None:
        return self._image

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 28))
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
