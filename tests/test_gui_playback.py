"""Playback in the window: a video plays at its own fps, pauses, ends and restarts; the face
selector follows live faces; 'no face found' after 2 s; the smallest face size is a setting."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from test_gui import WAIT, make_window, wait_display_ticks

from ferapp.types import Expression, Face, FaceResult, Frame, FrameResult

pytestmark = pytest.mark.gui


def _video(tmp_path, n=40, fps=10.0, blank=False):
    import cv2
    from media import demo_frames

    path = tmp_path / ("blank.avi" if blank else "clip.avi")
    frames = [np.full((480, 640, 3), 90, np.uint8)] * n if blank else demo_frames(n)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    for f in frames:
        w.write(f)
    w.release()
    return str(path)


def test_video_plays_at_its_own_speed_pauses_and_restarts(qtbot, tmp_path):
    spec = _video(tmp_path, n=40, fps=10.0)  # 4 s of video
    win = make_window(qtbot, source=spec)
    assert win.pause_action.isEnabled()
    qtbot.waitUntil(lambda: win.runner is not None and (win.runner.position_s or 0) >= 1.0, timeout=WAIT)
    # paced at the file's 10 fps, not decoded as fast as possible (hundreds of fps)
    assert 0 < win.runner.stats().capture_fps < 15
    assert win.runner.duration_s == pytest.approx(4.0, abs=0.2)
    win._update_position()
    assert "/ 00:04.0" in win.position_label.text()
    win.pause_action.setChecked(True)
    assert win.runner.paused
    wait_display_ticks(qtbot, win, 3)  # a frame being read when Pause was pressed may still land
    held = win.runner.position_s
    wait_display_ticks(qtbot, win, 10)  # ~1/3 s of the display loop: 3 frames of this file, had it played
    assert win.runner.position_s == held
    win._update_position()
    assert "(paused)" in win.position_label.text()
    win.pause_action.setChecked(False)
    qtbot.waitUntil(lambda: win.runner is None, timeout=WAIT)  # played to the end
    assert "End of 'clip.avi'" in win.statusBar().currentMessage()
    assert not win.pause_action.isEnabled()
    win.start()  # Start after the end plays it again from the beginning
    qtbot.waitUntil(lambda: win.runner is not None and win.runner.position_s is not None, timeout=WAIT)
    assert win.runner.position_s < 2.0
    win.close()


def test_no_face_found_notice_after_two_seconds(qtbot, tmp_path):
    win = make_window(qtbot, source=_video(tmp_path, n=60, fps=20.0, blank=True), start=False)
    win.start()
    qtbot.waitUntil(lambda: "No face found" in win.notice_label.text(), timeout=WAIT)
    assert win.bridge.results > 0
    win.close()


def _result(t: float, boxes: dict[int, int]) -> FrameResult:
    faces = tuple(
        FaceResult(Face(box=(10 * fid, 10, s, s), face_id=fid), Expression(np.full(7, 1 / 7, np.float32)))
        for fid, s in boxes.items()
    )
    return FrameResult(
        frame=Frame(np.zeros((4, 4, 3), np.uint8), 0, t, 1000.0 + t),
        faces=faces,
        model="m",
        detector="hog",
        source="s",
    )


def test_face_selector_lists_live_faces_follows_the_largest_and_keeps_a_pick(qtbot):
    from ferapp.gui.plots import AUTO, LivePlots

    p = LivePlots()
    qtbot.addWidget(p)
    p.add_results([_result(0.0, {3: 50, 7: 90})])
    p.refresh(None)
    assert [p.face_combo.itemData(i) for i in range(p.face_combo.count())] == [AUTO, 3, 7]
    assert p.selected_face() == 7  # the largest
    p.face_combo.setCurrentIndex(1)
    p.face_combo.activated.emit(1)  # the user picks face 3
    p.add_results([_result(0.5, {3: 50, 7: 90})])
    p.refresh(None)
    assert p.selected_face() == 3
    # face 3 leaves; a second later it is gone from the list and the plots follow the largest again
    p.add_results([_result(2.0, {7: 90, 9: 120})])
    p.refresh(None)
    assert [p.face_combo.itemData(i) for i in range(p.face_combo.count())] == [AUTO, 7, 9]
    assert p.user_pick is None and p.selected_face() == 9
    assert p.face_combo.currentData() == AUTO


def test_min_face_setting_reaches_the_pipeline_and_is_saved(qtbot):
    from ferapp.gui import settings as gui_settings

    win = make_window(qtbot, source="demo", min_face=64)
    assert win.min_face_spin.value() == 64 and win.pipeline.min_face == 64
    win.min_face_spin.setValue(30)
    win.min_face_spin.editingFinished.emit()
    qtbot.waitUntil(lambda: win.pipeline.min_face == 30 and win.pipeline.finder.min_face == 30, timeout=WAIT)
    win.close()
    assert gui_settings.read("min_face") == 30
