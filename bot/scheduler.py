"""Periodic background jobs (the reconcile pass), each guarded so one failure never stops the loop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Every:
    """Runs `job` every `seconds` on a daemon thread until `stop()`."""

    def __init__(self, seconds: float, job: Callable[[], object], *, name: str):
        self.seconds = seconds
        self.name = name
        self._beat: float | None = None
        self._job = job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Every:
        if self.seconds > 0:
            self._thread.start()
        return self

    def heartbeat_age(self) -> float | None:
        """Seconds since the loop last went round (None before its first round)."""
        return None if self._beat is None else time.monotonic() - self._beat

    def _loop(self) -> None:
        self._beat = time.monotonic()
        while not self._stop.wait(self.seconds):
            self._beat = time.monotonic()
            try:
                self._job()
            except Exception:  # a failed pass is logged; the next one runs as planned
                log.exception("periodic job %s failed", self._thread.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
