"""What starting the window costs, as the user sees it: seconds from the process start to the
window's first paint, to the pipeline being built and to the first result, the CPU time used
by then, and how well the event loop kept running while the pipeline built (ticks of a 20 ms
timer counted during the build vs the ticks that fit in it). ``ferapp gui --exit-after`` prints
these in its ``stats`` line; ``ferapp bench`` (gui section) reports them.
"""

from __future__ import annotations

import resource
import time

from PySide6.QtCore import QEvent, QObject, QTimer

from ferapp.startup import process_age_s


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class StartupWatch(QObject):
    TICK_MS = 20

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.first_paint_s: float | None = None
        self.pipeline_ready_s: float | None = None
        self.first_result_s: float | None = None
        self.first_result_cpu_s: float | None = None
        self.build_s: float | None = None
        self.build_ticks = 0
        self._build_t0: float | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(self.TICK_MS)
        self._timer.timeout.connect(self._tick)
        win.video.installEventFilter(self)
        win.pipeline_ready.connect(self._ready)
        win.bridge.result_ready.connect(self._result)

    def build_started(self) -> None:
        """Call right before ``win.start()``: the build's ticks are counted from here."""
        self._build_t0 = time.monotonic()
        self._timer.start()

    def eventFilter(self, obj, event) -> bool:  # Qt API
        if event.type() == QEvent.Type.Paint and self.first_paint_s is None:
            self.first_paint_s = process_age_s()
            obj.removeEventFilter(self)
        return False

    def _tick(self) -> None:
        if self.win.session.building:
            self.build_ticks += 1

    def _ready(self) -> None:
        if self.pipeline_ready_s is None:
            self.pipeline_ready_s = process_age_s()
            if self._build_t0 is not None:
                self.build_s = time.monotonic() - self._build_t0

    def _result(self, _result) -> None:
        if self.first_result_s is None:
            self.first_result_s = process_age_s()
            self.first_result_cpu_s = _cpu_s()
            self._timer.stop()
            self.win.bridge.result_ready.disconnect(self._result)

    @property
    def build_expected_ticks(self) -> int | None:
        return None if self.build_s is None else int(self.build_s * 1000 / self.TICK_MS)

    def figures(self) -> dict:
        return {
            "first_paint_s": self.first_paint_s,
            "pipeline_ready_s": self.pipeline_ready_s,
            "first_result_s": self.first_result_s,
            "first_result_cpu_s": self.first_result_cpu_s,
            "build_s": self.build_s,
            "build_ticks": self.build_ticks,
            "build_expected_ticks": self.build_expected_ticks,
        }
