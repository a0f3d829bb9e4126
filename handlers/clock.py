"""Time as a dependency: the runner and every background loop read it from a `Clock`, so tests move a fake
one instead of sleeping."""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time for what is stored (leases, timestamps) and a monotonic one for local timers."""

    def now(self) -> dt.datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clocks."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()
