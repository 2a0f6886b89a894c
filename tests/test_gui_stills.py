"""Photos in the window: each analysed once, one shown at a time with Previous / Next (buttons
and keys), plots of that photo's faces, never a time series across photos (pytest-qt)."""

from __future__ import annotations

import cv2
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from media import demo_frames
from test_gui import WAIT, make_window

pytestmark = pytest.mark.gui


def photo_folder(path, faces=(1, 2, 1, 4)):
    """One photo per entry of ``faces`` (the demo with that many people), plus a broken file."""
    path.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(faces):
        cv2.imwrite(str(path / f"photo_{i + 1:02d}.jpg"), demo_frames(1, n, seed=i)[0])
    (path / "photo_99.jpg").write_bytes(b"not a jpeg")
    return path


def test_a_folder_is_browsed_one_photo_at_a_time_with_per_photo_plots(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    folder = photo_folder(tmp_path / "photos")
    win = make_window(qtbot, source=str(folder), start=False)
    win.start()
    qtbot.waitUntil(lambda: win.stills.active, timeout=WAIT)
    st = win.stills
    assert st.active and st.count == 5 and st.toolbar.isVisible()
    qtbot.waitUntil(lambda: "All 5 photos analysed" in win.statusBar().currentMessage(), timeout=WAIT)
    assert sorted(st.results) == [0, 1, 2, 3]  # each photo once; the broken one has none
    assert win.bridge.results == 4
    assert not win.plots.timeline.isVisible() and win.plots.photo_faces.isVisible()

    def shown():
        qtbot.waitUntil(lambda: st._drawn is not None and st._drawn[0] == st.index, timeout=WAIT)
        return st.index, list(win.plots.photo_faces.face_ids), st.label.text()

    i, ids, label = shown()
    assert i == 0 and ids == [0] and "Photo 1 / 5 · photo_01.jpg · 1 face" in label
    assert not st.prev_action.isEnabled() and st.next_action.isEnabled()
    qtbot.keyClick(win, Qt.Key.Key_Right)
    i, ids, label = shown()
    assert i == 1 and ids == [0, 1] and "2 faces" in label  # two people side by side, not a time series
    assert [win.plots.face_combo.itemData(k) for k in range(win.plots.face_combo.count())] == [-1, 0, 1]
    st.next_action.trigger()
    st.next_action.trigger()
    i, ids, _ = shown()
    assert i == 3 and ids == [0, 1, 2, 3]
    qtbot.keyClick(win, Qt.Key.Key_End)
    i, ids, label = shown()
    assert i == 4 and ids == [] and "photo_99.jpg · unreadable" in label and not st.next_action.isEnabled()
    qtbot.keyClick(win, Qt.Key.Key_Left)
    qtbot.keyClick(win, Qt.Key.Key_Home)
    i, _, _ = shown()
    assert i == 0
    # the video shows photo 1 with its box, and the bars its one face
    assert win.video.current_image() is not None and win.plots.bars.heights.sum() == pytest.approx(
        1.0, abs=1e-3
    )
    win.close()


def test_a_photo_jumped_to_is_analysed_first(qtbot, tmp_path):
    from ferapp.capture.photos import PhotoBook

    folder = photo_folder(tmp_path / "photos", faces=(1,) * 6)
    book = PhotoBook(str(folder)).open()
    order = []
    for jump in (None, 4, None, None, None, None):
        if jump is not None:
            book.goto(jump)
        assert book.frame_ready
        f = book.read()
        assert not book.frame_ready  # nothing more until this one is processed
        order.append(f.index)
        book.processed(f.index)
    assert order == [0, 4, 5, 1, 2, 3] and [n for n, _ in book.skipped] == ["photo_99.jpg"]
    assert "corrupt" in book.skipped[0][1]  # the reader's reason
    assert book.read() is None  # every photo done: the source has ended


def test_the_viewer_plots_a_photo_timeline_per_photo_without_joining_faces(qtbot, tmp_path):
    import numpy as np
    from test_gui_viewer import _probs, write_timeline

    from ferapp.gui.viewer import TimelineViewer
    from ferapp.record.timeline import TimelineWriter
    from ferapp.types import Expression, Face, FaceResult, Frame, FrameResult

    img = np.zeros((8, 8, 3), np.uint8)
    path = tmp_path / "photos.csv"
    with TimelineWriter(path, meta={"model": "m"}) as w:
        for i, label in enumerate(("happy", "sad", "angry")):  # three photos of different people
            frame = Frame(img, i, float(i), 1000.0 + i, f"p{i}.jpg", still=True)
            w.write(
                FrameResult(
                    frame,
                    (FaceResult(Face((1, 1, 5, 5), face_id=0), Expression(_probs(label))),),
                    "m",
                    "hog",
                    str(tmp_path),
                )
            )
    v = TimelineViewer(path)
    qtbot.addWidget(v)
    x, y = v.curves["happy"].getData()
    assert list(x) == [1, 2, 3] and y[0] > y[1]
    assert v.curves["happy"].opts["pen"] is None and v.curves["happy"].opts["symbol"] == "o"  # points only
    assert v.plot.getAxis("bottom").labelText == "photo"
    v.load(write_timeline(tmp_path / "video.csv"))  # a video's timeline: lines over time again
    assert v.curves["happy"].opts["symbol"] is None and v.plot.getAxis("bottom").labelText == "time"


def test_a_photo_that_fails_in_the_model_is_skipped_and_the_sweep_goes_on(tmp_path):
    from ferapp.capture.photos import PhotoBook

    book = PhotoBook(str(photo_folder(tmp_path / "photos", faces=(1, 1, 1)))).open()
    f = book.read()
    assert f.index == 0 and not book.frame_ready
    book.give_up_in_flight("Processing failed: RuntimeError: boom")
    assert book.frame_ready and book.done(0)
    assert ("photo_01.jpg", "Processing failed: RuntimeError: boom") in book.skipped
    assert book.read().index == 1


def test_the_window_goes_on_past_a_photo_the_model_fails_on(qtbot, tmp_path):
    folder = photo_folder(tmp_path / "photos", faces=(1, 1, 1))
    win = make_window(qtbot, source=str(folder), start=False)

    def break_photo_2():
        process = win.pipeline.process

        def failing(frame, source=""):
            if frame.still and frame.index == 1:
                raise RuntimeError("boom")
            return process(frame, source)

        win.pipeline.process = failing

    win.pipeline_ready.connect(break_photo_2)  # before the runner opens
    win.start()
    book = lambda: win.stills.book  # noqa: E731
    qtbot.waitUntil(
        lambda: book() is not None and book().done_count == 4 and win.runner is None, timeout=WAIT
    )
    qtbot.waitUntil(
        lambda: sorted(win.stills.results) == [0, 2], timeout=WAIT
    )  # the display timer's next drain
    assert any("boom" in reason for _, reason in win.stills.book.skipped)
    win.close()
