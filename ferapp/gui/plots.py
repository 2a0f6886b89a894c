"""Live plots (pyqtgraph): per-class probability bars and a rolling 30 s timeline; for photos
(``set_stills``) the faces of the photo shown side by side instead of a time series.

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


class LegendRow(QWidget):
    """The class colours as a row of labels above a plot: a legend that never covers a curve."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.setSpacing(10)
        self.labels = {}
        for n in LABELS:
            r, g, b = LABEL_COLORS[n]
            lab = QLabel(f"<span style='color: rgb({r},{g},{b}); font-weight: bold'>━</span> {n}")
            lab.setObjectName(f"legend_{n}")
            lay.addWidget(lab)
            self.labels[n] = lab
        lay.addStretch(1)


class _FixedProbabilityPlot(pg.PlotWidget):
    """A plot of probabilities (0-1) that the mouse does not move: bars redrawn by the timer."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(None)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.setYRange(0, 1, padding=0.02)
        self.setLabel("left", "probability")


class ProbabilityBars(_FixedProbabilityPlot):
    """Seven bars (class colours) for the selected face."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setXRange(-0.6, len(LABELS) - 0.4, padding=0)
        self.getAxis("bottom").setTicks([[(i, n) for i, n in enumerate(LABELS)]])
        self.bars = pg.BarGraphItem(
            x=np.arange(len(LABELS)),
            height=np.zeros(len(LABELS)),
            width=0.7,
            brushes=[label_brush(n) for n in LABELS],
            pens=[pg.mkPen(None)] * len(LABELS),
        )
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
        self.curves = {n: self.plot([], [], pen=pg.mkPen(LABEL_COLORS[n], width=2), name=n) for n in LABELS}

    def set_series(self, t: np.ndarray, probs: np.ndarray) -> None:
        for i, n in enumerate(LABELS):
            self.curves[n].setData(t, probs[:, i] if len(t) else np.zeros(0))


class PhotoFaces(_FixedProbabilityPlot):
    """Photos: every face of the photo shown, seven bars each (x: the faces, left to right)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setLabel("bottom", "faces in this photo")
        self.getAxis("bottom").enableAutoSIPrefix(False)
        self.width_per_class = 0.8 / len(LABELS)
        self.bars = {
            n: pg.BarGraphItem(
                x=np.zeros(0),
                height=np.zeros(0),
                width=self.width_per_class,
                brush=label_brush(n),
                pen=pg.mkPen(None),
            )
            for n in LABELS
        }
        for item in self.bars.values():
            self.addItem(item)
        self.face_ids: list[int] = []
        self.probs = np.zeros((0, len(LABELS)))

    def set_faces(self, face_ids: list[int], probs: np.ndarray) -> None:
        self.face_ids, self.probs = list(face_ids), np.asarray(probs, dtype=float).reshape(-1, len(LABELS))
        x = np.arange(len(self.face_ids), dtype=float)
        for i, n in enumerate(LABELS):
            offset = (i - (len(LABELS) - 1) / 2) * self.width_per_class
            self.bars[n].setOpts(x=x + offset, height=self.probs[:, i])
        self.getAxis("bottom").setTicks([[(j, f"face {fid}") for j, fid in enumerate(self.face_ids)]])
        self.setXRange(-0.6, max(0.6, len(self.face_ids) - 0.4), padding=0)


AUTO = -1  # face selector entry: follow the largest live face
LIVE_S = 1.0  # a face is live while it was seen within this many seconds


class LivePlots(QWidget):
    """Face selector + probability bars + rolling timeline.

    The selector lists the faces seen in the last second only (a face that left, or an id the
    tracker replaced, disappears from it). Its first entry follows the largest live face;
    a face the user picks stays selected while it is live, then the selector goes back to
    following the largest face."""

    def __init__(self, window_s: float = 30.0, parent=None):
        super().__init__(parent)
        self.history = RollingHistory(window_s)
        self.face_combo = QComboBox()
        self.face_combo.setToolTip("Face shown in the plots (the largest face unless you pick one)")
        self.face_combo.setMinimumContentsLength(12)
        self.face_combo.addItem("largest face", AUTO)
        self.face_combo.activated.connect(self._picked)
        self.user_pick: int | None = None
        self._last_seen: dict[int, float] = {}
        self._areas: dict[int, float] = {}
        self._auto_face: int | None = None
        self.bars = ProbabilityBars()
        self.timeline = RollingTimeline(window_s)
        self.photo_faces = PhotoFaces()  # replaces the timeline while photos are shown
        self.photo_faces.hide()
        self.stills = False
        self._photo: FrameResult | None = None
        self.legend = LegendRow()
        top = QHBoxLayout()
        top.addWidget(QLabel("Face:"))
        top.addWidget(self.face_combo, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.bars, 2)
        lay.addWidget(self.legend)
        lay.addWidget(self.timeline, 3)
        lay.addWidget(self.photo_faces, 3)

    def add_results(self, results: list[FrameResult]) -> None:
        for r in results:
            self.history.add(r)
            t = self.history.last_t
            for fr in r.faces:
                self._last_seen[fr.face.face_id] = t
                self._areas[fr.face.face_id] = float(fr.face.box[2] * fr.face.box[3])
        if results:
            latest = [fr.face for fr in results[-1].faces]
            self._auto_face = (
                max(latest, key=lambda f: f.box[2] * f.box[3]).face_id if latest else self._auto_face
            )

    def live_faces(self) -> list[int]:
        now = self.history.last_t
        return sorted(fid for fid, t in self._last_seen.items() if now - t <= LIVE_S)

    def _picked(self, index: int) -> None:
        data = self.face_combo.itemData(index)
        self.user_pick = None if data in (None, AUTO) else int(data)
        if self.stills:
            self._draw_photo()

    def selected_face(self) -> int | None:
        """The face the plots show: the user's live pick, else the largest live face."""
        live = self.live_faces()
        if self.user_pick is not None and self.user_pick in live:
            return self.user_pick
        if self._auto_face in live:
            return self._auto_face
        return max(live, key=lambda f: self._areas.get(f, 0.0)) if live else None

    def _sync_faces(self) -> None:
        live = self.live_faces()
        if self.user_pick is not None and self.user_pick not in live:
            self.user_pick = None  # the picked face is gone: follow the largest again
        current = [self.face_combo.itemData(i) for i in range(1, self.face_combo.count())]
        if live != current:
            self.face_combo.blockSignals(True)
            while self.face_combo.count() > 1:
                self.face_combo.removeItem(1)
            for fid in live:
                self.face_combo.addItem(f"face {fid}", fid)
            self.face_combo.blockSignals(False)
        want = AUTO if self.user_pick is None else self.user_pick
        idx = self.face_combo.findData(want)
        if idx >= 0 and idx != self.face_combo.currentIndex():
            self.face_combo.blockSignals(True)
            self.face_combo.setCurrentIndex(idx)
            self.face_combo.blockSignals(False)
        auto = self.selected_face() if self.user_pick is None else self._auto_face
        self.face_combo.setItemText(
            0, f"largest face ({auto})" if auto is not None and self.user_pick is None else "largest face"
        )

    def refresh(self, latest: FrameResult | None) -> None:
        """Called by the display timer: push the current data into the plot items."""
        if self.stills:
            return  # photos are drawn by show_photo when the photo changes
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

    # -- photos ---------------------------------------------------------------------------
    def set_stills(self, on: bool) -> None:
        """Photos (an image or a folder): one photo's faces instead of a time series."""
        self.stills = bool(on)
        self.timeline.setVisible(not self.stills)
        self.photo_faces.setVisible(self.stills)
        self.clear()

    def show_photo(self, result: FrameResult | None) -> None:
        """The faces of one photo: the selector lists them, the bars show the picked (else the
        largest) one, the lower plot all of them side by side."""
        self._photo = result
        faces = [fr for fr in (result.faces if result is not None else ()) if fr.expression is not None]
        ids = [fr.face.face_id for fr in faces]
        self._areas = {fr.face.face_id: float(fr.face.box[2] * fr.face.box[3]) for fr in faces}
        self._auto_face = max(ids, key=lambda f: self._areas[f]) if ids else None
        if self.user_pick not in ids:
            self.user_pick = None
        self.face_combo.blockSignals(True)
        while self.face_combo.count() > 1:
            self.face_combo.removeItem(1)
        for fid in ids:
            self.face_combo.addItem(f"face {fid}", fid)
        self.face_combo.setCurrentIndex(
            max(0, self.face_combo.findData(self.user_pick)) if self.user_pick is not None else 0
        )
        self.face_combo.setItemText(
            0, f"largest face ({self._auto_face})" if self._auto_face is not None else "largest face"
        )
        self.face_combo.blockSignals(False)
        self._draw_photo()

    def _draw_photo(self) -> None:
        faces = {
            fr.face.face_id: fr.expression.probs
            for fr in (self._photo.faces if self._photo else ())
            if fr.expression is not None
        }
        fid = self.user_pick if self.user_pick is not None else self._auto_face
        self.bars.set_probs(faces.get(fid))
        ids = list(faces)
        self.photo_faces.set_faces(
            ids, np.stack([faces[f] for f in ids]) if ids else np.zeros((0, len(LABELS)))
        )

    def clear(self) -> None:
        self._photo = None
        self.history.clear()
        self._last_seen.clear()
        self._areas.clear()
        self._auto_face = None
        self.user_pick = None
        if self.stills:
            self.show_photo(None)
        else:
            self.refresh(None)
