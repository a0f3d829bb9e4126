"""`kaas serve` as a process: health, metrics, and SIGKILL in the middle of a create and of a delete."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from handlers.clusters import ACTION_DELETE_CONFIRMED
from handlers.outbox import HOLD_SECONDS
from providers.sandbox.sandbox import Sandbox, SandboxSettings
from tests.bot.test_shell import _wait_for
from tests.slack_fake import payloads
from tests.slack_fake.server import FakeSlack
from tests.slack_fake.signing import sign

pytestmark = pytest.mark.e2e

KEY = Fernet.generate_key().decode()
SECRET = "serve-signing-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, home: Path, database_url: str, fake: FakeSlack):
        self.port = _free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("KAAS_", "SLACK_"))}
        self.env.update(
            KAAS_HOME=str(home),
            KAAS_DATABASE_URL=database_url,
            KAAS_ENCRYPTION_KEY=KEY,
            KAAS_SLACK_API_URL=fake.base_url,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SECRET,
            KAAS_SANDBOX_CREATE_SECONDS="3",
            KAAS_SANDBOX_DELETE_SECONDS="3",
            KAAS_LEASE_SECONDS="1",
            KAAS_POLL_SECONDS="0.05",
        )
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("kaas serve did not become healthy")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=30)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.communicate(timeout=60)
        return self.proc.returncode

    def post(self, body: bytes) -> requests.Response:
        return requests.post(f"{self.url}/slack/events", data=body, headers=sign(SECRET, body), timeout=10)


def test_postgresql_without_a_shared_encryption_key_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAAS_", "SLACK_"))}
    env.update(
        KAAS_HOME=str(tmp_path),
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        KAAS_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and "KAAS_ENCRYPTION_KEY is not set" in proc.stderr
    assert not (tmp_path / "encryption.key").exists()


def test_missing_slack_settings_refuse_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAAS_", "SLACK_"))}
    env.update(KAAS_HOME=str(tmp_path), SLACK_BOT_TOKEN="changeme")
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and "placeholder" in proc.stderr


def test_killed_mid_create_and_mid_delete_resume(tmp_path: Path, database_url: str) -> None:
    with FakeSlack() as fake:
        fake.add_user("UALICE")
        server = Server(tmp_path / "home", database_url, fake)
        server.start()
        assert requests.get(f"{server.url}/metrics", timeout=5).text.startswith("# HELP")
        server.post(
            payloads.slash_command(
                "create demo --nodes 1", user_id="UALICE", team_id="T0001", channel_id="C0001"
            )
        )
        _wait_for(
            database_url,
            "SELECT count(*) FROM operations WHERE kind = 'create' AND provider_state IS NOT NULL",
        )
        _wait_for(database_url, "SELECT count(*) FROM outbox WHERE message_ts IS NOT NULL")
        server.kill()

        server.start()
        _wait_for(database_url, "SELECT count(*) FROM clusters WHERE name = 'demo' AND state = 'ready'", 60)

        def ready_messages() -> list[dict]:
            return [
                m for m in fake.messages("C0001") if "is ready" in json.dumps(m) and not m.get("thread_ts")
            ]

        fake.wait_for(ready_messages, timeout=20)
        assert len(ready_messages()) == 1, "the restarted process updates the same progress message"
        metrics = requests.get(f"{server.url}/metrics", timeout=5).text
        assert 'kaas_clusters{state="ready"} 1.0' in metrics

        server.post(
            payloads.block_action(
                ACTION_DELETE_CONFIRMED,
                "demo",
                user_id="UALICE",
                team_id="T0001",
                channel_id="C0001",
                message_ts="1700000000.999999",
            )
        )
        _wait_for(
            database_url,
            "SELECT count(*) FROM operations WHERE kind = 'delete' AND provider_state IS NOT NULL",
        )
        server.kill()

        server.start()
        _wait_for(database_url, "SELECT count(*) FROM clusters WHERE name = 'demo' AND state = 'deleted'", 60)
        # A message the killed process had claimed waits out the claim's hold, then arrives.
        fake.wait_for(lambda: "was deleted" in json.dumps(fake.messages("C0001")), timeout=HOLD_SECONDS + 25)
        # No live buttons are left on a deleted cluster's messages.
        _wait_for(database_url, "SELECT count(*) = 0 FROM outbox WHERE version > delivered_version", 20)
        ready = next(
            m for m in fake.messages("C0001") if "is ready" in json.dumps(m) and not m.get("thread_ts")
        )
        assert "cluster_delete" not in json.dumps(ready)
        assert server.stop() == 0
    _wait_for(database_url, "SELECT count(*) = 2 FROM operations WHERE status = 'succeeded'", 5)
    sandbox = Sandbox(SandboxSettings(state_dir=tmp_path / "home" / "sandbox" / "sandbox"))
    try:
        assert sandbox.list_clusters() == []
    finally:
        sandbox.close()
