"""The real window driven through its session state machine (pytest-qt, offscreen): a start
queued while the pipeline builds, Stop cancelling it, a failed build, Record before anything
ran, and the file pickers scripted through ``WindowDialogs.ask_path``."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from test_gui import MODEL, WAIT, isolated, make_window, wait_results  # noqa: E402,F401  (fixture re-used)

from ferapp.record.timeline import sidecar_path  # noqa: E402
from ferapp.session import Phase  # noqa: E402

pytestmark = pytest.mark.gui


def test_stop_while_building_cancels_the_start_and_start_runs_on_the_built_pipeline(qtbot):
    win = make_window(qtbot, start=False)
    with qtbot.waitSignal(win.pipeline_ready, timeout=WAIT):
        win.start()
        assert win.session.phase is Phase.BUILDING and win.start_action.isChecked()
        win.start()  # a second Start while building: still one build
        win.stop()
        assert not win.start_action.isChecked() and win.start_action.text() == "Start"
    assert win.session.phase is Phase.READY and win.runner is None and not win.start_action.isChecked()
    win.start()
    assert win.session.phase is Phase.RUNNING and win.start_action.text() == "Stop"
    wait_results(qtbot, win, 3)
    win.close()
    assert win.session.closed


def test_a_stale_end_of_source_signal_does_not_stop_the_restarted_runner(qtbot):
    """The end of a file can be queued while Stop joins the old runner; a Start that follows at
    once must not be stopped by it."""
    win = make_window(qtbot)
    old = win.session.run_id
    win.stop()
    win.start()
    assert win.session.phase is Phase.RUNNING and win.session.run_id == old + 1
    win.bridge.ended.emit(old)  # the old runner's end, delivered after the restart
    qtbot.wait(100)
    assert win.session.phase is Phase.RUNNING and win.runner is not None
    wait_results(qtbot, win, 3)
    win.bridge.ended.emit(win.session.run_id)  # this runner's own end stops it
    qtbot.waitUntil(lambda: win.session.phase is Phase.READY, timeout=WAIT)
    assert win.runner is None
    win.close()


def test_a_pipeline_that_finishes_building_after_close_is_closed(qtbot, monkeypatch):
    from ferapp.gui.bridge import BackgroundTask
    from ferapp.inference.pipeline import Pipeline

    closed = []
    real_close = Pipeline.close
    monkeypatch.setattr(Pipeline, "close", lambda self: (closed.append(self), real_close(self)))
    win = make_window(qtbot, start=False)
    win.start()  # the build starts in the background
    assert win.session.phase is Phase.BUILDING
    win.close()
    assert BackgroundTask.wait_all(timeout=WAIT / 1000)
    qtbot.waitUntil(lambda: len(closed) == 1, timeout=WAIT)  # delivered on the GUI thread, then closed
    assert win.pipeline is None


def test_set_model_while_the_pipeline_builds_is_loaded_once_it_is_built(qtbot):
    win = make_window(qtbot, start=False)  # builds cc_lenet5 (an architecture: untrained)
    with qtbot.waitSignal(win.pipeline_ready, timeout=WAIT):
        win.start()
        win.set_model("lenet5")  # asked for while the build runs
        assert win.session.phase is Phase.BUILDING and win.session.model_pick == "lenet5"
    qtbot.waitUntil(lambda: win.session.loaded_model_ref == "lenet5", timeout=WAIT)
    assert win.session.model_ref == "lenet5"
    # the running pipeline swaps the new engine in at its next frame
    qtbot.waitUntil(lambda: win.pipeline.model_name.startswith("lenet5"), timeout=WAIT)
    win.close()


def test_a_failed_build_reports_in_a_non_blocking_dialog_and_unchecks_start(qtbot):
    win = make_window(qtbot, model="no_such_model_xyz", start=False)
    win.start()
    qtbot.waitUntil(lambda: any("Could not load the model/detector" in e for e in win.errors), timeout=WAIT)
    assert win.session.phase is Phase.IDLE and win.pipeline is None
    assert not win.start_action.isChecked()
    box = win.last_dialog
    assert box is not None and box.isVisible() and "no_such_model_xyz" in box.text()  # open(): no modal loop
    box.accept()
    win.close()


def test_record_pressed_before_anything_ran_records_once_capture_is_on(qtbot):
    win = make_window(qtbot, start=False)
    path = win.start_recording()  # starts the build, and the recording at once
    assert path is not None and win.session.recording and win.record_action.isChecked()
    assert win.session.phase is Phase.BUILDING and win.start_action.isChecked()
    qtbot.waitUntil(lambda: win.recorder.rows >= 3, timeout=WAIT)
    win.close()  # the recording is stopped first, then capture
    assert not win.recorder.active and not win.session.recording
    assert json.loads(sidecar_path(path).read_text())["finalized"] is True


def test_file_pickers_are_scripted_through_ask_path(qtbot, tmp_path):
    from ferapp.paths import demo_dir

    win = make_window(qtbot)
    asked = []
    img = str(demo_dir() / "astronaut.png")
    win.dialogs.ask_path = lambda kind: asked.append(kind) or img
    win.open_image_action.trigger()
    assert asked == ["image"] and win.source_spec == img
    qtbot.waitUntil(lambda: "Photo analysed: astronaut.png" in win.statusBar().currentMessage(), timeout=WAIT)
    assert win.session.phase is Phase.READY and not win.start_action.isChecked()

    path = win.start_recording()  # Record after the end: plays it again and records it
    qtbot.waitUntil(lambda: not win.recorder.active, timeout=WAIT)  # the image ends: the recording is kept
    assert json.loads(sidecar_path(path).read_text())["finalized"] is True
    win.dialogs.ask_path = lambda kind: asked.append(kind) or str(path)
    win.open_timeline_action.trigger()
    assert asked == ["image", "timeline"] and len(win._viewers) == 1
    win.dialogs.ask_path = lambda kind: asked.append(kind) or ""  # cancelled
    win.open_video_action.trigger()
    assert win.source_spec == img
    win.close()
