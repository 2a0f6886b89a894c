"""The window's messages: File > Analyze's no-face result, status-bar timeouts, export
confirmations (pytest-qt, offscreen)."""

from __future__ import annotations

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
