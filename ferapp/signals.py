"""Stopping a command cleanly on Ctrl-C or SIGTERM (Qt-free, no torch).

``StopOnSignals`` is used as a context manager around long work (``ferapp analyze``, ``ferapp
train``): while active, the first SIGINT and the first SIGTERM only set an event, which the work
checks at its next safe point (a frame, a batch) to finish cleanly; a second signal of the same
kind acts as usual (``once=False``: every signal only sets the event, for a torchrun worker,
which gets Ctrl-C from the terminal and the same signal again from its agent, and which the
agent kills anyway if it does not stop). ``signum`` is the first signal received, so the
command can exit 130 (SIGINT) or 143 (SIGTERM) as shells and schedulers expect.
"""

from __future__ import annotations

import signal
import threading


class StopOnSignals:
    """While active, the first SIGINT/SIGTERM only sets a flag (a second one acts as usual)."""

    def __init__(self, event: threading.Event | None = None, once: bool = True):
        self._flag = event if event is not None else threading.Event()
        self._once = once
        self._old: dict = {}
        self.signum: int | None = None

    @property
    def event(self) -> threading.Event:
        return self._flag

    def is_set(self) -> bool:
        return self._flag.is_set()

    def exit_code(self) -> int:
        """128 + the first signal's number: 130 for Ctrl-C, 143 for SIGTERM."""
        return 128 + int(self.signum or signal.SIGINT)

    def _handle(self, signum, _frame) -> None:
        if self.signum is None:
            self.signum = signum
        self._flag.set()
        if self._once:
            signal.signal(signum, self._old.get(signum, signal.SIG_DFL))

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
