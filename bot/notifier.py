"""Operation messages in Slack: one channel message per operation, updated in place, details in its thread.

This is the outbox's Slack deliverer (see `handlers.outbox`): the sender decides when a message is sent (at
most one `chat.update` per message per 2 s, coalescing); this module only turns a version into Web API
calls and Slack's answers into what the sender should do next. Its client has no retry handler of its own,
so a 429 comes back here and only that message waits for its `Retry-After` while the others go on.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import views
from handlers.outbox import DeliveryRefused, DeliveryRetry, Outgoing

log = logging.getLogger(__name__)

MIN_INTERVAL = 2.0
"""Seconds between two updates of one message; Slack allows about one a second before rate-limiting."""

# Errors that no retry can fix for this message: it is given up (the reason is logged and kept on the row).
_REFUSED = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "invalid_blocks",
        "no_text",
        "restricted_action",
        "cant_update_message",
        "edit_window_closed",
    }
)


class SlackDeliverer:
    """Posts an operation's message, updates it with each delivered version, and notes steps in its thread."""

    def __init__(self, client: WebClient):
        self._client = client

    def deliver(self, outgoing: Outgoing) -> str | None:
        update = outgoing.update
        channel = update.channel_id
        if not channel:
            return None  # requested where there is no channel to report in (e.g. the shell)
        body = views.progress(update)
        ts = outgoing.message_ts
        try:
            if ts is not None:
                try:
                    self._client.chat_update(channel=channel, ts=ts, **body)
                except SlackApiError as e:
                    if e.response.get("error") != "message_not_found":
                        raise
                    ts = None  # someone deleted the progress message: post it again
            if ts is None:
                ts = str(self._client.chat_postMessage(channel=channel, **body)["ts"])
        except SlackApiError as e:
            raise _outcome(e) from None
        except (SlackClientError, OSError) as e:
            raise DeliveryRetry(f"Slack unreachable: {type(e).__name__}") from None
        self._thread_notes(channel, ts, outgoing)
        return ts

    def _thread_notes(self, channel: str, ts: str, outgoing: Outgoing) -> None:
        """New steps, then the outcome, go to the message's thread: the details, not the headline."""
        notes = [n for n in outgoing.new_notes if n]
        if outgoing.update.final:
            notes.append(outgoing.update.text)
        if not notes:
            return
        try:
            self._client.chat_postMessage(
                channel=channel, thread_ts=ts, **views.thread_note("\n".join(notes))
            )
        except (SlackApiError, SlackClientError, OSError) as e:
            # The headline is delivered; a lost detail line is not worth posting the headline twice.
            log.warning("posting a thread note failed: %s", getattr(e, "response", {}) or type(e).__name__)


def _outcome(e: SlackApiError) -> Exception:
    error = str(e.response.get("error") or "")
    if e.response.status_code == 429 or error == "ratelimited":
        retry_after = e.response.headers.get("Retry-After") or e.response.headers.get("retry-after")
        try:
            seconds = float(retry_after) if retry_after is not None else None
        except ValueError:
            seconds = None
        return DeliveryRetry("rate limited by Slack", retry_after=seconds)
    if error in _REFUSED:
        return DeliveryRefused(error)
    return DeliveryRetry(error or f"HTTP {e.response.status_code}")
