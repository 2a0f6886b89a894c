"""Alert building blocks: a hysteresis latch, a sustained-condition rule, and the event record.

A rule turns a noisy per-frame condition into few, well-timed events:

1. :class:`HysteresisLatch` switches ON when a value crosses the *enter* threshold and only
   switches OFF when it crosses back past a separate *exit* threshold, so a signal dithering
   around one threshold does not toggle.
2. :class:`SustainedRule` opens an :class:`AlertEvent` once the latch has been ON for
   ``min_duration`` seconds. The event's ``start`` is back-dated to the first frame on which
   the latch switched ON (the moment the eyes closed, not the moment we became sure), and its
   ``end`` is the first frame on which the latch is OFF again. After an event ends, a new
   one of the same type cannot open until ``cooldown`` seconds have passed.

:class:`PerclosWindow` is the time-weighted closed-eye fraction over a sliding window (PERCLOS).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

ALERT_TYPES: tuple[str, ...] = ("drowsy", "perclos", "yawn", "distraction", "face_lost", "emotion")


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert episode. ``end`` is None while it is still open.

    ``peak`` is the most extreme value of the measure behind the alert during the episode:
    drowsy -> lowest EAR, perclos -> highest PERCLOS, yawn -> highest MAR, distraction ->
    largest off-road angle in degrees, face_lost -> seconds without a face, emotion -> highest
    probability of the watched labels. ``detail`` says more (e.g. which emotion).
    """

    type: str
    start: float
    end: float | None
    severity: str  # "warning" | "critical"
    peak: float
    detail: str = ""

    @property
    def is_open(self) -> bool:
        return self.end is None

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def describe(self) -> str:
        text = self.type.replace("_", " ")
        return f"{text} ({self.detail})" if self.detail else text


class HysteresisLatch:
    """Boolean state with separate on/off thresholds.

    ``above=True``: ON when value > enter, OFF when value < exit (exit <= enter).
    ``above=False``: ON when value < enter, OFF when value > exit (exit >= enter).
    NaN values leave the state unchanged.
    """

    def __init__(self, enter: float, exit: float, above: bool = True):
        if above and exit > enter or (not above) and exit < enter:
            raise ValueError(f"exit threshold {exit} must be on the safe side of enter {enter}")
        self.enter, self.exit, self.above = float(enter), float(exit), above
        self.on = False

    def set_thresholds(self, enter: float, exit: float) -> None:
        self.enter, self.exit = float(enter), float(exit)

    def update(self, value: float) -> bool:
        if value is None or math.isnan(value):
            return self.on
        if self.above:
            self.on = value >= self.exit if self.on else value > self.enter
        else:
            self.on = value <= self.exit if self.on else value < self.enter
        return self.on

    def reset(self) -> None:
        self.on = False


class SustainedRule:
    """Opens an event when a condition holds for ``min_duration`` s; see module docstring.

    ``peak_mode`` is "max" or "min": how the event's ``peak`` aggregates the values fed in.
    """

    def __init__(
        self, type: str, min_duration: float, cooldown: float, severity: str, peak_mode: str = "max"
    ):
        self.type = type
        self.min_duration = float(min_duration)
        self.cooldown = float(cooldown)
        self.severity = severity
        self.peak_mode = peak_mode
        self.reset()

    def reset(self) -> None:
        self.onset: float | None = None  # when the current ON stretch began
        self.onset_peak = math.nan
        self.event: AlertEvent | None = None
        self.last_end = -math.inf

    @property
    def active(self) -> bool:
        return self.event is not None

    def _better(self, a: float, b: float) -> float:
        if math.isnan(a):
            return b
        if math.isnan(b):
            return a
        return max(a, b) if self.peak_mode == "max" else min(a, b)

    def update(
        self, t: float, on: bool, value: float = math.nan, detail: str = ""
    ) -> tuple[AlertEvent | None, AlertEvent | None]:
        """Feed one frame. Returns (event started now, event ended now), either may be None."""
        started = ended = None
        if on:
            if self.onset is None:
                self.onset, self.onset_peak = t, value
            else:
                self.onset_peak = self._better(self.onset_peak, value)
            if self.event is not None:
                peak = self._better(self.event.peak, value)
                if peak != self.event.peak or (detail and detail != self.event.detail):
                    self.event = replace(self.event, peak=peak, detail=detail or self.event.detail)
            elif t - self.onset >= self.min_duration - 1e-9 and t >= self.last_end + self.cooldown:
                self.event = AlertEvent(
                    self.type, self.onset, None, self.severity, float(self.onset_peak), detail
                )
                started = self.event
        else:
            self.onset = None
            self.onset_peak = math.nan
            if self.event is not None:
                ended = self.close(t)
        return started, ended

    def close(self, t: float) -> AlertEvent | None:
        """Close the open event (if any) at time t and return it."""
        if self.event is None:
            return None
        self.last_end = float(max(t, self.event.start))
        ended = replace(self.event, end=self.last_end)
        self.event = None
        return ended


class PerclosWindow:
    """Time-weighted fraction of closed-eye time in a sliding window."""

    def __init__(self, window: float):
        self.window = window
        self.segments: deque[tuple[float, float, bool]] = deque()  # (t0, t1, closed)

    def add(self, t0: float, t1: float, closed: bool) -> None:
        if t1 > t0:
            self.segments.append((t0, t1, closed))

    def value(self, t: float) -> tuple[float, float]:
        """(perclos, observed seconds) over [t - window, t]."""
        lo = t - self.window
        while self.segments and self.segments[0][1] <= lo:
            self.segments.popleft()
        total = closed = 0.0
        for t0, t1, c in self.segments:
            d = t1 - max(t0, lo)
            total += d
            if c:
                closed += d
        return (closed / total if total > 0 else 0.0), total

    def clear(self) -> None:
        self.segments.clear()
