"""Live plots (pyqtgraph): per-class probability bars and a rolling 30 s timeline.

Plot items are created once; the display timer only calls ``setData`` / ``setOpts``
(pyqtgraph's PanningPlot pattern). ``RollingHistory`` is plain Python: it keeps the last
``window_s`` seconds of probabilities per face and is fed every result the bridge drained.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ferapp.labels import LABEL_COLORS, LABELS
from ferapp.types import FrameResult

pg.setConfigOptions(antialias=True)


class RollingHistory:
    """Last ``window_s`` seconds of (time, probs) per face id, times relative to the first result."""

    def __init__(self, window_s: float = 30.0):
        self.window_s = window_s
        self._t0: float | None = None
        self.faces: dict[int, deque[tuple[float, np.ndarray]]] = {}
        self.last_t = 0.0

    def clear(self) -> None:
        self._t0 = None
        self.faces.clear()
        self.last_t = 0.0

    def add(self, result: FrameResult) -> None:
        t_abs = result.frame.wall_time
        if self._t0 is None:
            self._t0 = t_abs
        t = t_abs - self._t0
        self.last_t = t
        for fr in result.faces:
            if fr.expression is None:
                continue
            q = self.faces.setdefault(fr.face.face_id, deque())
            q.append((t, np.asarray(fr.expression.probs, dtype=np.float32)))
        for fid in list(self.faces):
            q = self.faces[fid]
            while q and t - q[0][0] > self.window_s:
                q.popleft()
            if not q:
                del self.faces[fid]

    def series(self, face_id: int) -> tuple[np.ndarray, np.ndarray]:
        q = self.faces.get(face_id)
        if not q:
            return np.zeros(0), np.zeros((0, len(LABELS)))
        t = np.fromiter((v[0] for v in q), dtype=np.float64, count=len(q))
        return t - self.last_t, np.stack([v[1] for v in q])  # seconds before "now"

    def face_ids(self) -> list[int]:
        return sorted(self.faces)


def label_brush(label: str):
    return pg.mkBrush(*LABEL_COLORS[label])


class ProbabilityBars(pg.PlotWidget):
    """Seven bars (class colours) for the selected face."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(None)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.setYRange(0, 1, padding=0.02)
        self.setXRange(-0.6, len(LABELS) - 0.4, padding=0)
        self.getAxis("bottom").setTicks([[(i, n) for i, n in enumerate(LABELS)]])
        self.setLabel("left", "probability")
        self.bars = pg.BarGraphItem(x=np.arange(len(LABELS)), height=np.zeros(len(LABELS)), width=0.7,
                                    brushes=[label_brush(n) for n in LABELS], pens=[pg.mkPen(None)] * len(LABELS))
        self.addItem(self.bars)
        self.heights = np.zeros(len(LABELS))

    def set_probs(self, probs: np.ndarray | None) -> None:
        self.heights = np.zeros(len(LABELS)) if probs is None else np.asarray(probs, dtype=float)
        self.bars.setOpts(height=self.heights)


class RollingTimeline(pg.PlotWidget):
    """One line per class over the last 30 s (x: seconds before now)."""

    def __init__(self, window_s: float = 30.0, parent=None):
        super().__init__(parent)
        self.setBackground(None)
        self.setYRange(0, 1, padding=0.02)
        self.setXRange(-window_s, 0, padding=0)
        self.setLabel("bottom", "seconds")
        self.setLabel("left", "probability")
        self.addLegend(offset=(5, 5), labelTextSize="8pt", colCount=4)
        self.curves = {n: self.plot([], [], pen=pg.mkPen(LABEL_COLORS[n], width=2), name=n) for n in LABELS}

    def set_series(self, t: np.ndarray, probs: np.ndarray) -> None:
        for i, n in enumerate(LABELS):
            self.curves[n].setData(t, probs[:, i] if len(t) else np.zeros(0))


class LivePlots(QWidget):
    """Face selector + probability bars + rolling timeline."""

    def __init__(self, window_s: float = 30.0, parent=None):
        super().__init__(parent)
        self.history = RollingHistory(window_s)
        self.face_combo = QComboBox()
        self.face_combo.setToolTip("Face shown in the plots")
        self.face_combo.setMinimumContentsLength(8)
        self.bars = ProbabilityBars()
        self.timeline = RollingTimeline(window_s)
        top = QHBoxLayout()
        top.addWidget(QLabel("Face:"))
        top.addWidget(self.face_combo, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.bars, 2)
        lay.addWidget(self.timeline, 3)

    def add_results(self, results: list[FrameResult]) -> None:
        for r in results:
            self.history.add(r)

    def selected_face(self) -> int | None:
        data = self.face_combo.currentData()
        return int(data) if data is not None else None

    def _sync_faces(self) -> None:
        ids = self.history.face_ids()
        current = [self.face_combo.itemData(i) for i in range(self.face_combo.count())]
        if ids == current:
            return
        keep = self.selected_face()
        self.face_combo.blockSignals(True)
        self.face_combo.clear()
        for fid in ids:
            self.face_combo.addItem(f"face {fid}", fid)
        if keep in ids:
            self.face_combo.setCurrentIndex(ids.index(keep))
        self.face_combo.blockSignals(False)

    def refresh(self, latest: FrameResult | None) -> None:
        """Called by the display timer: push the current data into the plot items."""
        self._sync_faces()
        fid = self.selected_face()
        probs = None
        if latest is not None and fid is not None:
            for fr in latest.faces:
                if fr.face.face_id == fid and fr.expression is not None:
                    probs = fr.expression.probs
        self.bars.set_probs(probs)
        if fid is None:
            self.timeline.set_series(np.zeros(0), np.zeros((0, len(LABELS))))
        else:
            self.timeline.set_series(*self.history.series(fid))

    def clear(self) -> None:
        self.history.clear()
        self.refresh(None)
