"""A kaas Slack app served over real HTTP, talking to FakeSlack: what the Slack end-to-end tests drive."""

from __future__ import annotations

import json
from dataclasses import dataclass

import requests
from sqlmodel import select

from bot.runtime import Core
from handlers.actors import Actor
from storage.models import Operation
from tests.slack_fake import payloads
from tests.slack_fake.server import FakeSlack
from tests.slack_fake.signing import sign

SECRET = "test-signing-secret"
TEAM = "T0001"
CHANNEL = "C0001"
ALICE = Actor(user_id="UALICE", team_id=TEAM)


@dataclass
class Slack:
    fake: FakeSlack
    core: Core
    url: str

    def post(
        self, body: bytes, *, headers: dict | None = None, secret: str = SECRET, timestamp: int | None = None
    ) -> requests.Response:
        signed = sign(secret, body, timestamp)
        return requests.post(self.url, data=body, headers={**signed, **(headers or {})}, timeout=10)

    def command(self, text: str, user: str = "UALICE", **kw) -> requests.Response:
        return self.post(payloads.slash_command(text, user_id=user, team_id=TEAM, channel_id=CHANNEL, **kw))

    def click(
        self, action_id: str, value: str, *, user: str = "UALICE", message_ts: str = "1700000000.000001"
    ):
        return self.post(
            payloads.block_action(
                action_id, value, user_id=user, team_id=TEAM, channel_id=CHANNEL, message_ts=message_ts
            )
        )

    def operations(self) -> list[Operation]:
        with self.core.runner._sessions() as s:
            return list(s.exec(select(Operation).order_by(Operation.id)))

    def wait_text(self, fragment: str, *, channel: str = CHANNEL, timeout: float = 30) -> None:
        def seen() -> bool:
            return any(fragment in json.dumps(m) for m in self.fake.messages(channel))

        self.fake.wait_for(seen, timeout=timeout)
