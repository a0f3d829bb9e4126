"""The Slack face over real HTTP: signed requests to the app served by uvicorn, a loopback fake Web API."""

from __future__ import annotations

import itertools
import json
import time

import pytest
import requests
from sqlmodel import select

from handlers.clusters import ACTION_CANCEL_OPERATIONS, ACTION_DELETE_CONFIRMED, ACTION_KUBECONFIG
from storage.models import AuditEvent
from tests.bot.slack_harness import ALICE, CHANNEL, SECRET, TEAM, Slack
from tests.slack_fake import payloads

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("how", "status"),
    [
        ("good", 200),
        ("wrong-secret", 401),
        ("stale", 401),
        ("future", 401),
        ("unsigned", 401),
    ],
)
def test_request_signatures(slack: Slack, how: str, status: int) -> None:
    body = payloads.slash_command("help", user_id="UALICE", team_id=TEAM, channel_id=CHANNEL)
    if how == "unsigned":
        resp = requests.post(
            slack.url, data=body, timeout=10, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    else:
        timestamp = {"stale": int(time.time()) - 6 * 60, "future": int(time.time()) + 6 * 60}.get(how)
        resp = slack.post(
            body, secret="not-the-secret" if how == "wrong-secret" else SECRET, timestamp=timestamp
        )
    assert resp.status_code == status
    if status == 401:
        time.sleep(0.2)
        assert slack.fake.calls_to("chat.postEphemeral") == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_oversized_payload_is_refused(slack: Slack) -> None:
    resp = slack.post(b"x" * (2 * 1024 * 1024))
    assert resp.status_code == 413


def test_create_progress_kubeconfig_by_dm_and_delete(slack: Slack) -> None:
    started = time.monotonic()
    assert slack.command("create demo --nodes 2").status_code == 200
    assert time.monotonic() - started < 3, "Slack needs the ack within 3 s"
    slack.wait_text("is ready")
    message = next(m for m in slack.fake.messages(CHANNEL) if "is ready" in json.dumps(m))
    assert "cluster_kubeconfig" in json.dumps(message["blocks"])
    updates = [c.at for c in slack.fake.calls_to("chat.update") if c.params.get("ts") == message["ts"]]
    assert all(b - a >= 1.9 for a, b in itertools.pairwise(updates)), "at most one chat.update per 2 s"

    def thread() -> list:
        return [
            m for m in slack.fake.calls_to("chat.postMessage") if m.params.get("thread_ts") == message["ts"]
        ]

    # Details, and the outcome last, go to the message's thread.
    slack.fake.wait_for(lambda: thread() and "is ready" in json.dumps(thread()[-1].params))
    assert "creating" in json.dumps([m.params for m in thread()])

    assert slack.click(ACTION_KUBECONFIG, "demo", message_ts=message["ts"]).status_code == 200
    slack.fake.wait_for(lambda: slack.fake.completed_files)
    file = slack.fake.completed_files[0]
    content = file["content"].decode()
    assert file["channel_id"].startswith("D") and "certificate-authority-data" in content
    token = next(line.split(":", 1)[1].strip() for line in content.splitlines() if "token:" in line)
    assert token not in slack.fake.all_text() and "certificate-authority-data" not in slack.fake.all_text()
    slack.fake.wait_for(
        lambda: (
            "kubeconfig" in json.dumps([c.params for c in slack.fake.calls_to("chat.postEphemeral")]).lower()
        )
    )

    slack.command("delete demo")
    slack.fake.wait_for(
        lambda: any(
            ACTION_DELETE_CONFIRMED in json.dumps(c.params) for c in slack.fake.calls_to("chat.postEphemeral")
        )
    )
    # A double click on the confirmation is one delete operation.
    slack.click(ACTION_DELETE_CONFIRMED, "demo", message_ts="1700000099.000001")
    slack.click(ACTION_DELETE_CONFIRMED, "demo", message_ts="1700000099.000001")
    slack.wait_text("was deleted")
    assert [op.kind for op in slack.operations()] == ["create", "delete"]
    assert slack.core.sandboxes[0].list_clusters() == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_strangers_are_refused_on_commands_and_buttons(slack: Slack) -> None:
    slack.command("create mine --nodes 1")
    slack.wait_text("is ready")
    slack.command("kubeconfig mine", user="UBOB")
    slack.click(ACTION_KUBECONFIG, "mine", user="UBOB")
    slack.click(ACTION_DELETE_CONFIRMED, "mine", user="UBOB")
    slack.fake.wait_for(
        lambda: (
            len(
                [c for c in slack.fake.calls_to("chat.postEphemeral") if "belongs to" in json.dumps(c.params)]
            )
            == 3
        )
    )
    assert slack.fake.completed_files == []
    assert [op.kind for op in slack.operations()] == ["create"]
    with slack.core.runner._sessions() as s:
        denied = [
            (a.actor_id, a.action) for a in s.exec(select(AuditEvent).where(AuditEvent.result == "denied"))
        ]
    assert ("UBOB", "kubeconfig") in denied and ("UBOB", "delete") in denied
    # An admin may.
    slack.click(ACTION_KUBECONFIG, "mine", user="UADMIN")
    slack.fake.wait_for(lambda: slack.fake.completed_files)
    assert slack.fake.completed_files[0]["channel_id"] == "DUADMIN"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_slack_retries_of_a_command_make_one_operation(slack: Slack) -> None:
    body = payloads.slash_command(
        "create once --nodes 1", user_id="UALICE", team_id=TEAM, channel_id=CHANNEL, trigger_id="trigger-123"
    )
    slack.post(body)
    slack.post(body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    slack.wait_text("is ready")
    assert len(slack.operations()) == 1
    top_level = [m for m in slack.fake.messages(CHANNEL) if not m.get("thread_ts")]
    assert len([m for m in top_level if "once" in json.dumps(m)]) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def _form(name: str, nodes: str, profile: str = "sandbox") -> dict:
    return {
        "name": {"value": {"type": "plain_text_input", "value": name}},
        "profile": {"value": {"type": "static_select", "selected_option": {"value": profile}}},
        "nodes": {"value": {"type": "number_input", "value": nodes}},
    }


def test_create_modal_opens_validates_and_submits(slack: Slack) -> None:
    slack.command("create", trigger_id="trig-modal")
    slack.fake.wait_for(lambda: slack.fake.calls_to("views.open"))
    view = slack.fake.calls_to("views.open")[0].params["view"]
    assert view["callback_id"] == "create_cluster"
    meta = view["private_metadata"]

    bad = slack.post(
        payloads.view_submission(
            "create_cluster",
            _form("Bad_Name", "2"),
            user_id="UALICE",
            team_id=TEAM,
            private_metadata=meta,
        )
    )
    assert (
        bad.status_code == 200
        and bad.json()["response_action"] == "errors"
        and "name" in bad.json()["errors"]
    )
    assert slack.operations() == []

    too_many = slack.post(
        payloads.view_submission(
            "create_cluster",
            _form("modal", "99"),
            user_id="UALICE",
            team_id=TEAM,
            private_metadata=meta,
        )
    )
    assert too_many.json()["errors"].get("nodes")

    ok = slack.post(
        payloads.view_submission(
            "create_cluster",
            _form("modal", "1"),
            user_id="UALICE",
            team_id=TEAM,
            private_metadata=meta,
            view_id="V1",
        )
    )
    assert ok.status_code == 200 and not ok.content.strip(b"{} ")
    slack.wait_text("`modal` is ready")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "/kaas create"),
        ("crate x", "Did you mean"),
        ("create Bad_Name", "can't be a cluster name"),
        ("create x --nodes 0", "--nodes"),
        ("create x --nodes 11", "outside what profile"),
        ("info ghost", "no cluster called"),
        ("kubeconfig ghost", "no cluster called"),
        ("list --all", "Only KaaS admins"),
        ("<!channel> ping", "isn't a kaas command"),
        ("x" * 5000, "at most 4000"),
    ],
)
def test_hostile_commands_get_ephemeral_errors(slack: Slack, text: str, fragment: str) -> None:
    assert slack.command(text).status_code == 200
    slack.fake.wait_for(lambda: slack.fake.calls_to("chat.postEphemeral"))
    reply = json.dumps(slack.fake.calls_to("chat.postEphemeral")[-1].params)
    assert fragment.lower() in reply.lower()
    assert "<!channel>" not in reply
    assert slack.fake.messages(CHANNEL) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_rate_limited_replies_are_retried(slack: Slack) -> None:
    slack.fake.rate_limit("chat.postEphemeral", times=1, retry_after=0)
    slack.command("help")
    slack.fake.wait_for(lambda: len(slack.fake.calls_to("chat.postEphemeral")) == 2)
    assert [c.status for c in slack.fake.calls_to("chat.postEphemeral")] == [429, 200]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_register_modal_adopts_a_cluster_and_refuses_hostile_kubeconfigs(slack: Slack) -> None:
    slack.command("create source --nodes 1")
    slack.wait_text("`source` is ready")
    kubeconfig = slack.core.clusters.kubeconfig(ALICE, "source").content
    slack.command("register adopted", trigger_id="trig-register")
    slack.fake.wait_for(lambda: slack.fake.calls_to("views.open"))
    view = slack.fake.calls_to("views.open")[-1].params["view"]
    assert view["callback_id"] == "register_cluster"

    def submit(text: str, view_id: str) -> requests.Response:
        values = {
            "name": {"value": {"type": "plain_text_input", "value": "adopted"}},
            "kubeconfig": {"value": {"type": "plain_text_input", "value": text}},
        }
        return slack.post(
            payloads.view_submission(
                "register_cluster",
                values,
                user_id="UALICE",
                team_id=TEAM,
                private_metadata=view["private_metadata"],
                view_id=view_id,
            )
        )

    hostile = kubeconfig.replace("token:", "tokenFile: /etc/shadow\n    token:")
    refused = submit(hostile, "V-bad")
    assert refused.json()["response_action"] == "errors" and "tokenFile" in json.dumps(refused.json())
    assert submit(kubeconfig, "V-ok").status_code == 200
    slack.wait_text("`adopted` is registered")
    assert kubeconfig.split("token:")[1].strip() not in slack.fake.all_text()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cancel_by_command_and_by_the_progress_messages_button(slack: Slack) -> None:
    slack.command("create demo --nodes 1")
    slack.wait_text("cluster_cancel_operations")  # the progress message offers Cancel while it runs
    slack.wait_text("is ready")
    slack.click(ACTION_CANCEL_OPERATIONS, "demo", user="UBOB")  # a stranger may not
    slack.command("cancel demo")  # nothing left to cancel

    def ephemerals() -> str:
        return json.dumps([c.params for c in slack.fake.calls_to("chat.postEphemeral")])

    slack.fake.wait_for(lambda: "belongs to" in ephemerals() and "nothing queued or running" in ephemerals())
    with slack.core.runner._sessions() as s:
        audit = [
            (a.actor_id, a.result) for a in s.exec(select(AuditEvent).where(AuditEvent.action == "cancel"))
        ]
    assert audit == [("UBOB", "denied")]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_broken_database_or_key_reaches_the_user_not_only_the_log(slack: Slack) -> None:
    slack.command("create demo --nodes 1")
    slack.wait_text("is ready")

    def ephemerals() -> str:
        return json.dumps([c.params for c in slack.fake.calls_to("chat.postEphemeral")])

    # A secret stored under another key: a clear message naming the key, not silence.
    with slack.core.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE clusters SET kubeconfig_encrypted = 'gAAAAAnot-a-token' WHERE name = 'demo'"
        )
    slack.command("kubeconfig demo")
    slack.fake.wait_for(lambda: "KAAS_ENCRYPTION_KEY" in ephemerals())
    assert slack.fake.completed_files == []

    # A database error: a short message with a reference the log also has.
    with slack.core.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_events RENAME TO audit_events_away")
    try:
        slack.command("scale demo 2")
        slack.fake.wait_for(lambda: "internal error" in ephemerals())
    finally:
        with slack.core.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE audit_events_away RENAME TO audit_events")
    assert "reference `" in ephemerals()
    assert [op.kind for op in slack.operations()] == ["create"]  # the failed request recorded nothing


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_health_readiness_and_metrics(slack: Slack) -> None:
    base = slack.url.removesuffix("/slack/events")
    slack.command("create demo --nodes 1")
    slack.wait_text("is ready")
    health = requests.get(f"{base}/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["ok"]
    assert requests.get(f"{base}/readyz", timeout=5).json() == {"ok": True, "problems": []}
    metrics = requests.get(f"{base}/metrics", timeout=5).text
    for line in (
        'kaas_clusters{state="ready"} 1.0',
        'kaas_operations{kind="create",status="succeeded"} 1.0',
        'kaas_operations_ended_total{kind="create",status="succeeded"} 1.0',
        'kaas_slack_api_calls_total{method="chat.postMessage",outcome="ok"}',
        "kaas_queue_depth 0.0",
        "kaas_oldest_queued_seconds 0.0",
        'kaas_operation_step_seconds_count{kind="create"}',
    ):
        assert line in metrics, line
    assert "kaas_outbox_backlog" in metrics

    slack.core.sandboxes[0].stop()  # the sandbox goes away: not ready, but the process itself is alive
    ready = requests.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 503 and "provider profile sandbox" in ready.json()["problems"][0]
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_command_that_starts_an_operation_is_recorded_before_it_is_acknowledged(slack: Slack) -> None:
    started = time.monotonic()
    assert slack.command("create recorded --nodes 1").status_code == 200
    assert time.monotonic() - started < 3, "Slack needs the ack within 3 s"
    assert [op.kind for op in slack.operations()] == ["create"]  # already there when Slack hears back
    slack.wait_text("is ready")
    refused = slack.command("scale recorded 1000")  # a refusal is acknowledged too, then explained
    assert refused.status_code == 200
    slack.fake.wait_for(
        lambda: (
            "whole number from 1 to 100"
            in json.dumps([c.params for c in slack.fake.calls_to("chat.postEphemeral")])
        )
    )
