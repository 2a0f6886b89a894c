"""Timeline viewer on timelines written by the real TimelineWriter (no capture needed)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtGui import QImage

from ferapp.labels import LABEL_INDEX, LABELS
from ferapp.record.timeline import TimelineWriter, read_timeline
from ferapp.types import Expression, Face, FaceResult, Frame, FrameResult

pytestmark = pytest.mark.gui


def _probs(label: str) -> np.ndarray:
    p = np.full(len(LABELS), 0.05, dtype=np.float32)
    p[LABEL_INDEX[label]] = 0.7
    return p / p.sum()


def write_timeline(path, seconds=25.0, fps=10):
    """Face 0: happy for 12 s then sad; face 1 (from 5 s): always surprise."""
    img = np.zeros((8, 8, 3), np.uint8)
    with TimelineWriter(path, meta={"model": "test-model"}) as w:
        for i in range(int(seconds * fps)):
            t = i / fps
            faces = [
                FaceResult(
                    Face((10, 10, 50, 50), face_id=0), Expression(_probs("happy" if t < 12 else "sad"))
                )
            ]
            if t >= 5:
                faces.append(FaceResult(Face((80, 10, 50, 50), face_id=1), Expression(_probs("surprise"))))
            w.write(FrameResult(Frame(img, i, t, 1000.0 + t), tuple(faces), "test-model", "hog", "demo"))
    return path


def test_viewer_shows_faces_summary_and_exports(qtbot, tmp_path):
    from ferapp.gui.viewer import ALL_FACES, TimelineViewer

    path = write_timeline(tmp_path / "rec.csv")
    v = TimelineViewer(path)
    qtbot.addWidget(v)
    v.show()
    assert [v.face_combo.itemData(i) for i in range(v.face_combo.count())] == [ALL_FACES, 0, 1]
    assert v.face_combo.currentData() == 0
    x, y = v.curves["happy"].getData()
    assert len(x) == 250 and x[0] == 0 and x[-1] == pytest.approx(24.9)
    # dominant expression per 10 s segment for face 0: 0-10 happy, 10-20 mostly sad (from 12 s), 20-25 sad
    doms = [v.segment_table.item(r, 2).text() for r in range(v.segment_table.rowCount())]
    assert doms == ["happy", "sad", "sad"]
    shares = {v.share_table.item(r, 0).text(): v.share_table.item(r, 1).text() for r in range(len(LABELS))}
    assert shares["happy"] == "48.0 %" and shares["sad"] == "52.0 %" and shares["surprise"] == "0.0 %"

    v.select_face(1)
    doms = [v.segment_table.item(r, 2).text() for r in range(v.segment_table.rowCount())]
    assert set(doms) == {"surprise"}
    x1, _ = v.curves["surprise"].getData()
    assert len(x1) == 200

    png = tmp_path / "out.png"
    assert v.export_png(png)
    assert QImage(str(png)).width() == v.plot_area.width()  # the plot (and its legend) only
    out = tmp_path / "face1.csv"
    v.export_csv(out)
    tl = read_timeline(out)
    assert len(tl) == 200 and tl.face_ids() == [1]


def test_viewer_reports_recovered_recording(qtbot, tmp_path):
    from ferapp.gui.viewer import TimelineViewer

    path = write_timeline(tmp_path / "rec.csv", seconds=3)
    (tmp_path / "rec.json").unlink()
    with open(path, "a", encoding="utf-8") as f:
        f.write("1.0,123,")  # torn last line, as after a crash
    v = TimelineViewer(path)
    qtbot.addWidget(v)
    assert "recovered" in v.info.text()
    assert len(v.timeline) == 30 + 0


def test_main_window_open_timeline_rejects_non_timeline(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from ferapp.gui.main_window import MainWindow

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    bad = tmp_path / "notes.csv"
    bad.write_text("a,b\n1,2\n")
    win = MainWindow(source="demo", model="cc_lenet5", cameras=[])
    qtbot.addWidget(win)
    assert win.open_timeline(bad) is None
    assert "not a ferapp timeline" in win.statusBar().currentMessage()
    assert win.open_timeline(write_timeline(tmp_path / "ok.csv", seconds=2)) is not None
    win.close()
