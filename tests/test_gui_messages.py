"""The window's messages: File > Analyze's no-face result, status-bar timeouts, export
confirmations (pytest-qt, offscreen)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from test_gui import WAIT, make_window  # noqa: E402
from test_no_face_hint import blank_video  # noqa: E402

pytestmark = pytest.mark.gui


def test_analyze_with_no_face_says_so_in_gui_words_and_opens_no_viewer(qtbot, tmp_path):
    video = blank_video(tmp_path / "wall.avi", n=4)
    win = make_window(qtbot, start=False)
    dlg = win.open_batch_dialog(source=str(video))
    opened = []
    dlg.timeline_ready.connect(opened.append)
    dlg.start()
    qtbot.waitUntil(lambda: dlg.result is not None or dlg.error is not None, timeout=WAIT)
    assert dlg.error is None and dlg.result.rows == 0
    text = dlg.status.text()
    assert text.startswith("No faces found in 4 processed frame(s) of wall.avi.")
    assert "Min face in the toolbar (e.g. 20 px" in text and "Detector cnn in the toolbar" in text
    assert "--" not in text  # no command-line flags in the window
    assert opened == [] and win._viewers == []
    win.close()


@pytest.mark.parametrize("box, digit", [("min_face_spin", "3"), ("smoothing_spin", "0")])
def test_space_in_a_number_box_starts_capture_and_the_box_keeps_its_value(qtbot, box, digit):
    from PySide6.QtCore import Qt

    win = make_window(qtbot, start=False)
    qtbot.waitExposed(win)
    spin = getattr(win, box)
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=WAIT)
    spin.selectAll()  # as after Tab or a click into the box: the next character replaces the text
    before_text, before_value = spin.text(), spin.value()
    qtbot.keyClick(spin, Qt.Key.Key_Space)
    assert spin.text() == before_text and spin.value() == before_value
    assert win.start_action.isChecked()  # Start ran (the pipeline builds, then capture runs)
    qtbot.waitUntil(lambda: win.session.running, timeout=WAIT)
    qtbot.keyClick(spin, Qt.Key.Key_P)  # the demo can pause
    assert win.pause_action.isChecked() and spin.text() == before_text
    # digits still edit the box
    spin.selectAll()
    qtbot.keyClicks(spin, digit)
    assert spin.text().startswith(digit) and spin.text() != before_text and win.pause_action.isChecked()
    win.close()


def test_saved_message_clears_after_a_while(qtbot, monkeypatch):
    from ferapp.gui import recording

    monkeypatch.setattr(recording, "SAVED_MESSAGE_MS", 300)
    win = make_window(qtbot)
    path = win.start_recording()
    qtbot.waitUntil(lambda: win.recorder.rows > 0, timeout=WAIT)
    assert win.stop_recording() == path
    assert win.statusBar().currentMessage() == f"Saved {path}"
    qtbot.waitUntil(lambda: win.statusBar().currentMessage() == "", timeout=WAIT)
    win.close()


def test_viewer_exports_confirm_and_csv_says_which_face(qtbot, tmp_path, monkeypatch):
    import csv

    from test_gui_viewer import write_timeline

    from ferapp.gui import viewer as viewer_mod
    from ferapp.gui.viewer import TimelineViewer

    monkeypatch.setattr(viewer_mod, "CONFIRM_MS", 300)
    path = write_timeline(tmp_path / "recordings" / "rec.csv")
    v = TimelineViewer(path)
    qtbot.addWidget(v)
    v.show()
    asked = []

    def pick(title, default, _filter):  # the user keeps the offered name, in tmp_path, "rec" -> "out"
        asked.append((title, default))
        return str(tmp_path / ("out" + Path(default).name.removeprefix("rec")))

    v.ask_save_path = pick
    assert v.csv_btn.text() == "Export CSV (face 0)…"
    v.csv_btn.click()
    title, default = asked[-1]
    assert title == "Export CSV: face 0" and default.endswith("rec_face0.csv")
    out = tmp_path / "out_face0.csv"
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 250 and {r["face_id"] for r in rows} == {"0"}
    assert v.statusBar().currentMessage() == f"Exported 250 rows (face 0) to {out}"
    qtbot.waitUntil(lambda: v.statusBar().currentMessage() == "", timeout=WAIT)  # it does not stay

    v.select_face(None)  # all faces
    assert v.csv_btn.text() == "Export CSV (all faces)…"
    v.csv_btn.click()
    assert asked[-1][0] == "Export CSV: all faces"
    with open(tmp_path / "out_export.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 450  # 250 rows of face 0 + 200 of face 1
    assert "Exported 450 rows (all faces)" in v.statusBar().currentMessage()

    v.png_btn.click()
    assert (tmp_path / "out.png").stat().st_size > 0
    assert v.statusBar().currentMessage() == f"Saved the plot to {tmp_path / 'out.png'}"
