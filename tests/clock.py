"""A clock tests move by hand: the runner and the loops read it, nothing sleeps."""

from __future__ import annotations

import datetime as dt
import threading


class FakeClock:
    """Wall and monotonic time that only move when a test calls `advance`.

    It starts at the real time, so rows that code without a clock stamps (a request recorded now) are not
    in this clock's future."""

    def __init__(self, start: dt.datetime | None = None):
        self._now = start or dt.datetime.now(dt.UTC)
        self._monotonic = 1000.0
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += dt.timedelta(seconds=seconds)
            self._monotonic += seconds
