"""Periodic background jobs (the reconcile pass), each guarded so one failure never stops the loop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Every:
    """Runs `job` every `seconds` on a daemon thread until `stop()`."""

    def __init__(self, seconds: float, job: Callable[[], object], *, name: str):
        self._seconds = seconds
        self._job = job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Every:
        if self._seconds > 0:
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self._seconds):
            try:
                self._job()
            except Exception:  # a failed pass is logged; the next one runs as planned
                log.exception("periodic job %s failed", self._thread.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
