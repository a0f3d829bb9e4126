"""Request bodies Slack sends to our app, ready to sign (``signing.sign``) and POST.

Slash commands arrive as a flat ``application/x-www-form-urlencoded`` form; interactivity (``block_actions``,
``view_submission``) arrives as the same content type with a single ``payload`` field holding JSON.

``response_url`` defaults to a closed loopback port, so a test that forgets to pass
``FakeSlack.response_url()`` fails fast instead of reaching hooks.slack.com.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

__all__ = ["block_action", "new_trigger_id", "slash_command", "view_submission"]

VERIFICATION_TOKEN = "fake-verification-token"  # deprecated by Slack, still sent
API_APP_ID = "A0KAAS"
TEAM_DOMAIN = "kaas-test"
UNSET_RESPONSE_URL = "http://127.0.0.1:9/response/unset"

_trigger_seq = itertools.count(1)


def new_trigger_id() -> str:
    """A fresh trigger id shaped like Slack's (``<digits>.<digits>.<hex>``)."""
    return f"{next(_trigger_seq):011d}.{int(time.time())}.{secrets.token_hex(16)}"


def _user_name(user_id: str) -> str:
    return user_id.removeprefix("U").lower() or user_id.lower()


def _channel_name(channel_id: str) -> str:
    if channel_id.startswith("D"):
        return "directmessage"
    if channel_id.startswith("G"):
        return "privategroup"
    return "kaas"


def _action_ts() -> str:
    return f"{time.time():.6f}"


def _interactive(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def slash_command(
    text: str,
    *,
    user_id: str = "UALICE",
    team_id: str = "T0001",
    channel_id: str = "C0001",
    command: str = "/kaas",
    trigger_id: str | None = None,
    response_url: str | None = None,
    user_name: str | None = None,
    channel_name: str | None = None,
    enterprise_id: str | None = None,
) -> bytes:
    """The form Slack POSTs when ``user_id`` types ``{command} {text}`` in ``channel_id``."""
    fields: dict[str, str] = {"token": VERIFICATION_TOKEN, "team_id": team_id, "team_domain": TEAM_DOMAIN}
    if enterprise_id is not None:
        fields |= {"enterprise_id": enterprise_id, "enterprise_name": "KaaS Enterprise"}
    fields |= {
        "channel_id": channel_id,
        "channel_name": channel_name or _channel_name(channel_id),
        "user_id": user_id,
        "user_name": user_name or _user_name(user_id),
        "command": command,
        "text": text,
        "api_app_id": API_APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url or UNSET_RESPONSE_URL,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    return urlencode(fields).encode()


def block_action(
    action_id: str,
    value: str,
    *,
    user_id: str = "UALICE",
    team_id: str = "T0001",
    channel_id: str = "C0001",
    message_ts: str = "1700000000.000100",
    block_id: str = "b",
    trigger_id: str | None = None,
    response_url: str | None = None,
    message: dict[str, Any] | None = None,
    button_text: str = "Button",
) -> bytes:
    """The ``block_actions`` payload for a click on a button (``action_id``, ``value``) in a message.

    Pass ``message`` (e.g. from ``FakeSlack.messages()``) to send the message as the bot posted it."""
    if message is None:
        message = {"type": "message", "user": "UBOT", "bot_id": "BBOT", "text": "", "ts": message_ts}
    message = {k: v for k, v in message.items() if k != "channel"}
    payload = {
        "type": "block_actions",
        "user": {
            "id": user_id,
            "username": _user_name(user_id),
            "name": _user_name(user_id),
            "team_id": team_id,
        },
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": _channel_name(channel_id)},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url or UNSET_RESPONSE_URL,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": _action_ts(),
            }
        ],
    }
    return _interactive(payload)


def view_submission(
    callback_id: str,
    values: dict[str, dict[str, Any]],
    *,
    user_id: str = "UALICE",
    team_id: str = "T0001",
    private_metadata: str = "",
    view_id: str | None = None,
    trigger_id: str | None = None,
) -> bytes:
    """The ``view_submission`` payload for a modal submitted with ``values``.

    ``values`` maps block_id → action_id → value object, as in ``view.state.values``; a bare string
    stands for a ``plain_text_input`` with that value."""
    state = {
        block_id: {
            action_id: {"type": "plain_text_input", "value": v} if isinstance(v, str) else v
            for action_id, v in actions.items()
        }
        for block_id, actions in values.items()
    }
    view_id = view_id or f"V{secrets.token_hex(5).upper()}"
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": {
            "id": user_id,
            "username": _user_name(user_id),
            "name": _user_name(user_id),
            "team_id": team_id,
        },
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": state},
            "hash": f"{int(time.time())}.fakehash",
            "title": {"type": "plain_text", "text": "kaas", "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": API_APP_ID,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": "BBOT",
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _interactive(payload)
