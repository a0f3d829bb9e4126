"""Operation progress in Slack: one channel message per operation, updated in place, details in its thread.

Slack allows roughly one `chat.update` per second per message before it rate-limits; kaas keeps to at most
one per `min_interval` (2 s) per message. Updates arriving faster are coalesced: the latest one is sent when
the interval has passed, so the final state always lands. The message's ts is saved on the operation so a
restarted process keeps updating the same message.
"""

from __future__ import annotations

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
    timer: threading.Timer | None = None
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
            wait = msg.last_sent + self._interval - self._clock()
            if wait > 0:
                msg.pending = update
                if msg.timer is None:
                    msg.timer = threading.Timer(wait, self._flush, args=(update.operation_id,))
                    msg.timer.daemon = True
                    msg.timer.start()
                return
            self._update(update, msg)

    def _flush(self, operation_id: int) -> None:
        msg = self._messages.get(operation_id)
        if msg is None:
            return
        with msg.lock:
            msg.timer = None
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
        """Send every coalesced update now (used at shutdown)."""
        with self._lock:
            ids = list(self._messages)
        for op_id in ids:
            msg = self._messages.get(op_id)
            if msg is not None and msg.timer is not None:
                msg.timer.cancel()
                self._flush(op_id)
