"""What the wizard's pages share: number and image helpers, message labels and their styles."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QTableWidgetItem

from ferapp.train.card import pct

ERROR_STYLE = "color: #b00020;"
WARN_STYLE = "color: #a05a00;"
OK_STYLE = "color: #1b7a2f;"


def _pct(v: float | None) -> str:
    return pct(v, 1, "–", " ")


def _gray_pixmap(img: np.ndarray, px: int) -> QPixmap:
    a = np.ascontiguousarray(img if img.ndim == 2 else img[..., 0], dtype=np.uint8)
    h, w = a.shape
    q = QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(q).scaled(
        px, px, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


def _ro_item(text: str, align=Qt.AlignmentFlag.AlignCenter) -> QTableWidgetItem:
    it = QTableWidgetItem(text)
    it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsEditable)
    it.setTextAlignment(align)
    return it


def _message(label: QLabel, text: str, style: str = "") -> None:
    label.setText(text)
    label.setStyleSheet(style)
    label.setVisible(bool(text))
