"""What the engine reports about itself (for `/metrics`), as a protocol the composition root implements.

Handlers never import a metrics library; they call an `Observer`, and the default one does nothing.
"""

from __future__ import annotations

import contextvars
from typing import Protocol

operation_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("kaas_operation_id", default=None)
"""The operation whose step runs in this context (for logs)."""
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("kaas_request_id", default=None)
"""The user request being answered in this context (for logs)."""


class Observer(Protocol):
    def step_finished(self, kind: str, seconds: float) -> None:
        """One step of an operation of `kind` took `seconds`."""
        ...

    def operation_ended(self, kind: str, status: str) -> None: ...

    def provider_error(self, provider: str, error_class: str) -> None:
        """A provider call failed; `error_class` is transient or permanent."""
        ...


class NullObserver:
    def step_finished(self, kind: str, seconds: float) -> None:
        pass

    def operation_ended(self, kind: str, status: str) -> None:
        pass

    def provider_error(self, provider: str, error_class: str) -> None:
        pass
