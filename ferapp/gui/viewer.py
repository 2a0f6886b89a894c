"""File > Open timeline…: full-length per-class plot, per-face selector, summary, PNG/CSV export.

The plot is a plain pyqtgraph PlotWidget (mouse wheel zooms, drag pans, right-click menu),
data come from ``ferapp.record.read_timeline`` and exports use ``write_rows_csv`` and
``QWidget.grab``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ferapp.labels import LABEL_COLORS, LABELS
from ferapp.record.timeline import Timeline, TimelineError, read_timeline, write_rows_csv

ALL_FACES = -999
CONFIRM_MS = 8000  # how long "Exported …" stays in the status bar


def is_photo_timeline(tl: Timeline) -> bool:
    """Rows from several photos (a folder analysed or recorded): their ``source`` is each photo."""
    from ferapp.capture import IMAGE_EXTS

    sources = {str(v) for v in tl.columns.get("source", [])}
    return len(sources) > 1 and all(Path(v).suffix.lower() in IMAGE_EXTS for v in sources)


class TimelineViewer(QMainWindow):
    def __init__(self, path: str | Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Timeline viewer")
        self.resize(1000, 640)
        self.timeline: Timeline | None = None
        self.view: Timeline | None = None

        self.plot = pg.PlotWidget()
        self.plot.setBackground(None)
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.setLabel("left", "probability")
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        from ferapp.gui.plots import LegendRow

        self.legend = LegendRow()
        self.plot_area = QWidget()  # the plot and its legend: what Export PNG saves
        pl = QVBoxLayout(self.plot_area)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(self.legend)
        pl.addWidget(self.plot, 1)
        for keys in ("Esc", QKeySequence.StandardKey.Close):  # Close = Ctrl+W (Cmd+W on macOS)
            QShortcut(QKeySequence(keys), self, activated=self.close)
        self.curves = {
            n: self.plot.plot([], [], pen=pg.mkPen(LABEL_COLORS[n], width=1.5), name=n) for n in LABELS
        }

        self.face_combo = QComboBox()
        self.face_combo.currentIndexChanged.connect(self._face_changed)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.png_btn = QPushButton("Export PNG…")
        self.csv_btn = QPushButton("Export CSV…")  # names the face it exports (see _show)
        self.png_btn.setToolTip("The plot and its legend as an image")
        self.png_btn.clicked.connect(self._ask_png)
        self.csv_btn.clicked.connect(self._ask_csv)

        self.share_table = QTableWidget(len(LABELS), 2)
        self.share_table.setHorizontalHeaderLabels(["expression", "share of time"])
        self.share_table.verticalHeader().setVisible(False)
        self.share_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.segment_table = QTableWidget(0, 3)
        self.segment_table.setHorizontalHeaderLabels(["from (s)", "to (s)", "dominant expression"])
        self.segment_table.verticalHeader().setVisible(False)
        self.segment_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

        top = QHBoxLayout()
        top.addWidget(QLabel("Face:"))
        top.addWidget(self.face_combo)
        top.addWidget(self.info, 1)
        top.addWidget(self.png_btn)
        top.addWidget(self.csv_btn)
        tables = QSplitter(Qt.Orientation.Horizontal)
        tables.addWidget(self.share_table)
        tables.addWidget(self.segment_table)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plot_area)
        split.addWidget(tables)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([420, 280])
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        self.setCentralWidget(central)
        if path is not None:
            self.load(path)

    # -- data ----------------------------------------------------------------------------
    def load(self, path: str | Path) -> Timeline:
        """Read a timeline (raises TimelineError) and show it."""
        tl = read_timeline(path)
        self.timeline = tl
        self.setWindowTitle(f"Timeline viewer — {Path(path).name}")
        self.face_combo.blockSignals(True)
        self.face_combo.clear()
        self.face_combo.addItem("all faces", ALL_FACES)
        for fid in tl.face_ids():
            self.face_combo.addItem(f"face {fid}", fid)
        self.face_combo.setCurrentIndex(1 if tl.face_ids() else 0)
        self.face_combo.blockSignals(False)
        self._show(self.face_combo.currentData())
        return tl

    def _face_changed(self, _i: int) -> None:
        if self.timeline is not None:
            self._show(self.face_combo.currentData())

    def select_face(self, face_id: int | None) -> None:
        idx = self.face_combo.findData(ALL_FACES if face_id is None else face_id)
        if idx >= 0:
            self.face_combo.setCurrentIndex(idx)

    def _show(self, face_id) -> None:
        tl = self.timeline
        view = tl if face_id in (None, ALL_FACES) else tl.for_face(int(face_id))
        self.view = view
        probs = view.probs
        if is_photo_timeline(tl):  # one point per face per photo: no line joins different people
            t = np.asarray(view.columns.get("frame", np.zeros(0)), dtype=float) + 1
            self.plot.setLabel("bottom", "photo")
            style = [
                dict(
                    pen=None,
                    symbol="o",
                    symbolSize=6,
                    symbolPen=None,
                    symbolBrush=pg.mkBrush(*LABEL_COLORS[n]),
                )
                for n in LABELS
            ]
        else:
            t = np.asarray(view.columns.get("time_s", np.zeros(0)), dtype=float)
            self.plot.setLabel("bottom", "time", units="s")
            style = [dict(pen=pg.mkPen(LABEL_COLORS[n], width=1.5), symbol=None) for n in LABELS]
        order = np.argsort(t, kind="stable")
        for i, n in enumerate(LABELS):
            self.curves[n].setData(t[order], probs[order, i] if len(t) else np.zeros(0), **style[i])
        self.plot.enableAutoRange(axis="x")
        s = view.summary(segment_s=10.0)
        for i, n in enumerate(LABELS):
            name = QTableWidgetItem(n)
            name.setForeground(QBrush(QColor(*LABEL_COLORS[n])))
            self.share_table.setItem(i, 0, name)
            self.share_table.setItem(i, 1, QTableWidgetItem(f"{s['share'][n] * 100:.1f} %"))
        segs = s["segments"]
        self.segment_table.setRowCount(len(segs))
        for r, seg in enumerate(segs):
            self.segment_table.setItem(r, 0, QTableWidgetItem(f"{seg['start']:.0f}"))
            end = min(seg["end"], max(s["duration_s"], seg["start"]))
            self.segment_table.setItem(r, 1, QTableWidgetItem(f"{end:.1f}"))
            d = QTableWidgetItem(seg["dominant"] or "(no expression)")
            if seg["dominant"] in LABEL_COLORS:
                d.setForeground(QBrush(QColor(*LABEL_COLORS[seg["dominant"]])))
            self.segment_table.setItem(r, 2, d)
        meta = tl.meta or {}
        bits = [f"{len(view)} rows", f"{s['duration_s']:.1f} s"]
        if meta.get("model"):
            bits.append(f"model {meta['model']}")
        models = sorted({str(m) for m in view.columns.get("model", []) if m})
        if models and not meta.get("model"):
            bits.append("model " + ", ".join(models))
        if tl.recovered:
            bits.append("recovered: " + "; ".join(tl.warnings))
        self.info.setText(" · ".join(bits))
        scope = self.export_scope()
        self.csv_btn.setText(f"Export CSV ({scope})…")
        self.csv_btn.setToolTip(
            f"The rows of {scope} (pick 'all faces' in the Face box for every face)"
            if face_id not in (None, ALL_FACES)
            else "Every row of the timeline"
        )

    def export_scope(self) -> str:
        """What Export CSV writes: 'face 2' or 'all faces'."""
        fid = self.face_combo.currentData()
        return "all faces" if fid in (None, ALL_FACES) else f"face {fid}"

    def keyPressEvent(self, event) -> None:  # Qt API; also when the shortcut map is inactive
        if event.key() == Qt.Key.Key_Escape or event.matches(QKeySequence.StandardKey.Close):
            self.close()
            return
        super().keyPressEvent(event)

    # -- export --------------------------------------------------------------------------
    def export_png(self, path: str | Path) -> bool:
        """The plot and its legend only (no buttons, no tables)."""
        return self.plot_area.grab().save(str(path))

    def default_export_path(self, ext: str) -> str:
        """Beside the recordings (the recordings folder, else the timeline's own folder)."""
        from ferapp.paths import recordings_dir

        stem = Path(self.timeline.path).stem if self.timeline is not None else "timeline"
        folder = recordings_dir()
        if not folder.is_dir() and self.timeline is not None:
            folder = Path(self.timeline.path).parent
        return str(folder / f"{stem}{ext}")

    def export_csv(self, path: str | Path) -> int:
        """The rows shown (the selected face, or all faces); returns how many were written."""
        if self.view is None:
            raise TimelineError("no timeline loaded")
        write_rows_csv(path, self.view)
        return len(self.view)

    def ask_save_path(self, title: str, default: str, filt: str) -> str:
        """The file the user picks ('' when cancelled); the one blocking dialog (tests replace it)."""
        return QFileDialog.getSaveFileName(self, title, default, filt)[0]

    def confirm(self, message: str) -> None:
        self.statusBar().showMessage(message, CONFIRM_MS)

    def _ask_png(self) -> None:
        path = self.ask_save_path("Export PNG", self.default_export_path(".png"), "PNG image (*.png)")
        if not path:
            return
        if self.export_png(path):
            self.confirm(f"Saved the plot to {path}")
        else:
            QMessageBox.warning(self, "Export PNG", f"Could not write '{path}'.")

    def _ask_csv(self) -> None:
        scope = self.export_scope()
        suffix = "_export.csv" if scope == "all faces" else f"_{scope.replace(' ', '')}.csv"
        path = self.ask_save_path(f"Export CSV: {scope}", self.default_export_path(suffix), "CSV (*.csv)")
        if not path:
            return
        try:
            n = self.export_csv(path)
        except (OSError, TimelineError) as e:
            QMessageBox.warning(self, "Export CSV", f"Could not write '{path}': {e}")
            return
        self.confirm(f"Exported {n} rows ({scope}) to {path}")
