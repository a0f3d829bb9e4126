"""Delivering the outbox: one guarded sender per process and audience claims what is due and hands each
message to a `Deliverer` (Slack, the terminal, a test), then records the outcome.

The sender is the only thing that talks to the chat about operations, so it alone decides the pace: at
most one update per message per `min_interval` (coalescing whatever was written meanwhile), a 429's
`Retry-After` honoured for that message while others go on, network errors retried with backoff, and a
message the chat refuses for good given up with the reason logged. Everything it must not lose is in the
database, so a killed process loses nothing: the next sender delivers the newest version, final included.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlmodel import Session

from handlers.clock import SYSTEM_CLOCK, Clock
from handlers.replies import Button, Confirm, OperationUpdate
from handlers.runner import default_owner
from storage import outbox

log = logging.getLogger(__name__)

HOLD_SECONDS = 15.0
"""How long a claim keeps other senders off a message: longer than one delivery may take (the Slack
deliverer's client gives up after 10 s), short enough that a killed sender's claims lapse soon."""
MAX_BACKOFF_SECONDS = 300.0
GIVE_UP_AFTER = 12
"""Failed deliveries in a row after which a message is dropped (about half an hour of backoff)."""


@dataclass(frozen=True)
class Outgoing:
    """One message to deliver: its newest version, the step notes not yet delivered, and the chat message
    an earlier version made (None until it was posted)."""

    update: OperationUpdate
    new_notes: tuple[str, ...]
    message_ts: str | None


class Deliverer(Protocol):
    """Shows messages to their audience. Returns the chat message's id (or None where there is none)."""

    def deliver(self, outgoing: Outgoing) -> str | None: ...


class DeliveryRetry(Exception):
    """Try this message again later (rate limited, network trouble)."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class DeliveryRefused(Exception):
    """The chat will never take this version (channel gone, bot removed…): give it up."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def update_from_body(body: dict[str, Any]) -> OperationUpdate:
    """The update an outbox row keeps."""
    fields = {f.name for f in dataclasses.fields(OperationUpdate)}
    values = {k: v for k, v in body.items() if k in fields}
    values["buttons"] = tuple(
        Button(
            **{
                **button,
                "confirm": Confirm(**button["confirm"]) if button.get("confirm") else None,
            }
        )
        for button in body.get("buttons") or ()
    )
    return OperationUpdate(**values)


class ProgressSink(Protocol):
    """Where a face shows operation progress as it comes (a terminal, a test's recorder)."""

    def publish(self, update: OperationUpdate) -> None: ...


class SinkDeliverer:
    """Delivers to a `ProgressSink` (the terminal, a test): one update per step note it has not seen (steps
    coalesced in the outbox still show), then the newest version."""

    def __init__(self, sink: ProgressSink):
        self._sink = sink

    def deliver(self, outgoing: Outgoing) -> str | None:
        latest = outgoing.update
        for note in outgoing.new_notes:
            if note != latest.step:
                self._sink.publish(dataclasses.replace(latest, step=note, final=False, status="running"))
        self._sink.publish(latest)
        return outgoing.message_ts


class OutboxSender:
    """Claims due outbox messages of one audience (None: every audience) and delivers them."""

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        deliverer: Deliverer,
        audience: str | None,
        min_interval: float = 2.0,
        poll_seconds: float = 0.25,
        batch: int = 50,
        owner: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self._sessions = sessions
        self._deliverer = deliverer
        self._audience = audience
        self._interval = min_interval
        self._poll = poll_seconds
        self._batch = batch
        self.owner = owner or default_owner()
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beat: float | None = None

    def start(self) -> OutboxSender:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="kaas-outbox", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Deliver what is due now, then stop (what is not due yet waits for the next process)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def wake(self) -> None:
        """Something was written: look now rather than at the next poll."""
        self._wake.set()

    def heartbeat_age(self) -> float | None:
        """Seconds since the loop last went round, None before it started."""
        return None if self._beat is None else self._clock.monotonic() - self._beat

    def run_once(self) -> int:
        """Deliver every message due now; how many deliveries were attempted."""
        now = self._clock.now()
        with self._sessions() as session:
            if not outbox.any_due(session, audience=self._audience, now=now, min_interval=self._interval):
                return 0
            rows = outbox.claim(
                session,
                audience=self._audience,
                owner=self.owner,
                now=now,
                limit=self._batch,
                hold_seconds=HOLD_SECONDS,
                min_interval=self._interval,
            )
        for row in rows:
            self._deliver_one(row)
        return len(rows)

    def _deliver_one(self, row) -> None:
        notes = list(row.notes)
        outgoing = Outgoing(
            update=update_from_body(row.body),
            new_notes=tuple(notes[row.delivered_notes :]),
            message_ts=row.message_ts,
        )
        now = self._clock.now()
        try:
            message_ts = self._deliverer.deliver(outgoing)
        except DeliveryRetry as e:
            if row.attempts + 1 >= GIVE_UP_AFTER:
                log.error(
                    "gave up delivering message %s after %s tries: %s", row.key, row.attempts + 1, e.reason
                )
                self._settle(outbox.give_up, row, version=row.version, notes=len(notes), error=e.reason)
                return
            wait = max(e.retry_after or 0.0, self._backoff(row.attempts))
            log.info("message %s: retrying in %.1f s (%s)", row.key, wait, e.reason)
            self._settle(outbox.retry, row, at=now + dt.timedelta(seconds=wait), error=e.reason)
            return
        except DeliveryRefused as e:
            log.warning("message %s refused by the chat: %s", row.key, e.reason)
            self._settle(outbox.give_up, row, version=row.version, notes=len(notes), error=e.reason)
            return
        except Exception as e:  # a bug in a deliverer must not stop the others: back off and retry
            log.exception("delivering message %s failed", row.key)
            at = now + dt.timedelta(seconds=self._backoff(row.attempts))
            self._settle(outbox.retry, row, at=at, error=type(e).__name__)
            return
        self._settle(
            outbox.delivered,
            row,
            version=row.version,
            notes=len(notes),
            message_ts=message_ts,
            now=self._clock.now(),
        )

    def _settle(self, outcome: Callable[..., bool], row, **values: Any) -> None:
        """Record what became of a claimed message (fenced by this sender's claim)."""
        with self._sessions() as session:
            outcome(session, message_id=row.id, owner=self.owner, **values)

    def _backoff(self, attempts: int) -> float:
        return min(self._poll * 2 ** (attempts + 1), MAX_BACKOFF_SECONDS)

    def _idle_seconds(self) -> float:
        with self._sessions() as session:
            due = outbox.next_due_in(
                session, audience=self._audience, now=self._clock.now(), min_interval=self._interval
            )
        return self._poll if due is None else max(0.0, min(due, self._poll))

    def _loop(self) -> None:
        while True:
            self._beat = self._clock.monotonic()
            try:
                while self.run_once():
                    pass
                wait = self._idle_seconds()
            except Exception:  # the sender must outlive a database hiccup
                log.exception("delivering the outbox failed")
                wait = self._poll
            if self._stop.is_set():
                return
            self._wake.wait(wait)
            self._wake.clear()
