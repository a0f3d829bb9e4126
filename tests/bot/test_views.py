"""bot/views.py: every reply rendered as Block Kit, checked against Slack's documented limits.

`check_limits` walks a message or a modal and enforces the limits of api.slack.com/reference/block-kit
(block counts, text lengths, element counts, unique action ids, option counts, confirm dialogs) plus our own
safety rule: no mrkdwn text may carry unescaped markup other than a plain user mention. It is applied to
every rendered output, hostile inputs included, and is itself tested against broken payloads.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from bot import grammar, views
from bot.messages import HELP_TEXT, escape, help_text, shown
from handlers import messages as handler_messages
from handlers.clusters import ACTION_CANCEL, ACTION_DELETE_CONFIRMED, cluster_buttons
from handlers.replies import (
    Button,
    ClusterDetails,
    ClusterList,
    ClusterRow,
    Confirm,
    Confirmation,
    CreateForm,
    Notice,
    OperationAccepted,
    OperationSummary,
    OperationUpdate,
    ProfileChoice,
)

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
CREATED = NOW - dt.timedelta(days=3, hours=2)

LONG_NAME = "a" * 200
INJECTION = "<!channel> <!here> <@U0123ABCD> <https://evil.example|click> & &amp; `tick` *bold*"
HUGE_ERROR = (INJECTION + " ") * 130  # > 10,000 characters
assert len(HUGE_ERROR) > 10_000

# --- the validator ----------------------------------------------------------------------------------------

_ALLOWED_MENTION = re.compile(r"<@[UW][A-Z0-9]{2,20}>")
_ENTITY_OK = re.compile(r"&(?:amp|lt|gt);")
_BLOCK_TYPES = {"section", "header", "context", "actions", "divider", "input"}


def _check_mrkdwn_safe(text: str, where: str) -> None:
    stripped = _ALLOWED_MENTION.sub("", text)
    assert "<" not in stripped and ">" not in stripped, f"{where}: unescaped markup in {text[:200]!r}"
    assert "&" not in _ENTITY_OK.sub("", stripped), f"{where}: bare '&' in {text[:200]!r}"


def _check_text(obj: object, where: str, limit: int, *, plain_only: bool = False) -> None:
    assert isinstance(obj, dict), f"{where}: not a text object"
    assert obj.get("type") in (("plain_text",) if plain_only else ("plain_text", "mrkdwn")), f"{where}: type"
    text = obj.get("text")
    assert isinstance(text, str) and text.strip(), f"{where}: empty text"
    assert len(text) <= limit, f"{where}: {len(text)} > {limit} characters"
    if obj["type"] == "mrkdwn":
        _check_mrkdwn_safe(text, where)


def _check_confirm(confirm: dict, where: str) -> None:
    _check_text(confirm.get("title"), f"{where}.title", 100, plain_only=True)
    _check_text(confirm.get("text"), f"{where}.text", 300)
    _check_text(confirm.get("confirm"), f"{where}.confirm", 30, plain_only=True)
    _check_text(confirm.get("deny"), f"{where}.deny", 30, plain_only=True)
    assert confirm.get("style", "primary") in ("primary", "danger"), f"{where}.style"


def _check_element(element: dict, where: str) -> None:
    kind = element.get("type")
    action_id = element.get("action_id", "")
    assert isinstance(action_id, str) and len(action_id) <= 255, f"{where}: action_id"
    if "placeholder" in element:
        _check_text(element["placeholder"], f"{where}.placeholder", 150, plain_only=True)
    if kind == "button":
        _check_text(element.get("text"), f"{where}.text", 75, plain_only=True)
        assert isinstance(element.get("value", ""), str) and len(element.get("value", "")) <= 2000, where
        assert element.get("style", "primary") in ("primary", "danger"), f"{where}.style"
        if "confirm" in element:
            _check_confirm(element["confirm"], f"{where}.confirm")
    elif kind == "static_select":
        options = element.get("options")
        assert isinstance(options, list) and 1 <= len(options) <= 100, (
            f"{where}: {len(options or [])} options"
        )
        values = [o.get("value") for o in options]
        assert len(set(values)) == len(values), f"{where}: repeated option values"
        for i, option in enumerate(options):
            _check_text(option.get("text"), f"{where}.options[{i}]", 75, plain_only=True)
            value = option.get("value")
            assert isinstance(value, str) and 1 <= len(value) <= 150, f"{where}.options[{i}].value"
        if "initial_option" in element:
            assert element["initial_option"] in options, f"{where}: initial_option not among the options"
    elif kind == "plain_text_input":
        max_length = element.get("max_length", 3000)
        assert 1 <= max_length <= 3000, f"{where}: max_length {max_length}"
        assert 0 <= element.get("min_length", 0) <= max_length, f"{where}: min_length"
        assert len(element.get("initial_value", "")) <= max_length, f"{where}: initial_value"
    elif kind == "number_input":
        assert isinstance(element.get("is_decimal_allowed"), bool), f"{where}: is_decimal_allowed is required"
        bounds = [element.get(k) for k in ("min_value", "initial_value", "max_value")]
        assert all(b is None or isinstance(b, str) for b in bounds), f"{where}: numbers are sent as strings"
        present = [int(b) for b in bounds if b is not None]
        assert present == sorted(present), f"{where}: min <= initial <= max"
    else:
        raise AssertionError(f"{where}: unexpected element type {kind!r}")


def _check_block(block: dict, where: str) -> None:
    kind = block.get("type")
    assert kind in _BLOCK_TYPES, f"{where}: unknown block type {kind!r}"
    if kind == "section":
        assert "text" in block or "fields" in block, f"{where}: section needs text or fields"
        if "text" in block:
            _check_text(block["text"], f"{where}.text", 3000)
        if "fields" in block:
            fields = block["fields"]
            assert 1 <= len(fields) <= 10, f"{where}: {len(fields)} fields"
            for i, item in enumerate(fields):
                _check_text(item, f"{where}.fields[{i}]", 2000)
        if "accessory" in block:
            _check_element(block["accessory"], f"{where}.accessory")
    elif kind == "header":
        _check_text(block.get("text"), f"{where}.text", 150, plain_only=True)
    elif kind == "context":
        elements = block.get("elements")
        assert isinstance(elements, list) and 1 <= len(elements) <= 10, f"{where}: context elements"
        for i, item in enumerate(elements):
            _check_text(item, f"{where}.elements[{i}]", 3000)
    elif kind == "actions":
        elements = block.get("elements")
        assert isinstance(elements, list) and 1 <= len(elements) <= 25, f"{where}: actions elements"
        ids = [e.get("action_id") for e in elements if e.get("action_id")]
        assert len(ids) == len(set(ids)), f"{where}: action ids repeat within the block"
        for i, element in enumerate(elements):
            _check_element(element, f"{where}.elements[{i}]")
    elif kind == "input":
        _check_text(block.get("label"), f"{where}.label", 2000, plain_only=True)
        if "hint" in block:
            _check_text(block["hint"], f"{where}.hint", 2000, plain_only=True)
        _check_element(block.get("element") or {}, f"{where}.element")


def check_limits(payload: dict) -> dict:
    """Assert that a message or modal view respects Slack's Block Kit limits; returns it for chaining."""
    json.dumps(payload)  # serializable as sent
    blocks = payload.get("blocks")
    assert isinstance(blocks, list) and blocks, "no blocks"
    if payload.get("type") == "modal":
        assert len(blocks) <= 100, f"{len(blocks)} blocks in a modal"
        _check_text(payload.get("title"), "title", 24, plain_only=True)
        for key in ("submit", "close"):
            if key in payload:
                _check_text(payload[key], key, 24, plain_only=True)
        if any(b.get("type") == "input" for b in blocks):
            assert "submit" in payload, "a modal with inputs needs a submit button"
        assert len(payload.get("callback_id", "")) <= 255, "callback_id"
        assert len(payload.get("private_metadata", "")) <= 3000, "private_metadata"
    else:
        assert len(blocks) <= 50, f"{len(blocks)} blocks in a message"
        text = payload.get("text")
        assert isinstance(text, str) and text.strip(), "a message needs fallback text"
        assert len(text) <= 3000, f"fallback text is {len(text)} characters"
        _check_mrkdwn_safe(text, "text")
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids)), "block ids repeat"
    assert all(len(b) <= 255 for b in block_ids), "block_id too long"
    for i, block in enumerate(blocks):
        _check_block(block, f"blocks[{i}]")
    return payload


def _texts(payload: dict) -> str:
    """Every string in the payload, for content assertions."""
    return json.dumps(payload, ensure_ascii=False)


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _msg(*blocks: dict, text: str = "fallback") -> dict:
    return {"text": text, "blocks": list(blocks)}


def _btn(label: str = "Go", action_id: str = "a", value: str = "v", **extra: object) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id,
            "value": value, **extra}  # fmt: skip


def _select(n: int) -> dict:
    opts = [{"text": {"type": "plain_text", "text": f"o{i}"}, "value": f"v{i}"} for i in range(n)]
    return {"type": "static_select", "action_id": "value", "options": opts}


def _modal(**overrides: object) -> dict:
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Create"},
        "submit": {"type": "plain_text", "text": "Go"},
        "blocks": [_section("hi")],
    }
    view.update(overrides)
    return view


BROKEN = {
    "51 blocks": _msg(*[_section("x")] * 51),
    "section text 3001": _msg(_section("x" * 3001)),
    "11 fields": _msg({"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}),
    "field 2001": _msg({"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}),
    "header 151": _msg({"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}),
    "header mrkdwn": _msg({"type": "header", "text": {"type": "mrkdwn", "text": "h"}}),
    "button text 76": _msg({"type": "actions", "elements": [_btn(label="b" * 76)]}),
    "button value 2001": _msg({"type": "actions", "elements": [_btn(value="v" * 2001)]}),
    "action_id 256": _msg({"type": "actions", "elements": [_btn(action_id="a" * 256)]}),
    "26 elements": _msg({"type": "actions", "elements": [_btn(action_id=f"a{i}") for i in range(26)]}),
    "repeated action id": _msg({"type": "actions", "elements": [_btn(), _btn()]}),
    "empty actions": _msg({"type": "actions", "elements": []}),
    "bad style": _msg({"type": "actions", "elements": [_btn(style="green")]}),
    "confirm text 301": _msg(
        {
            "type": "actions",
            "elements": [
                _btn(
                    confirm={
                        "title": {"type": "plain_text", "text": "t"},
                        "text": {"type": "mrkdwn", "text": "x" * 301},
                        "confirm": {"type": "plain_text", "text": "ok"},
                        "deny": {"type": "plain_text", "text": "no"},
                    }
                )
            ],
        }
    ),
    "unescaped channel ping": _msg(_section("hello <!channel>")),
    "forged link": _msg(_section("<https://evil.example|docs>")),
    "bare ampersand": _msg(_section("a & b")),
    "ping in fallback": _msg(_section("ok"), text="<!here>"),
    "no fallback": _msg(_section("ok"), text=""),
    "modal title 25": _modal(title={"type": "plain_text", "text": "t" * 25}),
    "modal 101 blocks": _modal(blocks=[_section("x")] * 101),
    "modal input without submit": {
        "type": "modal",
        "title": {"type": "plain_text", "text": "t"},
        "blocks": [{"type": "input", "label": {"type": "plain_text", "text": "l"}, "element": _select(1)}],
    },
    "101 options": _modal(
        blocks=[{"type": "input", "label": {"type": "plain_text", "text": "l"}, "element": _select(101)}]
    ),
    "text input max_length 3001": _modal(
        blocks=[
            {
                "type": "input",
                "label": {"type": "plain_text", "text": "l"},
                "element": {"type": "plain_text_input", "action_id": "value", "max_length": 3001},
            }
        ]
    ),
    "number input without is_decimal_allowed": _modal(
        blocks=[
            {
                "type": "input",
                "label": {"type": "plain_text", "text": "l"},
                "element": {"type": "number_input", "action_id": "value"},
            }
        ]
    ),
}


@pytest.mark.parametrize("payload", BROKEN.values(), ids=BROKEN.keys())
def test_check_limits_catches_broken_payloads(payload: dict) -> None:
    with pytest.raises(AssertionError):
        check_limits(payload)


def test_check_limits_accepts_a_sound_payload() -> None:
    check_limits(_msg(_section("hi <@U0123ABCD> &amp; `x`"), {"type": "actions", "elements": [_btn()]}))


# --- fixtures ---------------------------------------------------------------------------------------------


def row(name: str = "my-app-1", **overrides: object) -> ClusterRow:
    values: dict = dict(
        name=name,
        owner_id="U0OWNER01",
        provider="sandbox",
        state="ready",
        nodes=3,
        version="1.32",
        created_at=CREATED,
    )
    values.update(overrides)
    return ClusterRow(**values)


def cluster_details(**overrides: object) -> ClusterDetails:
    values: dict = dict(
        name="my-app-1",
        provider_profile="sandbox",
        provider_kind="sandbox",
        state="ready",
        state_reason=None,
        version="1.32",
        endpoint="https://127.0.0.1:6443/clusters/abc",
        node_count=3,
        owner_id="U0OWNER01",
        created_at=CREATED,
        last_operation=OperationSummary(7, "create", "succeeded", "done", 100, None, NOW),
        buttons=cluster_buttons("my-app-1"),
    )
    values.update(overrides)
    return ClusterDetails(**values)


def update(**overrides: object) -> OperationUpdate:
    values: dict = dict(
        operation_id=12,
        cluster_name="my-app-1",
        kind="create",
        status="running",
        step="creating nodes",
        progress=40,
        text=handler_messages.operation_accepted("create", "my-app-1"),
        final=False,
    )
    values.update(overrides)
    return OperationUpdate(**values)


def profile(name: str = "sandbox", **overrides: object) -> ProfileChoice:
    values: dict = dict(
        name=name,
        kind="sandbox",
        min_nodes=1,
        max_nodes=5,
        default_nodes=1,
        versions=("1.30", "1.31", "1.32"),
        default_version="1.32",
        machine_types=("small", "medium", "large"),
        default_machine_type="medium",
    )
    values.update(overrides)
    return ProfileChoice(**values)


def _all_text_of(payload: dict) -> str:
    parts: list[str] = [payload.get("text", "")]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload.get("blocks"))
    return "\n".join(parts)


def _no_raw_injection(payload: dict, *, mention_allowed: bool = False) -> None:
    everything = _all_text_of(payload)
    for raw in ("<!channel>", "<!here>", "<https://evil"):
        assert raw not in everything
    assert ("<@U0123ABCD>" not in everything) or mention_allowed


def _actions(payload: dict) -> list[dict]:
    return [b for b in payload["blocks"] if b["type"] == "actions"]


# --- notice and help --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "emoji"),
    [("info", ":information_source:"), ("success", ":white_check_mark:"), ("warning", ":warning:"),
     ("error", ":x:"), ("nonsense", ":information_source:")],
)  # fmt: skip
def test_notice_prefixes_an_emoji_by_level(level: str, emoji: str) -> None:
    out = check_limits(views.notice(Notice("Something happened.", level=level)))
    assert out["blocks"][0]["text"]["text"] == f"{emoji} Something happened."
    assert len(out["blocks"]) == 1
    assert out["text"].startswith(emoji)


def test_notice_puts_the_hint_below() -> None:
    out = check_limits(views.notice(Notice("No such cluster.", level="error", hint="Run `/kaas list`.")))
    assert out["blocks"][1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Run `/kaas list`."}],
    }


def test_notice_keeps_a_handler_mention_but_escapes_everything_else() -> None:
    text = handler_messages.not_yours("my-app-1", "U0OWNER01") + " & <!channel>"
    out = check_limits(views.notice(Notice(text, level="error")))
    body = out["blocks"][0]["text"]["text"]
    assert "<@U0OWNER01>" in body
    assert "&amp; &lt;!channel&gt;" in body


def test_notice_does_not_escape_grammar_messages_twice_nor_revive_echoed_mentions() -> None:
    parsed = grammar.parse("info <@U0123ABCD>&")
    assert isinstance(parsed, grammar.ParseError)
    out = check_limits(views.notice(Notice(parsed.message, level="error", hint=f"Usage: `{parsed.usage}`")))
    body = out["blocks"][0]["text"]["text"]
    assert "&amp;amp;" not in body and "&amp;lt;" not in body
    assert "&lt;@U0123ABCD&gt;" in body  # echoed user input stays inert inside its code span
    assert shown("<@U0123ABCD>&") in body


@pytest.mark.parametrize("text", [HUGE_ERROR, INJECTION, "x" * 2999 + "&", "`" + "&" * 5000])
def test_notice_with_hostile_text_fits(text: str) -> None:
    out = check_limits(views.notice(Notice(text, level="error", hint=text)))
    # A Notice is handler prose: a user mention outside code spans is the handler's (e.g. "belongs to @x").
    _no_raw_injection(out, mention_allowed=True)
    assert out["blocks"][0]["text"]["text"].endswith(("…", "…`")) or len(text) < 3000


def test_help_message_is_one_section_for_the_usual_text() -> None:
    out = check_limits(views.help_message(HELP_TEXT))
    assert [b["type"] for b in out["blocks"]] == ["section"]
    assert out["blocks"][0]["text"]["text"] == HELP_TEXT
    for topic in ("create", "list", "register"):
        check_limits(views.help_message(help_text(topic)))


def test_help_message_splits_long_text_across_sections_without_losing_any() -> None:
    lines = [f"• line {i} with `code` & more" for i in range(400)]
    text = "\n".join(lines)
    out = check_limits(views.help_message(text))
    sections = [b["text"]["text"] for b in out["blocks"]]
    assert len(sections) > 1
    assert "\n".join(sections) == escape(text)


def test_help_message_splits_a_single_enormous_line_and_caps_the_blocks() -> None:
    out = check_limits(views.help_message("&" * 10_000))
    assert len(out["blocks"]) >= 10
    check_limits(views.help_message("word " * 100_000))


# --- cluster list -----------------------------------------------------------------------------------------


def test_cluster_list_full_page_of_hostile_rows_stays_well_within_limits() -> None:
    rows = tuple(
        row(
            LONG_NAME + str(i),
            owner_id="U0OWNER01" if i % 2 else "<!channel>",
            provider=INJECTION,
            state=INJECTION,
            version=INJECTION * 3,
            nodes=10**9,
        )
        for i in range(15)
    )
    out = check_limits(views.cluster_list(ClusterList(rows, 2, 67, 1000, everyone=True), NOW))
    assert len(out["blocks"]) <= 25  # 50 allowed: a full page leaves a wide margin
    _no_raw_injection(out)
    sections = [b for b in out["blocks"] if b["type"] == "section" and "fields" in b]
    assert len(sections) == 15
    first = sections[0]
    assert first["text"]["text"].startswith("`aaaa") and first["text"]["text"].endswith("…`")
    labels = [f["text"].split("\n")[0] for f in first["fields"]]
    assert labels == ["*State*", "*Provider*", "*Nodes*", "*Version*", "*Age*", "*Owner*"]
    assert "<@U0OWNER01>" in sections[1]["fields"][5]["text"]
    assert out["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "All clusters (1000)", "emoji": True},
    }


def test_cluster_list_fields_mirror_the_shell() -> None:
    out = check_limits(views.cluster_list(ClusterList((row(),), 1, 1, 1, everyone=False), NOW))
    section = out["blocks"][1]
    assert section["text"]["text"] == "`my-app-1`"
    assert [f["text"] for f in section["fields"]] == [
        "*State*\n:large_green_circle: ready",
        "*Provider*\nsandbox",
        "*Nodes*\n3",
        "*Version*\n1.32",
        "*Age*\n3d",
    ]
    assert out["blocks"][0]["text"]["text"] == "Your cluster (1)"
    assert _actions(out) == []  # one page: no page buttons


@pytest.mark.parametrize(("everyone", "scope"), [(True, "all"), (False, "mine")])
def test_cluster_list_page_buttons_carry_scope_and_page(everyone: bool, scope: str) -> None:
    rows = tuple(row(f"c-{i}") for i in range(15))
    out = check_limits(views.cluster_list(ClusterList(rows, 2, 3, 40, everyone=everyone), NOW))
    buttons = [b["elements"] for b in _actions(out)]
    assert [len(e) for e in buttons] == [1, 1]  # same action id: one block each
    (previous,), (following,) = buttons
    assert (previous["action_id"], previous["value"], previous["text"]["text"]) == (
        "cluster_list_page",
        f"{scope}:1",
        "Previous page",
    )
    assert (following["action_id"], following["value"], following["text"]["text"]) == (
        "cluster_list_page",
        f"{scope}:3",
        "Next page",
    )
    assert "Page 2 of 3 · 40 clusters" in _all_text_of(out)


def test_cluster_list_first_and_last_pages_offer_one_direction() -> None:
    rows = tuple(row(f"c-{i}") for i in range(15))
    first = check_limits(views.cluster_list(ClusterList(rows, 1, 3, 40, everyone=False), NOW))
    last = check_limits(views.cluster_list(ClusterList(rows[:10], 3, 3, 40, everyone=False), NOW))
    assert [b["elements"][0]["value"] for b in _actions(first)] == ["mine:2"]
    assert [b["elements"][0]["value"] for b in _actions(last)] == ["mine:2"]
    assert [b["elements"][0]["text"]["text"] for b in _actions(last)] == ["Previous page"]


@pytest.mark.parametrize("everyone", [True, False])
def test_cluster_list_empty(everyone: bool) -> None:
    out = check_limits(views.cluster_list(ClusterList((), 1, 1, 0, everyone=everyone), NOW))
    assert "/kaas create NAME" in out["blocks"][1]["text"]["text"]
    assert _actions(out) == []


def test_cluster_list_page_beyond_the_end_points_back_to_the_last_page() -> None:
    out = check_limits(views.cluster_list(ClusterList((), 9, 3, 40, everyone=True), NOW))
    assert "nothing on page 9" in _all_text_of(out)
    assert [b["elements"][0]["value"] for b in _actions(out)] == ["all:3"]


def test_cluster_list_with_more_rows_than_a_message_holds_is_cut_and_says_so() -> None:
    rows = tuple(row(f"c-{i}") for i in range(500))
    out = check_limits(views.cluster_list(ClusterList(rows, 1, 2, 1000, everyone=True), NOW))
    assert len(out["blocks"]) <= 50
    assert "more on this page could not be shown" in _all_text_of(out)


# --- details, confirmation, accepted ----------------------------------------------------------------------


def test_details_shows_every_field_and_the_buttons() -> None:
    out = check_limits(views.details(cluster_details(), NOW))
    text = _all_text_of(out)
    for expected in (
        "`my-app-1`",
        ":large_green_circle: ready",
        "`sandbox` (sandbox)",
        "*Version*\n1.32",
        "*Nodes*\n3",
        "`https://127.0.0.1:6443/clusters/abc`",
        "<@U0OWNER01>",
        "2025-05-29 10:00 UTC (3d ago)",
        "create succeeded (done)",
    ):
        assert expected in text
    (actions,) = _actions(out)
    assert [(e["text"]["text"], e["action_id"], e["value"], e.get("style")) for e in actions["elements"]] == [
        ("Kubeconfig", "cluster_kubeconfig", "my-app-1", "primary"),
        ("Info", "cluster_info", "my-app-1", None),
        ("Delete", "cluster_delete", "my-app-1", "danger"),
    ]


def test_details_without_buttons_endpoint_or_operation() -> None:
    out = check_limits(
        views.details(cluster_details(buttons=(), endpoint=None, version="", last_operation=None), NOW)
    )
    assert _actions(out) == []
    assert "*Endpoint*\n-" in _all_text_of(out)
    assert "Last operation" not in _all_text_of(out)


def test_details_with_hostile_reason_and_error() -> None:
    reply = cluster_details(
        name=LONG_NAME,
        state="failed",
        state_reason=HUGE_ERROR,
        provider_profile=INJECTION,
        provider_kind=INJECTION,
        endpoint=HUGE_ERROR,
        owner_id=INJECTION,
        last_operation=OperationSummary(7, "create", "failed", INJECTION, 40, HUGE_ERROR, NOW),
    )
    out = check_limits(views.details(reply, NOW))
    _no_raw_injection(out)
    text = _all_text_of(out)
    assert "&lt;!channel&gt;" in text and "*Reason:*" in text and "create failed: " in text


def test_details_last_operation_step_when_no_error() -> None:
    summary = OperationSummary(7, "delete", "running", "draining <nodes>", 40, None, NOW)
    out = check_limits(views.details(cluster_details(last_operation=summary), NOW))
    assert "delete running (draining &lt;nodes&gt;)" in _all_text_of(out)


def _delete_confirmation(name: str) -> Confirmation:
    text = handler_messages.confirm_delete(name)
    return Confirmation(
        text=text,
        buttons=(
            Button("Delete", ACTION_DELETE_CONFIRMED, name, style="danger",
                   confirm=Confirm("Delete cluster?", text, "Delete")),
            Button("Cancel", ACTION_CANCEL, name),
        ),
    )  # fmt: skip


def test_confirmation_renders_the_confirm_dialog() -> None:
    out = check_limits(views.confirmation(_delete_confirmation("my-app-1")))
    assert out["blocks"][0]["text"]["text"].startswith(":warning: Delete cluster `my-app-1`")
    (actions,) = _actions(out)
    delete, cancel = actions["elements"]
    assert delete["style"] == "danger" and "style" not in cancel and "confirm" not in cancel
    assert delete["confirm"] == {
        "title": {"type": "plain_text", "text": "Delete cluster?", "emoji": True},
        "text": {"type": "mrkdwn", "text": handler_messages.confirm_delete("my-app-1")},
        "confirm": {"type": "plain_text", "text": "Delete", "emoji": True},
        "deny": {"type": "plain_text", "text": "Cancel", "emoji": True},
        "style": "danger",
    }


def test_confirmation_with_hostile_name_and_oversized_buttons() -> None:
    reply = _delete_confirmation(LONG_NAME + INJECTION)
    reply = Confirmation(
        reply.text,
        (
            *reply.buttons,
            Button("x" * 500, "too-big-value", "v" * 2001),  # would act on a wrong value if cut: left out
            Button("y" * 500, "a" * 256, "v"),
            Button("Again", ACTION_CANCEL, "again"),  # repeats an action id within the block: left out
        ),
    )
    out = check_limits(views.confirmation(reply))
    _no_raw_injection(out)
    (actions,) = _actions(out)
    assert [e["action_id"] for e in actions["elements"]] == [ACTION_DELETE_CONFIRMED, ACTION_CANCEL]


def test_buttons_block_keeps_at_most_25() -> None:
    block = views.buttons_block(tuple(Button(f"b{i}", f"a{i}", str(i)) for i in range(40)))
    assert len(block["elements"]) == 25
    check_limits(_msg(block))


@pytest.mark.parametrize("duplicate", [False, True])
def test_accepted(duplicate: bool) -> None:
    text = handler_messages.operation_accepted("create", "my-app-1")
    out = check_limits(views.accepted(OperationAccepted(3, "my-app-1", "create", text, duplicate=duplicate)))
    body = out["blocks"][0]["text"]["text"]
    assert "Creating cluster `my-app-1`" in body
    assert ("already requested" in body) is duplicate


def test_accepted_with_hostile_text() -> None:
    out = check_limits(views.accepted(OperationAccepted(3, LONG_NAME, "create", HUGE_ERROR, duplicate=True)))
    _no_raw_injection(out)
    assert out["blocks"][0]["text"]["text"].endswith("_(already requested)_")


# --- progress ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "bar"),
    [(0, "░░░░░░░░░░ 0%"), (40, "▓▓▓▓░░░░░░ 40%"), (99, "▓▓▓▓▓▓▓▓▓░ 99%"), (100, "▓▓▓▓▓▓▓▓▓▓ 100%"),
     (-5, "░░░░░░░░░░ 0%"), (250, "▓▓▓▓▓▓▓▓▓▓ 100%")],
)  # fmt: skip
def test_progress_bar(percent: int, bar: str) -> None:
    assert views.progress_bar(percent) == bar


def test_progress_running_shows_bar_and_step() -> None:
    out = check_limits(views.progress(update()))
    text = _all_text_of(out)
    assert "`▓▓▓▓░░░░░░ 40%`\ncreating nodes" in text
    assert "Operation #12 · create · running" in text
    assert out["text"] == "[my-app-1] create: creating nodes (40%)"
    # While it runs, one button: Cancel, behind a confirmation.
    (actions,) = _actions(out)
    (button,) = actions["elements"]
    assert (button["action_id"], button["value"]) == ("cluster_cancel_operations", "my-app-1")
    assert "finishes first" in button["confirm"]["text"]["text"]


def test_progress_succeeded_offers_the_cluster_buttons() -> None:
    done = update(
        status="succeeded",
        step="done",
        progress=100,
        final=True,
        text=handler_messages.operation_succeeded("create", "my-app-1"),
        buttons=cluster_buttons("my-app-1"),
    )
    out = check_limits(views.progress(done))
    assert out["blocks"][0]["text"]["text"] == ":white_check_mark: Cluster `my-app-1` is ready."
    (actions,) = _actions(out)
    assert [e["action_id"] for e in actions["elements"]] == [b.action_id for b in cluster_buttons("my-app-1")]
    assert "▓" not in _all_text_of(out)


def test_progress_failed_shows_the_error_escaped_and_cut() -> None:
    failed = update(
        status="failed",
        step="failed",
        final=True,
        text=handler_messages.operation_failed("create", "my-app-1", HUGE_ERROR),
    )
    out = check_limits(views.progress(failed))
    _no_raw_injection(out)
    body = out["blocks"][0]["text"]["text"]
    assert body.startswith(":x: Could not create cluster `my-app-1`: &lt;!channel&gt;")
    assert len(body) <= 3000 and body.endswith(("…", "…`"))
    assert "/kaas info my-app-1" in _all_text_of(out)


def test_progress_with_hostile_step_and_name() -> None:
    out = check_limits(views.progress(update(cluster_name=LONG_NAME, step=HUGE_ERROR, text=INJECTION)))
    _no_raw_injection(out)
    assert "&lt;@U0123ABCD&gt;" in _all_text_of(out)


@pytest.mark.parametrize("note", ["creating nodes", INJECTION, HUGE_ERROR, ""])
def test_thread_note(note: str) -> None:
    out = check_limits(views.thread_note(note))
    _no_raw_injection(out)


# --- credentials ------------------------------------------------------------------------------------------


def test_credential_notice_names_the_cluster_and_nothing_secret() -> None:
    out = check_limits(views.credential_notice("my-app-1"))
    text = _all_text_of(out)
    assert "`my-app-1`" in text and "direct message" in text
    assert "apiVersion" not in text and "token" not in text.lower()


def test_credential_notice_with_hostile_name() -> None:
    _no_raw_injection(check_limits(views.credential_notice(LONG_NAME + INJECTION)))


def test_register_input_hides_the_kubeconfig_from_repr() -> None:
    secret = "apiVersion: v1\nusers:\n- user:\n    token: s3cr3t-t0ken\n"
    parsed = views.parse_register_submission(_state(name="legacy-1", kubeconfig=secret))
    assert isinstance(parsed, views.RegisterInput) and parsed.kubeconfig == secret
    assert "s3cr3t" not in repr(parsed)


# --- modals -----------------------------------------------------------------------------------------------


def _form(*profiles: ProfileChoice, default: str = "sandbox") -> CreateForm:
    return CreateForm(profiles or (profile(),), default)


def _inputs(view: dict) -> dict[str, dict]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def test_create_modal_structure() -> None:
    gke = profile(
        "gke-prod",
        kind="gke",
        min_nodes=2,
        max_nodes=50,
        default_nodes=3,
        versions=("1.31", "1.33"),
        default_version="1.33",
        machine_types=("e2-standard-4",),
        default_machine_type=None,
    )
    view = check_limits(views.create_modal(_form(profile(), gke), private_metadata='{"channel": "C1"}'))
    assert (view["type"], view["callback_id"], view["private_metadata"]) == (
        "modal",
        "create_cluster",
        '{"channel": "C1"}',
    )
    inputs = _inputs(view)
    assert list(inputs) == ["name", "profile", "nodes", "version", "machine_type"]
    assert all(b["element"]["action_id"] == "value" for b in inputs.values())

    name = inputs["name"]
    assert name["element"]["type"] == "plain_text_input" and name["element"]["max_length"] == 40
    assert "DNS-1123" in name["hint"]["text"]

    select = inputs["profile"]["element"]
    assert [o["value"] for o in select["options"]] == ["sandbox", "gke-prod"]
    assert select["initial_option"]["value"] == "sandbox"

    nodes = inputs["nodes"]["element"]
    assert nodes["type"] == "number_input" and nodes["is_decimal_allowed"] is False
    assert (nodes["min_value"], nodes["max_value"], nodes["initial_value"]) == ("1", "50", "1")
    assert "sandbox 1 to 5" in inputs["nodes"]["hint"]["text"]
    assert "gke-prod 2 to 50" in inputs["nodes"]["hint"]["text"]

    versions = inputs["version"]["element"]
    assert [o["value"] for o in versions["options"]] == ["1.33", "1.32", "1.31", "1.30"]
    assert versions["initial_option"]["value"] == "1.32"

    machine = inputs["machine_type"]
    assert machine["optional"] is True
    assert [o["value"] for o in machine["element"]["options"]] == ["small", "medium", "large"]
    assert machine["element"]["initial_option"]["value"] == "medium"


def test_create_modal_default_profile_drives_the_initial_values() -> None:
    gke = profile("gke", kind="gke", default_nodes=4, versions=("1.31",), default_version="1.31",
                  machine_types=(), default_machine_type=None)  # fmt: skip
    view = check_limits(views.create_modal(_form(profile(), gke, default="gke"), private_metadata="{}"))
    inputs = _inputs(view)
    assert inputs["profile"]["element"]["initial_option"]["value"] == "gke"
    assert inputs["nodes"]["element"]["initial_value"] == "4"
    assert inputs["version"]["element"]["initial_option"]["value"] == "1.31"
    assert "machine_type" not in inputs  # a select needs at least one option


def test_create_modal_with_huge_and_hostile_choices_stays_within_limits() -> None:
    many = tuple(
        profile(
            f"p{i}-" + "x" * (200 if i % 7 == 0 else 10),
            kind=INJECTION,
            versions=tuple(f"1.{j}" for j in range(i, i + 150)),
            default_version="1.200",
            machine_types=(*(f"type-{j}" for j in range(300)), "t" * 151),
            default_machine_type="type-250",
        )
        for i in range(150)
    )
    view = check_limits(views.create_modal(CreateForm(many, many[3].name), private_metadata="{}"))
    inputs = _inputs(view)
    assert inputs["profile"]["element"]["initial_option"]["value"] == many[3].name
    assert len(inputs["version"]["element"]["options"]) == 100
    assert inputs["version"]["element"]["initial_option"]["value"] == "1.200"
    assert len(inputs["machine_type"]["element"]["options"]) == 100
    assert "initial_option" not in inputs["machine_type"]["element"]  # type-250 is beyond the first 100


def test_create_modal_without_profiles_explains_and_offers_no_submit() -> None:
    view = check_limits(views.create_modal(CreateForm((), "sandbox"), private_metadata="{}"))
    assert "submit" not in view
    assert "register" in _all_text_of(view)


def test_modals_refuse_private_metadata_slack_would_reject() -> None:
    with pytest.raises(ValueError):
        views.create_modal(_form(), private_metadata="x" * 3001)
    with pytest.raises(ValueError):
        views.register_modal(private_metadata="x" * 3001)


def test_register_modal_structure() -> None:
    view = check_limits(views.register_modal(private_metadata='{"name": "legacy-1"}', name="legacy-1"))
    assert view["callback_id"] == "register_cluster"
    inputs = _inputs(view)
    assert list(inputs) == ["name", "kubeconfig"]
    assert inputs["name"]["element"]["initial_value"] == "legacy-1"
    kubeconfig = inputs["kubeconfig"]["element"]
    assert kubeconfig["multiline"] is True and kubeconfig["max_length"] == 3000
    assert "--kubeconfig PATH" in inputs["kubeconfig"]["hint"]["text"]
    assert (
        "initial_value"
        not in views.register_modal(private_metadata="{}", name=LONG_NAME)["blocks"][0]["element"]
    )


# --- modal submissions ------------------------------------------------------------------------------------


def _text_value(value: str | None, kind: str = "plain_text_input") -> dict:
    return {"value": {"type": kind, "value": value}}


def _select_value(value: str | None) -> dict:
    selected = None if value is None else {"text": {"type": "plain_text", "text": value}, "value": value}
    return {"value": {"type": "static_select", "selected_option": selected}}


def _state(**values: str | None) -> dict:
    """A view_submission's `state.values`, as Slack sends it for our modals."""
    state: dict = {}
    for block_id, value in values.items():
        if block_id in ("profile", "version", "machine_type"):
            state[block_id] = _select_value(value)
        elif block_id == "nodes":
            state[block_id] = _text_value(value, "number_input")
        else:
            state[block_id] = _text_value(value)
    return state


VALID = dict(name="my-app-1", profile="sandbox", nodes="3", version="1.32", machine_type="small")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, views.CreateInput("my-app-1", "sandbox", 3, "1.32", "small")),
        ({"name": "  my-app-1 "}, views.CreateInput("my-app-1", "sandbox", 3, "1.32", "small")),
        ({"nodes": None, "version": None, "machine_type": None},
         views.CreateInput("my-app-1", "sandbox", None, None, None)),
        ({"nodes": " 7 "}, views.CreateInput("my-app-1", "sandbox", 7, "1.32", "small")),
        # the node range and the profile's existence are the handler's to check
        ({"nodes": "0"}, views.CreateInput("my-app-1", "sandbox", 0, "1.32", "small")),
        ({"profile": "nope"}, views.CreateInput("my-app-1", "nope", 3, "1.32", "small")),
    ],
)  # fmt: skip
def test_parse_create_submission_valid(overrides: dict, expected: views.CreateInput) -> None:
    assert views.parse_create_submission(_state(**{**VALID, **overrides})) == expected


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"name": None}, {"name"}),
        ({"name": ""}, {"name"}),
        ({"name": "My App"}, {"name"}),
        ({"name": "-app"}, {"name"}),
        ({"name": LONG_NAME}, {"name"}),
        ({"name": "<!channel>"}, {"name"}),
        ({"name": "\u0430pp"}, {"name"}),  # Cyrillic a
        ({"profile": None}, {"profile"}),
        ({"nodes": "abc"}, {"nodes"}),
        ({"nodes": "-1"}, {"nodes"}),
        ({"nodes": "1e3"}, {"nodes"}),
        ({"nodes": "3.5"}, {"nodes"}),
        ({"nodes": "+3"}, {"nodes"}),
        ({"nodes": "\uff13"}, {"nodes"}),  # full-width digit
        ({"nodes": "9" * 40}, {"nodes"}),
        ({"name": "Bad Name", "profile": None, "nodes": "x"}, {"name", "profile", "nodes"}),
    ],
)
def test_parse_create_submission_errors(overrides: dict, fields: set[str]) -> None:
    result = views.parse_create_submission(_state(**{**VALID, **overrides}))
    assert isinstance(result, dict)
    assert set(result) == fields
    for message in result.values():
        assert message and len(message) <= 2000
        assert "<!channel>" not in message


def test_parse_create_submission_name_error_is_the_grammar_message() -> None:
    result = views.parse_create_submission(_state(**{**VALID, "name": "My App"}))
    assert isinstance(result, dict)
    assert "my-app" in result["name"]  # the grammar's suggestion


def test_parse_create_submission_reads_what_the_modal_sends() -> None:
    view = views.create_modal(_form(), private_metadata="{}")
    state = {}
    for block in view["blocks"]:
        element = block["element"]
        chosen = element.get("initial_option")
        value = {"type": element["type"]}
        if element["type"] == "static_select":
            value["selected_option"] = chosen
        else:
            value["value"] = element.get("initial_value") or "from-form"
        state[block["block_id"]] = {element["action_id"]: value}
    assert views.parse_create_submission(state) == views.CreateInput(
        "from-form", "sandbox", 1, "1.32", "medium"
    )


@pytest.mark.parametrize(
    "garbage", [{}, {"name": None}, {"name": {}}, {"name": {"value": "x"}}, {"nodes": []}]
)
def test_parse_create_submission_survives_malformed_state(garbage: dict) -> None:
    result = views.parse_create_submission(garbage)
    assert isinstance(result, dict) and "name" in result


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"name": "legacy-1", "kubeconfig": "apiVersion: v1"}, ("legacy-1", None)),
        ({"name": None, "kubeconfig": "apiVersion: v1"}, (None, {"name"})),
        ({"name": "Legacy_1", "kubeconfig": "apiVersion: v1"}, (None, {"name"})),
        ({"name": "legacy-1", "kubeconfig": None}, (None, {"kubeconfig"})),
        ({"name": "legacy-1", "kubeconfig": "  \n "}, (None, {"kubeconfig"})),
        ({"name": "legacy-1", "kubeconfig": "k" * 3001}, (None, {"kubeconfig"})),
        ({"name": "", "kubeconfig": ""}, (None, {"name", "kubeconfig"})),
    ],
)
def test_parse_register_submission(values: dict, expected: tuple) -> None:
    name, fields = expected
    result = views.parse_register_submission(_state(**values))
    if fields is None:
        assert result == views.RegisterInput(name, values["kubeconfig"])
    else:
        assert isinstance(result, dict) and set(result) == fields
        assert all(len(m) <= 2000 for m in result.values())
