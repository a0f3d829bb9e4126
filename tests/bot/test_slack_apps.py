"""Apps, checks and backups through Slack: signed requests in, FakeSlack's Web API out, sandbox clusters."""

from __future__ import annotations

import json
import re

import pytest

from handlers.apps import ACTION_UNDEPLOY_CONFIRMED
from tests.bot.slack_harness import CHANNEL, TEAM, Slack
from tests.manifests import deployment, documents, secret
from tests.slack_fake import payloads

pytestmark = pytest.mark.e2e

WEB = documents(secret("web-secret", password="s3cr3t-never-in-a-channel"), deployment("web", replicas=1))


def _ready_cluster(slack: Slack, name: str = "demo") -> None:
    assert slack.command(f"create {name} --nodes 2").status_code == 200
    slack.wait_text(f"`{name}` is ready")


def _ephemeral_text(slack: Slack, fragment: str, timeout: float = 30) -> str:
    def seen():
        return next(
            (json.dumps(m) for m in slack.fake.ephemerals(CHANNEL) if fragment in json.dumps(m)), None
        )

    return slack.fake.wait_for(seen, timeout=timeout)


def _deploy_form(cluster: str, app: str, manifest: str, namespace: str = "") -> dict:
    def value(text: str) -> dict:
        return {"value": {"type": "plain_text_input", "value": text or None}}

    return {
        "cluster": value(cluster),
        "app": value(app),
        "namespace": value(namespace),
        "manifest": value(manifest),
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deploy_a_slack_file_list_check_and_undeploy(slack: Slack) -> None:
    _ready_cluster(slack)
    file_id = slack.fake.add_file("web.yaml", WEB.encode())
    assert slack.command(f"deploy demo web@v1 {file_id}").status_code == 200
    slack.wait_text("`web@v1` is ready on cluster `demo`", timeout=60)
    downloads = slack.fake.calls_to("files.download")
    assert downloads and downloads[0].headers["authorization"] == "Bearer xoxb-test"

    slack.command("apps demo")
    listing = _ephemeral_text(slack, "Apps on demo")
    assert "web-v1" in listing and "ready" in listing

    slack.command("check demo")
    check = next(m for m in [json.loads(_ephemeral_text(slack, "Check of demo"))])
    assert len(check["blocks"]) <= 50

    slack.command("undeploy demo web")
    confirm = _ephemeral_text(slack, "Remove every version of")
    assert ACTION_UNDEPLOY_CONFIRMED in confirm
    slack.click(ACTION_UNDEPLOY_CONFIRMED, "demo:web", message_ts="1700000000.000777")
    slack.wait_text("`web` was removed from cluster `demo`", timeout=60)
    assert "s3cr3t-never-in-a-channel" not in slack.fake.all_text()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deploy_form_pasted_yaml_errors_come_back_in_the_form(slack: Slack) -> None:
    _ready_cluster(slack)
    slack.command("deploy demo web@v2")
    view = slack.fake.wait_for(lambda: slack.fake.views and slack.fake.views[-1])
    assert view["callback_id"] == "deploy_app"
    meta = view["private_metadata"]

    bad = slack.post(
        payloads.view_submission(
            "deploy_app", _deploy_form("demo", "web@v2", "a: [1, 2\n"), team_id=TEAM, private_metadata=meta
        )
    )
    assert bad.json()["response_action"] == "errors"
    assert "line" in bad.json()["errors"]["manifest"]

    wrong_app = slack.post(
        payloads.view_submission(
            "deploy_app", _deploy_form("demo", "Web!", WEB), team_id=TEAM, private_metadata=meta
        )
    )
    assert "app" in wrong_app.json()["errors"]

    ok = slack.post(
        payloads.view_submission(
            "deploy_app",
            _deploy_form("demo", "web@v2", WEB),
            team_id=TEAM,
            private_metadata=meta,
            view_id="V9",
        )
    )
    assert ok.status_code == 200 and not ok.content.strip(b"{} ")
    slack.wait_text("`web@v2` is ready on cluster `demo`", timeout=60)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_backup_list_and_restore_through_slack(slack: Slack) -> None:
    _ready_cluster(slack)
    file_id = slack.fake.add_file("web.yaml", WEB.encode())
    slack.command(f"deploy demo web@v1 {file_id}")
    slack.wait_text("`web@v1` is ready", timeout=60)
    slack.command("backup demo --namespace web-v1")
    slack.wait_text("Backup `demo-", timeout=60)
    slack.command("backups demo")
    listing = _ephemeral_text(slack, "Backups of demo")
    name = re.search(r"demo-[0-9]{8}-[0-9]{6}", listing).group(0)
    slack.command(f"restore demo {name}")
    slack.wait_text("restored to cluster `demo`", timeout=60)
    assert "s3cr3t-never-in-a-channel" not in slack.fake.all_text()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("deploy demo web@v1 ./web.yaml", "cannot read files on your computer"),
        ("deploy demo web@v1 F0000009999", "could not read Slack file"),
        ("deploy demo web@v1 http://169.254.169.254/latest", "address"),
        ("deploy ghost web@v1 https://example.com/x.yaml", "no cluster called"),
        ("check ghost", "no cluster called"),
        ("backups ghost", "no cluster called"),
        ("restore ghost b-1", "no cluster called"),
    ],
)
def test_hostile_app_commands_answer_with_an_error(slack: Slack, text: str, fragment: str) -> None:
    slack.command(text)
    _ephemeral_text(slack, fragment)
