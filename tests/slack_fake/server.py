"""A loopback fake of the Slack Web API, driven by the real ``slack_sdk.WebClient``.

Two layers, one lock:

* the **scaffold** routes ``/api/<method>``, parses form, JSON or query-string parameters the way Slack
  accepts them, authenticates the token, applies injected faults (delay, HTTP 429, ``ok: false``) and records
  every request as a :class:`Call`;
* the **emulator** keeps the state a test asserts on: channel messages (after updates), ephemeral messages,
  modals, uploaded and shared files, and replies posted to ``response_url`` endpoints it hands out.

Every response follows Slack's wire format: HTTP 200 with ``{"ok": false, "error": "..."}`` for API errors,
HTTP 429 with a ``Retry-After`` header when rate limited. Error responses also carry a ``fake_hint`` key that
tells the test author how to fix the setup; Slack never sends it, and nothing should read it but a human.

Usage::

    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        client.chat_postMessage(channel="C0001", text="hi")
        assert slack.messages("C0001")[0]["text"] == "hi"
"""

from __future__ import annotations

import contextlib
import copy
import email.parser
import email.policy
import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Call", "FakeSlack", "SlackFakeError"]

logger = logging.getLogger(__name__)

TEAM_ID = "T0001"
TEAM_NAME = "KaaS Test"
TEAM_DOMAIN = "kaas-test"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "A0KAAS"

# Method name under which requests to the upload URLs and response URLs are recorded.
UPLOAD = "upload"
RESPONSE_URL = "response_url"

# Parameters Slack accepts as JSON-encoded strings in form bodies; normalised to Python objects.
_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")

_FIRST_TS_MICROS = 1_700_000_000_000_000


@dataclass(frozen=True)
class Call:
    """One HTTP request the fake received.

    ``params`` merges the query string and the body (form or JSON); Slack's JSON-in-form fields
    (``blocks``, ``attachments``, ``view``, ``files``, ``metadata``) are decoded when they parse.
    ``headers`` has lower-case names (urllib sends ``Content-type``, for instance).
    ``status`` and ``response`` describe what the fake answered.
    """

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    raw_body: bytes
    at: float
    status: int = 200
    response: dict[str, Any] | None = None


class SlackFakeError(Exception):
    """An API error the emulator answers with ``{"ok": false, "error": error}``."""

    def __init__(self, error: str, hint: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.hint = hint


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> _Reply:
        return cls(status, json.dumps(data).encode(), headers=headers or {})

    @classmethod
    def text(cls, text: str, status: int = 200) -> _Reply:
        return cls(status, text.encode(), content_type="text/plain; charset=utf-8")


@dataclass
class _Fault:
    remaining: int | None  # None: until clear_faults()
    error: str = ""
    retry_after: int = 0
    seconds: float = 0.0

    def take(self) -> bool:
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


@dataclass
class _Sent:
    """Text that reached a conversation, kept for leak assertions (all_text / dm_text)."""

    channel: str
    text: str
    ephemeral: bool


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeSlack


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    def do_POST(self) -> None:
        self.server.fake._serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake slack: " + format, *args)


class FakeSlack:
    """A threaded fake Slack Web API on 127.0.0.1 with an OS-chosen port."""

    def __init__(
        self,
        *,
        tokens: Collection[str] | None = None,
        users: Iterable[dict[str, Any]] | None = None,
    ) -> None:
        """``tokens``: the accepted tokens; ``None`` accepts any ``xoxb-…`` token.
        ``users``: ``users.info`` records (``id`` required); default Alice, Bob and the bot."""
        self._tokens = frozenset(tokens) if tokens is not None else None
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._ts_seq = 0
        self._users: dict[str, dict[str, Any]] = {}
        if users is None:
            self.add_user("UALICE", "alice", real_name="Alice Admin")
            self.add_user("UBOB", "bob", real_name="Bob Builder")
            self.add_user(BOT_USER_ID, "kaas", real_name="KaaS", is_bot=True)
        else:
            for user in users:
                self._users[user["id"]] = copy.deepcopy(user)
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
        }
        self._clear_state()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes injected delays
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not running: use `with FakeSlack() as slack:` or call start()")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """Root of the server, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What ``WebClient(base_url=...)`` expects: ``http://127.0.0.1:PORT/api/``."""
        return f"{self.url}/api/"

    # ------------------------------------------------------------------ setup

    def add_user(
        self,
        user_id: str,
        name: str | None = None,
        *,
        real_name: str | None = None,
        is_admin: bool = False,
        is_bot: bool = False,
        email: str | None = None,
        tz: str = "UTC",
    ) -> dict[str, Any]:
        """Register a user for ``users.info`` and ``conversations.open``; returns the stored record."""
        name = name or user_id.lower()
        real_name = real_name or name.title()
        profile: dict[str, Any] = {"real_name": real_name, "display_name": name}
        if email is not None:
            profile["email"] = email
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": real_name,
            "tz": tz,
            "is_admin": is_admin,
            "is_owner": False,
            "is_bot": is_bot,
            "profile": profile,
        }
        with self._lock:
            self._users[user_id] = user
        return copy.deepcopy(user)

    def response_url(self, *, channel_id: str = "C0001", user_id: str = "UALICE") -> str:
        """A fresh ``response_url`` on this server; replies posted there are recorded in ``responses``."""
        with self._lock:
            hook_id = f"H{self._next_seq():010d}"
            self._hooks[hook_id] = {"channel_id": channel_id, "user_id": user_id}
        return f"{self.url}/response/{hook_id}"

    # ------------------------------------------------------------------ fault injection

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls to ``method`` get HTTP 429, ``Retry-After: retry_after``."""
        with self._lock:
            self._rate_limits[method] = _Fault(times, error="ratelimited", retry_after=retry_after)

    def fail(self, method: str, error: str = "channel_not_found", times: int | None = 1) -> None:
        """The next ``times`` authenticated calls to ``method`` answer ``ok: false`` (``None``: all)."""
        with self._lock:
            self._failures[method] = _Fault(times, error=error)

    def delay(self, method: str, seconds: float, times: int | None = None) -> None:
        """Calls to ``method`` wait ``seconds`` before being handled (``stop()`` cuts the wait short)."""
        with self._lock:
            self._delays[method] = _Fault(times, seconds=seconds)

    def clear_faults(self) -> None:
        with self._lock:
            self._rate_limits.clear()
            self._failures.clear()
            self._delays.clear()

    # ------------------------------------------------------------------ inspection

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages as they stand now (after ``chat.update``), oldest first; each carries ``channel``."""
        with self._lock:
            found = [m for m in self._messages.values() if channel is None or m["channel"] == channel]
            return copy.deepcopy(sorted(found, key=lambda m: m["ts"]))

    def ephemerals(self, channel: str | None = None) -> list[dict[str, Any]]:
        """``chat.postEphemeral`` messages, each with ``channel`` and ``user``."""
        with self._lock:
            return copy.deepcopy([m for m in self._ephemerals if channel is None or m["channel"] == channel])

    @property
    def views(self) -> list[dict[str, Any]]:
        """Modals opened, pushed or updated, in their current state."""
        with self._lock:
            return copy.deepcopy(list(self._views.values()))

    @property
    def uploads(self) -> dict[str, bytes]:
        """Bytes received at each upload URL, by file id."""
        with self._lock:
            return dict(self._uploads)

    @property
    def completed_files(self) -> list[dict[str, Any]]:
        """Files shared by ``files.completeUploadExternal``: id, title, filename, channel_id, channels,
        initial_comment, thread_ts and content (bytes)."""
        with self._lock:
            return copy.deepcopy(self._completed)

    @property
    def responses(self) -> list[dict[str, Any]]:
        """Replies posted to ``response_url`` URLs: url, channel_id, user_id and body (dict)."""
        with self._lock:
            return copy.deepcopy(self._responses)

    def all_text(self, *, include_ephemeral: bool = True) -> str:
        """Everything ever sent to conversations that are not DMs: message text and blocks (also earlier
        versions of updated messages), file titles, comments and contents, response_url replies.
        Ephemeral messages count by default: a secret shown "only to you" in a channel is still a leak
        on a shared screen."""
        return self._text(lambda s: not _is_dm(s.channel) and (include_ephemeral or not s.ephemeral))

    def dm_text(self, user_id: str | None = None) -> str:
        """Everything sent to DMs (``D…`` channels), optionally only the DM with ``user_id``."""
        return self._text(lambda s: _is_dm(s.channel) and (user_id is None or s.channel == _dm_id(user_id)))

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy, re-checking after every request; returns its value.

        The predicate runs under the fake's lock and may call the inspection helpers."""
        with self._cond:
            result = self._cond.wait_for(predicate, timeout)
            if not result:
                seen = ", ".join(call.method for call in self._calls) or "none"
                raise TimeoutError(f"condition not met within {timeout}s; calls so far: {seen}")
            return result

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until ``method`` was called at least ``count`` times; returns those calls."""
        self.wait_for(lambda: len(self.calls_to(method)) >= count, timeout)
        return self.calls_to(method)

    def reset(self) -> None:
        """Forget calls, state and faults; users, tokens and the ts sequence stay."""
        with self._lock:
            self._clear_state()
            self._cond.notify_all()

    # ------------------------------------------------------------------ scaffold

    def _clear_state(self) -> None:
        self._calls: list[Call] = []
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._ephemerals: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}
        self._pending_files: dict[str, dict[str, Any]] = {}
        self._uploads: dict[str, bytes] = {}
        self._completed: list[dict[str, Any]] = []
        self._shared: dict[str, dict[str, Any]] = {}
        self._hooks: dict[str, dict[str, str]] = {}
        self._responses: list[dict[str, Any]] = []
        self._sent: list[_Sent] = []
        self._rate_limits: dict[str, _Fault] = {}
        self._failures: dict[str, _Fault] = {}
        self._delays: dict[str, _Fault] = {}

    def _serve(self, handler: _Handler) -> None:
        at = time.time()
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in handler.headers.items()}
        path = url.path
        try:
            if path.startswith("/api/"):
                reply = self._api(path.removeprefix("/api/"), url.query, raw, headers, at)
            elif path.startswith("/upload/"):
                reply = self._upload(path.removeprefix("/upload/"), raw, headers, at)
            elif path.startswith("/files-pri/"):
                reply = self._download(path, headers, at)
            elif path.startswith("/response/"):
                reply = self._response_url(path.removeprefix("/response/"), url.query, raw, headers, at)
            else:
                reply = _Reply.text(f"no such path {path}: Web API methods live under /api/", 404)
        except Exception:
            logger.exception("fake slack crashed on %s", path)
            reply = _Reply.text("fake slack crashed; see the test log", 500)
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(reply.body)

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        headers: dict[str, str],
        raw: bytes,
        at: float,
        reply: _Reply,
    ) -> None:
        response = None
        if reply.content_type.startswith("application/json"):
            response = json.loads(reply.body)
        with self._cond:
            self._calls.append(Call(method, copy.deepcopy(params), headers, raw, at, reply.status, response))
            self._cond.notify_all()

    def _api(self, method: str, query: str, raw: bytes, headers: dict[str, str], at: float) -> _Reply:
        params = _parse_params(query, raw, headers.get("content-type", ""))
        with self._lock:
            delay = self._delays.get(method)
            seconds = delay.seconds if delay is not None and delay.take() else 0.0
        if seconds:
            self._stopping.wait(seconds)
        with self._lock:
            reply = self._dispatch(method, params, headers)
            self._record(method, params, headers, raw, at, reply)
        return reply

    def _dispatch(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> _Reply:
        limit = self._rate_limits.get(method)
        if limit is not None and limit.take():
            return _Reply.json(
                {"ok": False, "error": "ratelimited"}, 429, headers={"Retry-After": str(limit.retry_after)}
            )
        token = _bearer(headers.get("authorization", "")) or params.get("token")
        if not token:
            return _error("not_authed", "send `Authorization: Bearer xoxb-…` or a `token` parameter")
        if not self._token_ok(str(token)):
            return _error("invalid_auth", "FakeSlack accepts xoxb-… tokens, or those passed as tokens=")
        failure = self._failures.get(method)
        if failure is not None and failure.take():
            return _error(failure.error, f"injected by FakeSlack.fail({method!r})")
        handle = self._handlers.get(method)
        if handle is None:
            return _error("unknown_method", f"FakeSlack implements: {', '.join(sorted(self._handlers))}")
        try:
            data = handle(params)
        except SlackFakeError as e:
            return _error(e.error, e.hint)
        return _Reply.json(
            {"ok": True, **data}, headers={"X-OAuth-Scopes": "chat:write,commands,files:write"}
        )

    def _token_ok(self, token: str) -> bool:
        if self._tokens is not None:
            return token in self._tokens
        return token.startswith("xoxb-")

    def _upload(self, file_id: str, raw: bytes, headers: dict[str, str], at: float) -> _Reply:
        content = _upload_content(raw, headers.get("content-type", ""))
        with self._lock:
            if file_id not in self._pending_files:
                reply = _Reply.text(f"unknown upload {file_id}: call files.getUploadURLExternal first", 404)
            else:
                self._uploads[file_id] = content
                reply = _Reply.text(f"OK - {len(content)}")
            self._record(UPLOAD, {"file_id": file_id}, headers, raw, at, reply)
        return reply

    def _response_url(
        self, hook_id: str, query: str, raw: bytes, headers: dict[str, str], at: float
    ) -> _Reply:
        params = _parse_params(query, raw, headers.get("content-type", ""))
        with self._lock:
            hook = self._hooks.get(hook_id)
            if hook is None:
                reply = _Reply.text("no_active_hooks", 404)
            else:
                self._responses.append({"url": f"{self.url}/response/{hook_id}", **hook, "body": params})
                in_channel = params.get("response_type") == "in_channel"
                self._remember(hook["channel_id"], params, ephemeral=not in_channel)
                reply = _Reply.text("ok")
            self._record(RESPONSE_URL, params, headers, raw, at, reply)
        return reply

    # ------------------------------------------------------------------ emulator

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _next_ts(self) -> str:
        self._ts_seq += 1
        micros = _FIRST_TS_MICROS + 100 * self._ts_seq
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _remember(self, channel: str, params: dict[str, Any], *, ephemeral: bool) -> None:
        parts = [_strings(params.get(key)) for key in ("text", "blocks", "attachments")]
        self._sent.append(_Sent(channel, "\n".join(p for p in parts if p), ephemeral))

    def _text(self, keep: Callable[[_Sent], bool]) -> str:
        with self._lock:
            return "\n".join(sent.text for sent in self._sent if keep(sent))

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": "kaas",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _channel(self, params: dict[str, Any]) -> str:
        channel = params.get("channel")
        if not channel:
            raise SlackFakeError("channel_not_found", "pass channel=")
        channel = str(channel)
        # Posting to a user id lands in the DM between the app and that user.
        return _dm_id(channel) if channel[:1] in ("U", "W") else channel

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        _require_content(params)
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "text": params.get("text", ""),
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": ts,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if params.get(key):
                message[key] = params[key]
        self._messages[(channel, ts)] = {"channel": channel, **message}
        self._remember(channel, params, ephemeral=False)
        return {"channel": channel, "ts": ts, "message": copy.deepcopy(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        ts = str(params.get("ts") or "")
        stored = self._messages.get((channel, ts))
        if stored is None:
            raise SlackFakeError("message_not_found", f"no message ts={ts!r} in {channel}; post it first")
        _require_content(params)
        for key in ("text", "blocks", "attachments"):
            if key in params:
                stored[key] = params[key]
        stored["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        self._remember(channel, params, ephemeral=False)
        message = {k: v for k, v in stored.items() if k != "channel"}
        return {
            "channel": channel,
            "ts": ts,
            "text": stored.get("text", ""),
            "message": copy.deepcopy(message),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        user = params.get("user")
        if not user:
            raise SlackFakeError("user_not_in_channel", "pass user=")
        _require_content(params)
        ts = self._next_ts()
        entry = {"channel": channel, "user": user, "ts": ts}
        for key in ("text", "blocks", "attachments", "thread_ts"):
            if key in params:
                entry[key] = params[key]
        self._ephemerals.append(entry)
        self._remember(channel, params, ephemeral=True)
        return {"message_ts": ts}

    def _view_arg(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackFakeError("invalid_arguments", "view must be a JSON object with type modal or home")
        return view

    def _store_view(
        self, view: dict[str, Any], view_id: str, previous: str | None, root: str
    ) -> dict[str, Any]:
        stored = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view["type"],
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{self._next_ts()}.fakehash",
            "title": view.get("title"),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "external_id": view.get("external_id", ""),
            "previous_view_id": previous,
            "root_view_id": root,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }
        self._views[view_id] = stored
        return {"view": copy.deepcopy(stored)}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            raise SlackFakeError("invalid_arguments", "views.open needs the trigger_id from the payload")
        view = self._view_arg(params)
        view_id = f"V{self._next_seq():010d}"
        return self._store_view(view, view_id, None, view_id)

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            raise SlackFakeError("invalid_arguments", "views.push needs the trigger_id from the payload")
        view = self._view_arg(params)
        view_id = f"V{self._next_seq():010d}"
        return self._store_view(view, view_id, None, view_id)

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(params)
        current = self._views.get(str(params.get("view_id") or ""))
        if current is None and params.get("external_id"):
            current = next(
                (v for v in self._views.values() if v["external_id"] == params["external_id"]), None
            )
        if current is None:
            raise SlackFakeError(
                "not_found", "views.update needs the view_id (or external_id) of an open view"
            )
        if params.get("hash") and params["hash"] != current["hash"]:
            raise SlackFakeError("hash_conflict", "the view changed since that hash was read")
        return self._store_view(view, current["id"], current["previous_view_id"], current["root_view_id"])

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self._users.get(user_id)
        if user is None:
            raise SlackFakeError("user_not_found", f"register {user_id!r} with FakeSlack.add_user()")
        return user

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            return {"no_op": True, "already_open": True, "channel": {"id": str(params["channel"])}}
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackFakeError("users_list_not_supplied", "pass users= (comma-separated ids)")
        for user_id in users:
            self._user(user_id)
        channel_id = _dm_id(users[0]) if len(users) == 1 else "G" + "".join(sorted(users))
        return {"no_op": False, "already_open": False, "channel": {"id": channel_id}}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"user": copy.deepcopy(self._user(str(params.get("user") or "")))}

    def add_file(self, name: str, content: bytes, *, mimetype: str = "text/plain") -> str:
        """A file someone shared in Slack: `files.info` describes it and its private URL serves it."""
        with self._lock:
            file_id = f"F{self._next_seq():010d}"
            self._shared[file_id] = {"name": name, "content": content, "mimetype": mimetype}
        return file_id

    def _files_info(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file") or "")
        shared = self._shared.get(file_id)
        if shared is None:
            raise SlackFakeError("file_not_found", "share it first with FakeSlack.add_file")
        url = f"{self.url}/files-pri/T0001-{file_id}/{shared['name']}"
        return {
            "file": {
                "id": file_id,
                "name": shared["name"],
                "title": shared["name"],
                "mimetype": shared["mimetype"],
                "filetype": "yaml",
                "size": len(shared["content"]),
                "url_private": url,
                "url_private_download": url.replace(f"{file_id}/", f"{file_id}/download/"),
            }
        }

    def _download(self, path: str, headers: dict[str, str], at: float) -> _Reply:
        """`url_private_download`: like Slack, only with the bot token in an Authorization header."""
        file_id = path.removeprefix("/files-pri/").split("/", 1)[0].partition("-")[2]
        token = _bearer(headers.get("authorization", ""))
        with self._lock:
            shared = self._shared.get(file_id)
            if not token or not self._token_ok(token):
                reply = _Reply.text("<html>sign in to Slack</html>", 403)
            elif shared is None:
                reply = _Reply.text("file not found", 404)
            else:
                reply = _Reply(200, shared["content"], "application/octet-stream", {})
            self._record("files.download", {"file": file_id}, headers, b"", at, reply)
        return reply

    def _files_get_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = params.get("filename")
        try:
            length = int(params.get("length", ""))
        except (TypeError, ValueError):
            length = -1
        if not filename or length < 0:
            raise SlackFakeError("invalid_arguments", "files.getUploadURLExternal needs filename and length")
        file_id = f"F{self._next_seq():010d}"
        self._pending_files[file_id] = {"filename": filename, "length": length}
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files")
        if (
            not isinstance(files, list)
            or not files
            or not all(isinstance(f, dict) and "id" in f for f in files)
        ):
            raise SlackFakeError("invalid_arguments", 'files must be a JSON list like [{"id": "F…"}]')
        for f in files:
            if f["id"] not in self._pending_files or f["id"] not in self._uploads:
                raise SlackFakeError("file_not_found", f"{f['id']} was not issued and uploaded to this fake")
        channels = [c for c in str(params.get("channels") or "").split(",") if c]
        if params.get("channel_id"):
            channels.insert(0, str(params["channel_id"]))
        shared = []
        for f in files:
            pending = self._pending_files.pop(f["id"])
            content = self._uploads[f["id"]]
            title = f.get("title") or pending["filename"]
            self._completed.append(
                {
                    "id": f["id"],
                    "title": title,
                    "filename": pending["filename"],
                    "channel_id": params.get("channel_id"),
                    "channels": channels,
                    "initial_comment": params.get("initial_comment"),
                    "thread_ts": params.get("thread_ts"),
                    "content": content,
                }
            )
            for channel in channels:
                text = "\n".join(
                    [title, params.get("initial_comment") or "", content.decode("utf-8", "replace")]
                )
                self._sent.append(_Sent(channel, text, ephemeral=False))
            shared.append(
                {
                    "id": f["id"],
                    "name": pending["filename"],
                    "title": title,
                    "size": len(content),
                    "user": BOT_USER_ID,
                    "is_external": False,
                    "channels": [c for c in channels if not _is_dm(c)],
                    "ims": [c for c in channels if _is_dm(c)],
                }
            )
        return {"files": shared}


# ---------------------------------------------------------------------- helpers


def _error(error: str, hint: str = "") -> _Reply:
    body: dict[str, Any] = {"ok": False, "error": error}
    if hint:
        body["fake_hint"] = hint
    return _Reply.json(body)


def _bearer(authorization: str) -> str | None:
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def _is_dm(channel: str) -> bool:
    return channel.startswith("D")


def _dm_id(user_id: str) -> str:
    return f"D{user_id}"


def _require_content(params: dict[str, Any]) -> None:
    if not any(params.get(key) for key in ("text", "blocks", "attachments")):
        raise SlackFakeError("no_text", "pass text= or blocks=")


def _parse_params(query: str, raw: bytes, content_type: str) -> dict[str, Any]:
    """Query string plus body; the body is JSON when it says so (or looks like it), else form-encoded."""
    params: dict[str, Any] = _form(query)
    body = raw.decode("utf-8", "replace").strip()
    if body:
        if content_type.startswith("application/json") or body.startswith("{"):
            try:
                decoded = json.loads(body)
            except json.JSONDecodeError:
                decoded = None
            if isinstance(decoded, dict):
                params.update(decoded)
        else:
            params.update(_form(body))
    for key in _JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str):
            with contextlib.suppress(json.JSONDecodeError):  # else left a string; handlers reject it
                params[key] = json.loads(value)
    return params


def _form(encoded: str) -> dict[str, Any]:
    parsed = parse_qs(encoded, keep_blank_values=True)
    return {key: values[0] if len(values) == 1 else values for key, values in parsed.items()}


def _upload_content(raw: bytes, content_type: str) -> bytes:
    """The file bytes: the raw body, or the file part of a multipart form."""
    if not content_type.startswith("multipart/form-data"):
        return raw
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    parts = [part for part in message.iter_parts() if part.get_filename() is not None]
    parts = parts or [
        part
        for part in message.iter_parts()
        if part.get_param("name", header="content-disposition") == "file"
    ]
    if not parts:
        return raw
    payload = parts[0].get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _strings(value: Any) -> str:
    """Every string inside a JSON-ish value, one per line (so escaped secrets still match)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(s for s in (_strings(v) for v in value.values()) if s)
    if isinstance(value, list):
        return "\n".join(s for s in (_strings(v) for v in value) if s)
    return str(value)
