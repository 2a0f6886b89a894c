"""Layouts that hold at common window sizes; legends beside the curves; viewer keys and export."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from test_gui import WAIT, make_window

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("size", [(1280, 760), (1920, 1080)])
def test_driver_panel_and_expression_plots_share_the_window(qtbot, size):
    win = make_window(qtbot, start=False)
    win.resize(*size)
    win.driver_action.setChecked(True)
    qtbot.waitUntil(lambda: win.driver_dock is not None and win.driver_dock.isVisible(), timeout=WAIT)

    def laid_out():  # retried until the layout has settled (or WAIT runs out)
        h = win.height()
        plots = win.plots
        # the expression plots keep (nearly) the full height; bars and timeline stay readable
        assert plots.height() >= 0.75 * h
        assert plots.bars.height() >= 150 and plots.timeline.height() >= 200
        # the driver panel has its own third of the height, the video keeps the rest
        assert 200 <= win.driver_dock.height() <= 0.45 * h
        assert win.video.height() >= 0.4 * h

    qtbot.waitUntil(laid_out, timeout=WAIT)
    win.close()


def test_driver_alert_text_is_cleared_when_driver_mode_ends(qtbot):
    win = make_window(qtbot, start=False)
    win.driver_action.setChecked(True)
    win.status("ALERT: drowsiness", 60000)
    win.driver_action.setChecked(False)
    assert win.statusBar().currentMessage() == ""
    win.close()


def test_legend_is_outside_the_curves(qtbot):
    from ferapp.gui.plots import LivePlots

    p = LivePlots()
    qtbot.addWidget(p)
    p.resize(400, 700)
    p.show()
    qtbot.waitExposed(p)
    assert p.timeline.plotItem.legend is None  # no legend item inside the plot area
    leg, tl = p.legend.geometry(), p.timeline.geometry()
    assert leg.bottom() <= tl.top() and len(p.legend.labels) == 7


def test_viewer_closes_on_escape_and_ctrl_w_and_exports_the_plot_only(qtbot, tmp_path):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    from ferapp.gui.viewer import TimelineViewer
    from tests.test_gui_viewer import write_timeline

    path = write_timeline(tmp_path / "recordings" / "t.csv")
    for key, mod in (
        (Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier),
        (Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier),
    ):
        v = TimelineViewer(path)
        qtbot.addWidget(v)
        v.show()
        qtbot.waitExposed(v)
        assert v.default_export_path(".png") == str(tmp_path / "recordings" / "t.png")
        out = tmp_path / "plot.png"
        assert v.export_png(out)
        img = QImage(str(out))
        assert img.width() == v.plot_area.width() and img.height() == v.plot_area.height()
        assert img.height() < v.height()  # the buttons and tables are not in it
        qtbot.keyClick(v, key, mod)
        qtbot.waitUntil(lambda v=v: not v.isVisible(), timeout=WAIT)


def test_help_menu_has_quick_start_shortcuts_and_about(qtbot):
    win = make_window(qtbot, start=False)
    help_menu = [a for a in win.menuBar().actions() if a.text() == "&Help"][0].menu()
    names = [a.text() for a in help_menu.actions() if a.text()]
    assert names == ["Quick start", "Keyboard shortcuts", "About ferapp"]
    dlg = win.show_help("quick")
    text = dlg.browser.toPlainText()
    assert "Record" in text and "Train a model" in text and "Min face" in text
    dlg = win.show_help("shortcuts")
    assert "Space" in dlg.browser.toPlainText() and "Pause" in dlg.browser.toPlainText()
    from ferapp.gui.about import about_html
    from ferapp.zoo.store import default_model_name

    assert default_model_name() in about_html()
    win.close()


def test_analyze_a_video_from_the_window_opens_its_timeline(qtbot, tmp_path):
    from media import write_test_video

    from ferapp.record.timeline import read_timeline

    video = write_test_video(tmp_path / "clip.avi", 30)
    win = make_window(qtbot, start=False)
    dlg = win.open_batch_dialog(source=str(video))
    with qtbot.waitSignal(dlg.timeline_ready, timeout=WAIT) as done:
        dlg.start()
    out = done.args[0]
    assert out.startswith(str(tmp_path / "recordings"))
    tl = read_timeline(out)
    assert len(tl) >= 28 and tl.meta["finalized"] and len(tl.face_ids()) == 1
    assert dlg.progress.value() == 1000 and "30 frames" in dlg.status.text()
    qtbot.waitUntil(lambda: len(win._viewers) == 1, timeout=WAIT)  # the viewer opened on it
    assert str(win._viewers[0].timeline.path) == out
    win.close()


def test_analyze_from_the_window_can_be_cancelled_and_keeps_a_finalised_timeline(qtbot, tmp_path):
    from media import write_test_video

    from ferapp.record.timeline import read_timeline

    video = write_test_video(tmp_path / "long.avi", 300)
    win = make_window(qtbot, start=False)
    dlg = win.open_batch_dialog(source=str(video))
    dlg.start()
    qtbot.waitUntil(lambda: dlg.progress.value() > 0, timeout=WAIT)
    with qtbot.waitSignal(dlg.timeline_ready, timeout=WAIT) as done:
        dlg.cancel()
    assert dlg.result.interrupted and "Cancelled" in dlg.status.text()
    tl = read_timeline(done.args[0])
    assert tl.meta["finalized"] and tl.meta.get("interrupted") is True and 0 < len(tl) < 300
    win.close()
