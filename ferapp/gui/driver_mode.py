"""Driver monitoring in the main window: the Qt-free ``ferapp.monitor.DriverMonitor`` as a
pipeline post-processor, and its ``DriverPanel`` in a dock.

A part that owns its action, monitor, panel and dock and talks back through signals; the window
places, shows and sizes the dock (``dock_ready``). It reads the window's
:class:`~ferapp.gui.live_run.LiveRun` for the pipeline it adds the monitor to."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget

from ferapp.gui.live_run import LiveRun

DRIVER_DEMO = "demo:driver"


class DriverMode(QObject):
    """Signals: ``status(text, ms)`` (alerts), ``error(text, as_dialog)``, ``switched(on)``,
    ``dock_ready(dock)`` (driver mode went on: place and show the dock)."""

    status = Signal(str, int)
    error = Signal(str, bool)
    switched = Signal(bool)
    dock_ready = Signal(object)

    def __init__(self, live: LiveRun, parent: QObject | None = None):
        super().__init__(parent)
        self.live = live
        self.monitor = None  # a DriverMonitor while driver mode is on
        self._kept = None  # the monitor of an earlier driver-mode session (its calibration)
        self.panel = None  # the DriverPanel (created once, hidden when off)
        self.dock: QDockWidget | None = None
        self.action = QAction("Driver monitoring", self)
        self.action.setCheckable(True)
        self.action.setToolTip("Eye closure, PERCLOS, yawns and head pose alerts for the main face")
        self.action.toggled.connect(self.set)

    def set(self, on: bool) -> bool:
        """Add/remove the DriverMonitor post-processor and show/hide the driver panel dock."""
        pipeline = self.live.pipeline
        if on:
            if self.monitor is not None:
                return True
            try:
                from ferapp.gui.driver_panel import DriverPanel
                from ferapp.monitor import DriverMonitor
            except ImportError as e:
                self.error.emit(f"Driver monitoring is not available: {e}", False)
                self.action.blockSignals(True)
                self.action.setChecked(False)
                self.action.blockSignals(False)
                return False
            # the same monitor again when monitoring is switched back on: its driver stays calibrated
            self.monitor = self._kept or DriverMonitor()
            self.monitor.new_drive()
            if pipeline is not None:
                pipeline.add_postprocessor(self.monitor.process)
            if self.panel is None:
                self.panel = DriverPanel()
                self.panel.alarm_raised.connect(lambda msg: self.status.emit(f"ALERT: {msg}", 8000))
                self.dock = QDockWidget("Driver monitoring")
                self.dock.setObjectName("driverDock")
                self.dock.setWidget(self.panel)
            self.dock_ready.emit(self.dock)  # the window places, shows and sizes it
            self.panel.clear()
            self.switched.emit(True)
            return True
        monitor, self.monitor = self.monitor, None
        self._kept = monitor or self._kept
        if monitor is not None and pipeline is not None:
            pipeline.remove_postprocessor(monitor.process)
        if self.dock is not None:
            self.dock.hide()
        self.switched.emit(False)
        return True

    def attach(self, pipeline) -> None:
        """A pipeline was built while driver mode was on."""
        if self.monitor is not None:
            pipeline.add_postprocessor(self.monitor.process)

    def new_drive(self, source_spec: str) -> None:
        """Capture starts on a source: a new drive (a new alert log); the calibrated driver is
        kept and the first face is checked to be the same person (``DriverMonitor.new_drive``).
        The driver demo source turns driver monitoring on: it is what it is for."""
        if self.monitor is None and source_spec.strip().lower() == DRIVER_DEMO:
            self.action.setChecked(True)  # -> set(True)
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
