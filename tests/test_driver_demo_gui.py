"""The window with the driver demo: listed among the sources, it turns driver monitoring on;
the driver's calibration survives Stop / Start (a new drive, the same person)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("pytestqt")

pytestmark = pytest.mark.gui

MODEL = "cc_lenet5"
WAIT = 90_000  # ms; generous for 2 shared cores, never a timing assertion
# (settings and recordings go to tmp_path: conftest's autouse fixture)


@pytest.mark.slow
def test_driver_demo_source_turns_monitoring_on_and_start_keeps_the_calibration(qtbot):
    from ferapp.gui.main_window import MainWindow

    win = MainWindow(source="demo", model=MODEL, detector="hog", cameras=[])
    qtbot.addWidget(win)
    win.show()
    try:
        idx = win.source_combo.findData("demo:driver")
        assert idx >= 0 and "Driver demo" in win.source_combo.itemText(idx)
        assert not win.driver_action.isChecked()
        win.source_combo.setCurrentIndex(idx)
        win._source_activated(idx)  # what picking it in the dropdown does
        qtbot.waitUntil(lambda: win.driver_monitor is not None, timeout=WAIT)
        assert win.driver_action.isChecked() and win.driver_dock.isVisible()
        panel = win.driver_panel
        # alerts are live before calibration: the panel says the population thresholds are in force
        qtbot.waitUntil(lambda: panel._state is not None and panel._state.face, timeout=WAIT)
        panel.refresh()
        assert panel.thresholds_label.text().startswith("Thresholds: population defaults")
        qtbot.waitUntil(lambda: win.driver_monitor.calibrated, timeout=WAIT)
        qtbot.waitUntil(lambda: "calibrated for this driver" in panel.thresholds_label.text(), timeout=WAIT)
        baseline = win.driver_monitor.ear_baseline
        monitor = win.driver_monitor
        win.stop()
        win.start()  # a new drive: a new log, the same driver (checked on the first frames)
        qtbot.waitUntil(lambda: panel._state is not None and panel._state.face, timeout=WAIT)
        assert win.driver_monitor is monitor and monitor.calibrated and monitor.ear_baseline == baseline
        # the first frames were checked against the calibrated driver (real face descriptors)
        qtbot.waitUntil(lambda: math.isfinite(monitor.identity.last_distance), timeout=WAIT)
        assert monitor.calibrated and monitor.identity.last_distance <= monitor.config.person_distance
    finally:
        win.close()
