"""The fake Slack, driven by the real slack_sdk WebClient and a real bolt App."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier

from tests.slack_fake import FakeSlack, payloads, sign

SECRET = "fake-signing-secret"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.base_url)


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


# ---------------------------------------------------------------------- lifecycle and scaffold


def test_base_url_is_loopback_with_an_os_chosen_port_and_stop_releases_it() -> None:
    slack = FakeSlack().start()
    other = FakeSlack().start()
    try:
        assert slack.base_url == f"http://127.0.0.1:{slack.port}/api/"
        assert slack.port != other.port
    finally:
        other.stop()
        slack.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = slack.base_url


def test_auth_test_describes_the_bot(client: WebClient, slack: FakeSlack) -> None:
    response = client.auth_test()
    assert (response["team_id"], response["user_id"], response["bot_id"]) == ("T0001", "UBOT", "BBOT")
    [call] = slack.calls_to("auth.test")
    assert call.headers["authorization"] == "Bearer xoxb-test"
    assert call.response is not None and call.response["ok"] is True


def test_invalid_token_is_rejected_like_slack(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as raised:
        WebClient(token="xoxp-user-token", base_url=slack.base_url).chat_postMessage(channel="C1", text="x")
    assert raised.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as raised:
        WebClient(base_url=slack.base_url).auth_test()
    assert raised.value.response["error"] == "not_authed"
    assert slack.messages() == []


def test_configured_token_set_and_token_form_field() -> None:
    with FakeSlack(tokens={"xoxb-only-this"}) as slack:
        with pytest.raises(SlackApiError, match="invalid_auth"):
            WebClient(token="xoxb-other", base_url=slack.base_url).auth_test()
        status, body = _post(
            slack.base_url + "chat.postMessage", b"token=xoxb-only-this&channel=C1&text=form"
        )
        assert status == 200 and json.loads(body)["ok"] is True
        assert slack.messages("C1")[0]["text"] == "form"


def test_get_with_query_string(slack: FakeSlack) -> None:
    request = urllib.request.Request(
        slack.base_url + "users.info?user=UALICE", headers={"Authorization": "Bearer xoxb-t"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["user"]["name"] == "alice"


def test_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.api_call("kaas.nonsense")
    assert raised.value.response["error"] == "unknown_method"


# ---------------------------------------------------------------------- messages


def test_post_update_and_thread(client: WebClient, slack: FakeSlack) -> None:
    first = client.chat_postMessage(channel="C0001", text="creating cluster")
    reply = client.chat_postMessage(channel="C0001", text="step 1", thread_ts=first["ts"])
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*ready*"}}]
    updated = client.chat_update(channel="C0001", ts=first["ts"], text="cluster ready", blocks=blocks)

    assert first["ts"] == "1700000000.000100" and reply["ts"] > first["ts"]
    assert first["message"]["bot_id"] == "BBOT" and first["message"]["text"] == "creating cluster"
    assert (updated["channel"], updated["ts"], updated["text"]) == ("C0001", first["ts"], "cluster ready")
    top, threaded = slack.messages("C0001")
    assert top["text"] == "cluster ready" and top["blocks"] == blocks
    assert threaded["thread_ts"] == first["ts"]
    assert slack.messages("C0002") == []
    # the channel saw every version, and the blocks' inner text
    assert "creating cluster" in slack.all_text() and "*ready*" in slack.all_text()
    # slack_sdk sends chat.* as JSON; the recorded params are the decoded body
    call = slack.calls_to("chat.update")[0]
    assert call.headers["content-type"].startswith("application/json")
    assert call.params["blocks"] == blocks


def test_message_errors(client: WebClient) -> None:
    # slack_sdk warns client-side about a missing text, then sends the call anyway
    with pytest.raises(SlackApiError) as raised, pytest.warns(UserWarning, match="text"):
        client.chat_postMessage(channel="C0001")
    assert raised.value.response["error"] == "no_text"
    with pytest.raises(SlackApiError) as raised:
        client.chat_update(channel="C0001", ts="1.000001", text="x")
    assert raised.value.response["error"] == "message_not_found"


def test_ephemeral(client: WebClient, slack: FakeSlack) -> None:
    response = client.chat_postEphemeral(channel="C0001", user="UALICE", text="only you: s3cret")
    assert response["message_ts"]
    assert slack.ephemerals("C0001")[0]["user"] == "UALICE"
    assert slack.messages() == []
    assert "s3cret" in slack.all_text()
    assert "s3cret" not in slack.all_text(include_ephemeral=False)


def test_dm_text_is_kept_apart_from_channel_text(client: WebClient, slack: FakeSlack) -> None:
    channel = client.conversations_open(users="UALICE")["channel"]["id"]
    client.chat_postMessage(channel=channel, text="kubeconfig: TOKEN123")
    client.chat_postMessage(channel="UBOB", text="bob's DM")
    client.chat_postMessage(channel="C0001", text="your kubeconfig is in your DMs")
    assert channel == "DUALICE"
    assert "TOKEN123" in slack.dm_text("UALICE") and "TOKEN123" not in slack.dm_text("UBOB")
    assert "bob's DM" in slack.dm_text("UBOB")
    assert "TOKEN123" not in slack.all_text() and "your kubeconfig" in slack.all_text()


# ---------------------------------------------------------------------- views, users


def test_views_open_and_update(client: WebClient, slack: FakeSlack) -> None:
    view = {
        "type": "modal",
        "callback_id": "create",
        "title": {"type": "plain_text", "text": "Create"},
        "blocks": [],
    }
    opened = client.views_open(trigger_id="123.456.abc", view=view)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "create"
    updated = client.views_update(
        view_id=opened["id"], hash=opened["hash"], view={**view, "callback_id": "two"}
    )
    assert updated["view"]["id"] == opened["id"]
    assert [v["callback_id"] for v in slack.views] == ["two"]
    with pytest.raises(SlackApiError) as raised:
        client.views_open(trigger_id="123.456.abc", view="{not json")
    assert raised.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError, match="hash_conflict"):
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=view)


def test_users_info(client: WebClient, slack: FakeSlack) -> None:
    user = client.users_info(user="UALICE")["user"]
    assert (user["id"], user["name"], user["is_admin"]) == ("UALICE", "alice", False)
    assert user["profile"]["real_name"] == "Alice Admin"
    with pytest.raises(SlackApiError) as raised:
        client.users_info(user="UNOBODY")
    assert raised.value.response["error"] == "user_not_found"
    slack.add_user("UCAROL", "carol", is_admin=True)
    assert client.users_info(user="UCAROL")["user"]["is_admin"] is True
    with pytest.raises(SlackApiError, match="user_not_found"):
        client.conversations_open(users="UNOBODY")


# ---------------------------------------------------------------------- files


def test_files_upload_v2_flow(client: WebClient, slack: FakeSlack) -> None:
    content = "apiVersion: v1\nkind: Config\n"
    response = client.files_upload_v2(
        channel="C0001",
        filename="kubeconfig.yaml",
        content=content,
        title="kubeconfig",
        initial_comment="here",
    )
    file_id = response["file"]["id"]
    assert [c.method for c in slack.calls] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert slack.calls_to("files.getUploadURLExternal")[0].params["length"] == str(len(content))
    assert slack.uploads == {file_id: content.encode()}
    [done] = slack.completed_files
    assert (done["channel_id"], done["title"], done["initial_comment"]) == ("C0001", "kubeconfig", "here")
    assert done["content"] == content.encode()
    assert "kind: Config" in slack.all_text() and slack.dm_text() == ""
    with pytest.raises(SlackApiError) as raised:
        client.files_completeUploadExternal(files=[{"id": "FNOPE", "title": "x"}], channel_id="C0001")
    assert raised.value.response["error"] == "file_not_found"


def test_upload_url_accepts_multipart(client: WebClient, slack: FakeSlack) -> None:
    ticket = client.files_getUploadURLExternal(filename="a.txt", length=5)
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
        b"hello\r\n"
        b"--XyZ--\r\n"
    )
    status, answer = _post(ticket["upload_url"], body, {"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert (status, answer) == (200, b"OK - 5")
    assert slack.uploads[ticket["file_id"]] == b"hello"


# ---------------------------------------------------------------------- faults


def test_rate_limit_then_retry_handler_succeeds(client: WebClient, slack: FakeSlack) -> None:
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    slack.rate_limit("chat.postMessage", times=1, retry_after=0)
    response = client.chat_postMessage(channel="C0001", text="after retry")
    assert response["ok"] is True
    statuses = [call.status for call in slack.calls_to("chat.postMessage")]
    assert statuses == [429, 200]
    assert len(slack.messages("C0001")) == 1


def test_rate_limit_without_handler_surfaces_429_and_retry_after(client: WebClient, slack: FakeSlack) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C0001", text="x")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response["error"] == "ratelimited"
    assert client.chat_postMessage(channel="C0001", text="x")["ok"] is True


def test_fail_injection(client: WebClient, slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C0001", text="x")
    assert raised.value.response["error"] == "channel_not_found"
    assert client.chat_postMessage(channel="C0001", text="x")["ok"] is True
    slack.fail("users.info", error="ratelimited", times=None)
    for _ in range(3):
        with pytest.raises(SlackApiError):
            client.users_info(user="UALICE")
    slack.clear_faults()
    assert client.users_info(user="UALICE")["ok"] is True


def test_delay_holds_the_call_and_wait_for_sees_it(client: WebClient, slack: FakeSlack) -> None:
    slack.delay("chat.postMessage", 0.3)
    started = time.monotonic()
    worker = threading.Thread(target=client.chat_postMessage, kwargs={"channel": "C0001", "text": "slow"})
    worker.start()
    messages = slack.wait_for(lambda: slack.messages("C0001"), timeout=5)
    worker.join(5)
    assert messages[0]["text"] == "slow"
    assert time.monotonic() - started >= 0.3


def test_wait_for_times_out_with_a_summary(client: WebClient, slack: FakeSlack) -> None:
    client.auth_test()
    with pytest.raises(TimeoutError, match=r"auth\.test"):
        slack.wait_for(lambda: slack.calls_to("chat.postMessage"), timeout=0.1)


def test_reset(client: WebClient, slack: FakeSlack) -> None:
    client.chat_postMessage(channel="C0001", text="a")
    slack.fail("auth.test")
    slack.reset()
    assert slack.calls == [] and slack.messages() == [] and slack.all_text() == ""
    assert client.auth_test()["ok"] is True
    assert client.chat_postMessage(channel="C0001", text="b")["ts"] == "1700000000.000200"


# ---------------------------------------------------------------------- signing and payloads


def test_sign_round_trips_through_slack_sdk_verifier() -> None:
    body = payloads.slash_command("create dev")
    headers = sign(SECRET, body)
    verifier = SignatureVerifier(SECRET)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert verifier.is_valid_request(body, headers)
    assert verifier.is_valid_request(body.decode(), sign(SECRET, body.decode()))
    assert not verifier.is_valid_request(body + b"&x=1", headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    assert not verifier.is_valid_request(body, sign(SECRET, body, timestamp=int(time.time()) - 600))


def test_slash_command_fields() -> None:
    form = {
        k: v[0] for k, v in parse_qs(payloads.slash_command("list", channel_id="DUALICE").decode()).items()
    }
    assert form["command"] == "/kaas" and form["text"] == "list" and form["user_id"] == "UALICE"
    assert form["channel_name"] == "directmessage" and form["trigger_id"] and form["api_app_id"]
    assert "enterprise_id" not in form


@pytest.fixture
def app(slack: FakeSlack) -> App:
    return App(client=WebClient(token="xoxb-test", base_url=slack.base_url), signing_secret=SECRET)


def _dispatch(app: App, body: bytes, secret: str = SECRET) -> int:
    return app.dispatch(BoltRequest(body=body.decode(), headers=sign(secret, body))).status


def test_bolt_accepts_our_signed_payloads(app: App, slack: FakeSlack) -> None:
    seen: dict[str, object] = {}

    @app.command("/kaas")
    def on_command(ack, command, respond):  # type: ignore[no-untyped-def]
        ack()
        seen["command"] = command["text"]
        respond(text="in channel", response_type="in_channel")

    @app.action("approve")
    def on_action(ack, body, action):  # type: ignore[no-untyped-def]
        ack()
        seen["action"] = (action["value"], body["container"]["message_ts"], body["message"]["text"])

    @app.view("create")
    def on_view(ack, view):  # type: ignore[no-untyped-def]
        ack()
        seen["view"] = (view["state"]["values"]["name"]["input"]["value"], view["private_metadata"])

    hook = slack.response_url(channel_id="C0001")
    assert _dispatch(app, payloads.slash_command("create dev", response_url=hook)) == 200
    posted = WebClient(token="xoxb-test", base_url=slack.base_url).chat_postMessage(
        channel="C0001", text="ok?"
    )
    message = slack.messages("C0001")[0]
    action = payloads.block_action("approve", "yes", message_ts=posted["ts"], message=message)
    assert _dispatch(app, action) == 200
    submission = payloads.view_submission("create", {"name": {"input": "dev"}}, private_metadata="m")
    assert _dispatch(app, submission) == 200
    assert _dispatch(app, payloads.slash_command("x"), secret="wrong-secret") == 401

    assert seen == {"command": "create dev", "action": ("yes", posted["ts"], "ok?"), "view": ("dev", "m")}
    assert slack.responses[0]["body"]["text"] == "in channel"
    assert "in channel" in slack.all_text(include_ephemeral=False)
