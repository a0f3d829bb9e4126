"""Operation progress in Slack: one channel message per operation, updated in place, details in its thread.

Slack allows roughly one `chat.update` per second per message before it rate-limits; kaas keeps to at most
one per `min_interval` (2 s) per message. Updates arriving faster are coalesced: the latest one is sent when
the interval has passed, so the final state always lands. The message's ts is saved on the operation so a
restarted process keeps updating the same message.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import views
from handlers.replies import OperationUpdate

log = logging.getLogger(__name__)


@dataclass
class _Message:
    channel: str
    ts: str | None = None
    last_sent: float = float("-inf")
    pending: OperationUpdate | None = None
    scheduled: bool = False
    last_step: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


class SlackProgress:
    """A `ProgressSink` that keeps one Slack message per operation up to date."""

    def __init__(
        self,
        client: WebClient,
        *,
        remember_message: Callable[[int, str, str], None],
        min_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self._remember = remember_message
        self._interval = min_interval
        self._clock = clock
        self._messages: dict[int, _Message] = {}
        self._lock = threading.Lock()
        # One flusher thread for every coalesced update, however many operations are under way.
        self._due: list[tuple[float, int]] = []
        self._wakeup = threading.Condition(self._lock)
        self._flusher: threading.Thread | None = None
        self._closed = False

    def seen(self, operation_id: int) -> bool:
        with self._lock:
            return operation_id in self._messages

    def publish(self, update: OperationUpdate) -> None:
        channel = update.channel_id
        if not channel:
            return
        with self._lock:
            msg = self._messages.get(update.operation_id)
            if msg is None:
                msg = self._messages[update.operation_id] = _Message(channel=channel, ts=update.message_ts)
        with msg.lock:
            if msg.ts is None:
                self._post(update, msg)
                return
            due = msg.last_sent + self._interval
            if due > self._clock():
                msg.pending = update
                if not msg.scheduled:
                    msg.scheduled = True
                    self._schedule(due, update.operation_id)
                return
            self._update(update, msg)

    def _schedule(self, due: float, operation_id: int) -> None:
        with self._wakeup:
            heapq.heappush(self._due, (due, operation_id))
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name="slack-progress", daemon=True)
                self._flusher.start()
            self._wakeup.notify()

    def _flush_loop(self) -> None:
        while True:
            with self._wakeup:
                while not self._closed and (not self._due or self._due[0][0] > self._clock()):
                    self._wakeup.wait(self._due[0][0] - self._clock() if self._due else None)
                if self._closed and not self._due:
                    return
                _, operation_id = heapq.heappop(self._due)
            self._flush(operation_id)

    def _flush(self, operation_id: int) -> None:
        msg = self._messages.get(operation_id)
        if msg is None:
            return
        with msg.lock:
            msg.scheduled = False
            update, msg.pending = msg.pending, None
            if update is not None:
                self._update(update, msg)

    def _post(self, update: OperationUpdate, msg: _Message) -> None:
        body = views.progress(update)
        try:
            resp = self._client.chat_postMessage(channel=msg.channel, **body)
        except SlackApiError as e:
            log.warning(
                "posting progress of operation %s failed: %s", update.operation_id, e.response.get("error")
            )
            return
        msg.ts = resp["ts"]
        msg.last_sent = self._clock()
        self._remember(update.operation_id, msg.channel, msg.ts)
        self._thread_note(update, msg)

    def _update(self, update: OperationUpdate, msg: _Message) -> None:
        try:
            self._client.chat_update(channel=msg.channel, ts=msg.ts, **views.progress(update))
        except SlackApiError as e:
            log.warning(
                "updating progress of operation %s failed: %s", update.operation_id, e.response.get("error")
            )
        msg.last_sent = self._clock()
        self._thread_note(update, msg)
        if update.final:
            with self._lock:
                self._messages.pop(update.operation_id, None)

    def _thread_note(self, update: OperationUpdate, msg: _Message) -> None:
        """Each new step (and the outcome) goes to the message's thread: the details, not the headline."""
        note = update.text if update.final else update.step
        if not note or note == msg.last_step:
            return
        msg.last_step = note
        try:
            self._client.chat_postMessage(channel=msg.channel, thread_ts=msg.ts, **views.thread_note(note))
        except SlackApiError as e:
            log.warning("posting a thread note failed: %s", e.response.get("error"))

    def close(self) -> None:
        """Send every coalesced update now (used at shutdown) and stop the flusher."""
        with self._wakeup:
            pending, self._due = [op_id for _, op_id in self._due], []
            self._closed = True
            self._wakeup.notify()
        for op_id in pending:
            self._flush(op_id)
