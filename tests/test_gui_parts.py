"""The main window's parts work on their own: each takes the session / live-run objects it needs
and talks back through signals; none reads or writes a window's attributes (pytest-qt)."""

from __future__ import annotations

import ast
import time
import types
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

pytestmark = pytest.mark.gui

GUI = Path(__file__).resolve().parents[1] / "ferapp" / "gui"
PARTS = (
    "controls",
    "model_control",
    "recording",
    "driver_mode",
    "live_display",
    "stills",
    "window_dialogs",
    "source_picker",
)
WAIT = 10_000


def window_attributes(path: Path) -> set[str]:
    """Attributes read or written on a window handed in (``win.x``, ``self.win.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            v = node.value
            if (isinstance(v, ast.Name) and v.id == "win") or (
                isinstance(v, ast.Attribute) and v.attr == "win" and isinstance(v.value, ast.Name)
            ):
                found.add(node.attr)
    return found


@pytest.mark.parametrize("part", PARTS)
def test_a_part_never_touches_the_window(part):
    assert window_attributes(GUI / f"{part}.py") == set()


def test_the_counter_sees_window_attributes(tmp_path):
    code = tmp_path / "x.py"
    code.write_text(
        "def f(win):\n    win.a = 1\n    return win.b\nclass P:\n    def g(self):\n        self.win.c()\n"
    )
    assert window_attributes(code) == {"a", "b", "c"}


class FakePipeline:
    def __init__(self):
        self.post, self.smoothing, self.detector_name, self.min_face = [], None, "hog", 40.0
        self.model_name, self.model_source = "fake", "test"

    def add_postprocessor(self, fn):
        self.post.append(fn)

    def remove_postprocessor(self, fn):
        self.post.remove(fn)

    def set_smoothing(self, value):
        self.smoothing = value

    def set_detector(self, name, min_face):
        self.detector_name, self.min_face = name, min_face


def _result(i: int = 0):
    from ferapp.types import Expression, Face, FaceResult, Frame, FrameResult

    frame = Frame(np.zeros((8, 8, 3), np.uint8), index=i, timestamp=i / 30, wall_time=time.time())
    face = FaceResult(Face((1, 1, 5, 5), face_id=0), Expression(np.full(7, 1 / 7, np.float32)))
    return FrameResult(frame=frame, faces=(face,), model="fake", detector="hog", source="demo")


def test_recording_part_alone_records_and_reports_a_disk_error(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from ferapp.gui.bridge import RunnerBridge
    from ferapp.gui.live_run import LiveRun
    from ferapp.gui.recording import RecordingControl
    from ferapp.session import Session

    session, bridge = Session(), RunnerBridge()
    model = types.SimpleNamespace(detector="hog", min_face=48.0, smoothing=0.25)
    rec = RecordingControl(
        session, bridge, LiveRun(pipeline=FakePipeline()), model, lambda: False, QSettings()
    )
    with qtbot.waitSignal(rec.capture_wanted, timeout=WAIT):  # not running: it asks for capture
        path = rec.start(tmp_path / "t.csv")
    assert session.recording and rec.active
    rec.sync()
    assert rec.action.isChecked() and "REC" in rec.label.text()
    for i in range(3):
        bridge.on_result(_result(i))  # the inference thread's sink
    with qtbot.waitSignal(rec.status, timeout=WAIT) as saved:
        assert rec.stop() == path
    assert saved.args[0].startswith("Saved") and not session.recording
    assert len(path.read_text().strip().splitlines()) == 4  # header + 3 rows
    from ferapp.record.timeline import sidecar_path

    assert '"min_face": 48.0' in sidecar_path(path).read_text()

    rec.start(tmp_path / "u.csv")
    with qtbot.waitSignal(rec.error, timeout=WAIT) as err:
        bridge.recording_failed.emit("disk full")  # queued from the inference thread
    assert err.args == ["disk full", True] and not session.recording and rec.label.text() == ""


def test_driver_part_alone_adds_its_monitor_and_hands_over_its_dock(qtbot):
    from ferapp.gui.driver_mode import DriverMode
    from ferapp.gui.live_run import LiveRun

    pipeline = FakePipeline()
    drv = DriverMode(LiveRun(pipeline=pipeline))
    docks, switched = [], []
    drv.dock_ready.connect(docks.append)
    drv.switched.connect(switched.append)
    drv.new_drive("demo:driver")  # the driver demo source switches it on
    assert drv.action.isChecked() and drv.monitor is not None
    assert pipeline.post == [drv.monitor.process]
    assert docks == [drv.dock] and switched == [True]
    qtbot.addWidget(drv.dock)
    monitor = drv.monitor
    drv.action.setChecked(False)
    assert switched == [True, False] and drv.monitor is None and pipeline.post == []
    drv.action.setChecked(True)
    assert drv.monitor is monitor  # back on: the same, calibrated monitor


def test_model_part_alone_applies_settings_to_the_live_pipeline(qtbot):
    from PySide6.QtCore import QSettings

    from ferapp.gui.live_run import LiveRun
    from ferapp.gui.model_control import ModelControl
    from ferapp.session import Session

    live = LiveRun()
    m = ModelControl(Session(), live, QSettings())
    qtbot.addWidget(m.combo)
    m.detector_combo.setCurrentText("hog")
    m.smoothing_spin.setValue(0.5)  # no pipeline yet: nothing to apply, nothing breaks
    live.pipeline = pipeline = FakePipeline()
    m.smoothing_slider.setValue(30)
    assert pipeline.smoothing == pytest.approx(0.3) and m.smoothing == pytest.approx(0.3)
    m.min_face_spin.setValue(64)
    with qtbot.waitSignal(
        m.status, timeout=WAIT, check_params_cb=lambda text, _ms: text.startswith("Detector:")
    ) as done:
        m.detector_changed()  # loads in the background
    assert done.args[0] == "Detector: hog, faces from 64 px" and pipeline.min_face == 64.0
