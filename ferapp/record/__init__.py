"""Timeline recording: the one format the GUI records and the CLI writes."""

from ferapp.record.timeline import (
    TIMELINE_COLUMNS,
    Timeline,
    TimelineError,
    TimelineWriter,
    read_timeline,
)

__all__ = ["TIMELINE_COLUMNS", "Timeline", "TimelineError", "TimelineWriter", "read_timeline"]
