"""Who is asking: the identity every handler call carries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """A Slack user of one workspace (or the local shell user), and whether they are a KaaS admin."""

    user_id: str
    team_id: str
    is_admin: bool = False
    channel_id: str | None = None
    """Where the request came from; progress of the operations it starts is posted there."""


SLACK_AUDIENCE = "slack"
"""Who delivers the messages of requests made in Slack (see `storage.outbox`); a shell names itself."""


@dataclass(frozen=True)
class Origin:
    """Where an operation's progress message lives (Slack channel and message), if anywhere, and which
    sender delivers it."""

    channel_id: str | None = None
    thread_ts: str | None = None
    audience: str = SLACK_AUDIENCE
