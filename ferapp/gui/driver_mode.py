"""Driver monitoring in the main window: the Qt-free ``ferapp.monitor.DriverMonitor`` as a
pipeline post-processor, and its ``DriverPanel`` in a dock under the video."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

DRIVER_DEMO = "demo:driver"


class DriverMode:
    def __init__(self, win):
        self.win = win
        self.monitor = None  # a DriverMonitor while driver mode is on
        self._kept = None  # the monitor of an earlier driver-mode session (its calibration)
        self.panel = None  # the DriverPanel (created once, hidden when off)
        self.dock: QDockWidget | None = None

    def set(self, on: bool) -> bool:
        """Add/remove the DriverMonitor post-processor and show/hide the driver panel dock."""
        win = self.win
        if on:
            if self.monitor is not None:
                return True
            try:
                from ferapp.gui.driver_panel import DriverPanel
                from ferapp.monitor import DriverMonitor
            except ImportError as e:
                win.report_error(f"Driver monitoring is not available: {e}")
                win.driver_action.blockSignals(True)
                win.driver_action.setChecked(False)
                win.driver_action.blockSignals(False)
                return False
            # the same monitor again when monitoring is switched back on: its driver stays calibrated
            self.monitor = self._kept or DriverMonitor()
            self.monitor.new_drive()
            if win.pipeline is not None:
                win.pipeline.add_postprocessor(self.monitor.process)
            if self.panel is None:
                self.panel = DriverPanel()
                if hasattr(self.panel, "alarm_raised"):
                    self.panel.alarm_raised.connect(lambda msg: win.status(f"ALERT: {msg}", 8000))
                self.dock = QDockWidget("Driver monitoring", win)
                self.dock.setObjectName("driverDock")
                self.dock.setWidget(self.panel)
                # under the video only: the expression plots keep the full height of the right column
                win.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
                win.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
            self.dock.show()
            win.resizeDocks([self.dock], [self.panel_height()], Qt.Orientation.Vertical)
            self.panel.clear()
            if win.recorder.active:
                win.status("Driver measures are added to the next recording", 5000)
            return True
        monitor, self.monitor = self.monitor, None
        self._kept = monitor or self._kept
        if monitor is not None and win.pipeline is not None:
            win.pipeline.remove_postprocessor(monitor.process)
        if self.dock is not None:
            self.dock.hide()
        if win.statusBar().currentMessage().startswith("ALERT"):
            win.statusBar().clearMessage()  # a driver alert must not outlive driver mode
        return True

    def panel_height(self) -> int:
        """About a third of the window (at least 200 px): room for its plots, most for the video."""
        return max(200, int(0.36 * self.win.height()))

    def attach(self, pipeline) -> None:
        """A pipeline was built while driver mode was on."""
        if self.monitor is not None:
            pipeline.add_postprocessor(self.monitor.process)

    def new_drive(self) -> None:
        """Capture starts on a source: a new drive (a new alert log); the calibrated driver is
        kept and the first face is checked to be the same person (``DriverMonitor.new_drive``).
        The driver demo source turns driver monitoring on: it is what it is for."""
        win = self.win
        if self.monitor is None and win.source_spec.strip().lower() == DRIVER_DEMO:
            win.driver_action.setChecked(True)  # -> set(True)
        if self.monitor is not None:
            self.monitor.new_drive()
            self.panel.clear()

    def update(self, results) -> None:
        """Feed every new DriverState (cheap; it queues its events) and redraw once."""
        if self.panel is None:
            return
        for r in results:
            state = r.extras.get("driver")
            if state is not None:
                self.panel.update_state(state.t, state)
        self.panel.refresh()
