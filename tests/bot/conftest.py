"""Fixtures of the bot tests: the Slack app end to end (see tests/bot/slack_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runtime import build_core
from bot.server import build_http_app, build_slack, web_client
from bot.settings import Settings
from providers.sandbox.server import ServerThread
from tests.bot.slack_harness import SECRET, Slack
from tests.slack_fake.server import FakeSlack


@pytest.fixture
def slack(tmp_path: Path, database_url: str) -> Iterator[Slack]:
    with FakeSlack() as fake:
        for user in ("UALICE", "UBOB", "UADMIN"):
            fake.add_user(user)
        settings = Settings(
            home=tmp_path / "home",
            database_url=database_url,
            slack_bot_token="xoxb-test",
            slack_signing_secret=SECRET,
            slack_api_url=fake.base_url,
            admins="UADMIN",
            sandbox_create_seconds=0.3,
            sandbox_delete_seconds=0.1,
            poll_seconds=0.05,
        )
        core = build_core(settings)
        bolt, _ = build_slack(core, web_client(core))
        core.start()
        server = ServerThread(build_http_app(core, bolt), host="127.0.0.1", port=0)
        port = server.start()
        try:
            yield Slack(fake, core, f"http://127.0.0.1:{port}/slack/events")
        finally:
            server.stop()
            core.close()
