"""Driver monitoring (Qt-free): EAR, MAR, head pose, PERCLOS, blinks, yawns and alert rules.

Typical use as a pipeline post-processor::

    monitor = DriverMonitor(DriverMonitorConfig())
    pipeline.add_postprocessor(monitor.process)
    ...  # each FrameResult now has extras["driver"] (a DriverState) and per-face DRIVER_COLUMNS
    monitor.finish(last_t); write_events_csv(path, monitor.events)
"""

from ferapp.monitor.events import DRIVER_COLUMNS, format_events, read_events_csv, write_events_csv
from ferapp.monitor.measures import (
    FaceMeasures,
    HeadPose,
    eye_aspect_ratio,
    eye_aspect_ratios,
    head_pose,
    measure_face,
    mouth_aspect_ratio,
)
from ferapp.monitor.rules import ALERT_TYPES, AlertEvent
from ferapp.monitor.state import DriverMonitor, DriverMonitorConfig, DriverState, driver_extras

__all__ = [
    "ALERT_TYPES",
    "AlertEvent",
    "DRIVER_COLUMNS",
    "DriverMonitor",
    "DriverMonitorConfig",
    "DriverState",
    "FaceMeasures",
    "HeadPose",
    "driver_extras",
    "eye_aspect_ratio",
    "eye_aspect_ratios",
    "format_events",
    "head_pose",
    "measure_face",
    "mouth_aspect_ratio",
    "read_events_csv",
    "write_events_csv",
]
