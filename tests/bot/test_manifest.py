"""manifest.yml is a complete Slack app manifest that matches what the code serves and calls."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())

# Web API methods the bot calls, and the bot scope each needs (per Slack's method documentation).
SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "conversations_open": "im:write",
    "files_upload_v2": "files:write",
    "files_info": "files:read",
}


def test_required_sections_and_command() -> None:
    assert MANIFEST["display_information"]["name"] == "kaas"
    assert len(MANIFEST["display_information"]["description"]) <= 140
    commands = MANIFEST["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/kaas"]
    assert commands[0]["url"].endswith("/slack/events")
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["settings"]["interactivity"]["request_url"].endswith("/slack/events")
    assert MANIFEST["features"]["bot_user"]["display_name"]


def test_scopes_cover_every_web_api_call_in_bot() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "bot").glob("*.py"))
    called = set(re.findall(r"\.(chat_\w+|conversations_\w+|files_\w+|views_\w+|users_\w+)\(", source))
    assert {"chat_postMessage", "conversations_open", "files_upload_v2", "files_info"} <= called
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert "commands" in scopes
    for method in called:
        if method in SCOPES:
            assert SCOPES[method] in scopes, f"{method} needs {SCOPES[method]}"
