"""Replies rendered as Block Kit (bot/text.py does the same for the terminal).

Pure functions: each takes a reply from handlers/replies.py and returns a dict ready for `chat.postMessage`,
`chat.update` or `chat.postEphemeral` (`{"text": fallback, "blocks": [...]}`) or for `views.open` (a modal
view). Nothing here calls Slack.

Safety rules, kept by every function:
- every value that did not come from kaas itself (names, reasons, steps, provider errors) is escaped with
  `messages.escape` before it goes into mrkdwn, so it can neither ping (`<!channel>`, `<@U1>`) nor forge a
  link; names are shown in code spans;
- every text is shortened to fit Slack's documented limits (an ellipsis marks the cut), and lists are cut so
  that a message stays within 50 blocks; a button whose value would not fit is left out, never truncated
  (a truncated value would act on the wrong cluster);
- credentials are never rendered: `Credential` has no view, only `credential_notice`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from bot import grammar, slack_messages
from bot.messages import COMMAND, escape
from bot.text import age
from handlers.clusters import cancel_button
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
    OperationUpdate,
    ProfileChoice,
)

# --- Slack's limits (api.slack.com/reference/block-kit) ---------------------------------------------------

MAX_MESSAGE_BLOCKS = 50
MAX_MODAL_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_ACTIONS_ELEMENTS = 25
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_MODAL_TITLE = 24
MAX_MODAL_BUTTON = 24
MAX_PRIVATE_METADATA = 3000
MAX_INPUT_LABEL = 2000
MAX_HINT = 2000
MAX_PLACEHOLDER = 150
MAX_TEXT_INPUT = 3000
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_FALLBACK_TEXT = 3000
"""The top-level `text` (notifications, screen readers); Slack truncates at 40,000 and advises far less."""

# --- our own bounds ---------------------------------------------------------------------------------------

LIST_PAGE_ACTION = "cluster_list_page"
CREATE_CALLBACK = "create_cluster"
REGISTER_CALLBACK = "register_cluster"
INPUT_ACTION = "value"
"""The action_id of every modal input; the block_id says which input it is."""

NAME_SHOWN_CHARS = 60
"""A cluster name longer than this (never valid, but be safe) is cut in messages."""
VALUE_SHOWN_CHARS = 120
"""Provider, version, owner and other short values."""
STEP_SHOWN_CHARS = 500
REASON_SHOWN_CHARS = 2000
MAX_LIST_ROWS = 40
"""Rows shown per list message: header + rows + context + note + 2 page buttons stay within 50 blocks."""
BAR_WIDTH = 10

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
_MENTION_ESCAPED = re.compile(r"&lt;@([UW][A-Z0-9]{2,20})&gt;")
_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt);)")
_CODE_SPAN = re.compile(r"(`[^`]*`)")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
_PARTIAL_TAG = re.compile(r"<[^<>]*$")


# --- text helpers -----------------------------------------------------------------------------------------


def _cut(text: str, limit: int) -> str:
    """Plain text shortened to `limit` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + slack_messages.ELLIPSIS


def _fit(mrkdwn: str, limit: int) -> str:
    """Escaped mrkdwn cut to `limit` characters without splitting an entity, a mention or a code span."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = mrkdwn[: limit - 2]
    cut = _PARTIAL_TAG.sub("", _PARTIAL_ENTITY.sub("", cut))
    tail = slack_messages.ELLIPSIS + ("`" if cut.count("`") % 2 else "")
    return cut + tail


def _value(text: str, limit: int = VALUE_SHOWN_CHARS) -> str:
    """A user-supplied value as escaped mrkdwn (no code span), shortened first."""
    return escape(_cut(text, limit))


def _code(text: str, limit: int = NAME_SHOWN_CHARS) -> str:
    """A user-supplied value in a code span; a backtick inside becomes a look-alike, so the span holds."""
    if not text:
        return slack_messages.NO_VALUE
    return "`" + escape(_cut(text, limit).replace("`", slack_messages.BACKTICK_LOOKALIKE)) + "`"


def _prose(text: str) -> str:
    """Handler prose (user values already in backticks) made safe for mrkdwn.

    All of `&`, `<` and `>` are escaped: the sentence may carry a provider's error text.
    """
    return escape(text)


def _notice_prose(text: str) -> str:
    """A Notice's text: it may come from the grammar (already escaped) or from a handler (not escaped).

    Escaping is made idempotent (an existing `&amp;`/`&lt;`/`&gt;` is kept), and the one piece of markup a
    handler means, a user mention such as `<@U123>`, is restored, but only outside code spans, where
    echoed user input lives.
    """
    safe = _BARE_AMPERSAND.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    parts = _CODE_SPAN.split(safe)
    return "".join(part if part.startswith("`") else _MENTION_ESCAPED.sub(r"<@\1>", part) for part in parts)


def _user(user_id: str) -> str:
    """A Slack user as a mention when it looks like a user id, else as a value."""
    if _USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return _code(user_id, VALUE_SHOWN_CHARS)


def _chunks(mrkdwn: str, limit: int) -> list[str]:
    """Split escaped mrkdwn into pieces of at most `limit` characters, at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in mrkdwn.split("\n"):
        while len(line) > limit:
            cut = limit
            partial = _PARTIAL_ENTITY.search(line[:cut])
            if partial:
                cut = partial.start() or cut
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current)
    return [p for p in pieces if p.strip()] or [slack_messages.NO_VALUE]


# --- block builders ---------------------------------------------------------------------------------------


def _plain(text: str, limit: int) -> dict:
    return {"type": "plain_text", "text": _cut(text, limit) or slack_messages.NO_VALUE, "emoji": True}


def _mrkdwn(text: str, limit: int) -> dict:
    return {"type": "mrkdwn", "text": _fit(text, limit) or slack_messages.NO_VALUE}


def _section(mrkdwn: str) -> dict:
    return {"type": "section", "text": _mrkdwn(mrkdwn, MAX_SECTION_TEXT)}


def _context(mrkdwn: str) -> dict:
    return {"type": "context", "elements": [_mrkdwn(mrkdwn, MAX_CONTEXT_TEXT)]}


def _field(label: str, value: str) -> dict:
    return _mrkdwn(f"*{label}*\n{value}", MAX_FIELD_TEXT)


def _message(fallback: str, blocks: list[dict]) -> dict:
    return {"text": _fit(fallback, MAX_FALLBACK_TEXT) or slack_messages.NO_VALUE, "blocks": blocks}


def _confirm(confirm: Confirm, *, danger: bool) -> dict:
    dialog = {
        "title": _plain(confirm.title, MAX_CONFIRM_TITLE),
        "text": _mrkdwn(_prose(confirm.text), MAX_CONFIRM_TEXT),
        "confirm": _plain(confirm.ok, MAX_CONFIRM_BUTTON),
        "deny": _plain(confirm.cancel, MAX_CONFIRM_BUTTON),
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def _button(button: Button) -> dict | None:
    """A button element, or None when its action id or value can't be sent whole."""
    if not button.action_id or len(button.action_id) > MAX_ACTION_ID or len(button.value) > MAX_BUTTON_VALUE:
        return None
    element: dict[str, Any] = {
        "type": "button",
        "text": _plain(button.label, MAX_BUTTON_TEXT),
        "action_id": button.action_id,
        "value": button.value,
    }
    if button.style in ("primary", "danger"):
        element["style"] = button.style
    if button.confirm is not None:
        element["confirm"] = _confirm(button.confirm, danger=button.style == "danger")
    return element


def buttons_block(buttons: tuple[Button, ...]) -> dict:
    """An actions block of `buttons` (at most 25; action ids unique within the block, as Slack requires).

    Buttons that can't be sent whole (oversized value or action id) and repeats of an action id are left
    out; the block has no elements when none is left, so callers send it only when `elements` is non-empty.
    """
    elements: list[dict] = []
    seen: set[str] = set()
    for button in buttons:
        element = _button(button)
        if element is None or button.action_id in seen:
            continue
        seen.add(button.action_id)
        elements.append(element)
        if len(elements) == MAX_ACTIONS_ELEMENTS:
            break
    return {"type": "actions", "elements": elements}


def _button_blocks(buttons: tuple[Button, ...]) -> list[dict]:
    block = buttons_block(buttons)
    return [block] if block["elements"] else []


# --- messages ---------------------------------------------------------------------------------------------


def notice(n: Notice) -> dict:
    """A short message; errors and warnings carry an emoji, the hint goes in a context line below."""
    emoji = slack_messages.LEVEL_EMOJI.get(n.level, slack_messages.LEVEL_EMOJI["info"])
    body = f"{emoji} {_notice_prose(n.text)}"
    blocks = [_section(body)]
    if n.hint:
        blocks.append(_context(_notice_prose(n.hint)))
    return _message(body, blocks)


def help_message(text: str) -> dict:
    """Help text (plain text with mrkdwn backticks and bullets) in as many sections as it needs."""
    pieces = _chunks(escape(text), MAX_SECTION_TEXT)
    if len(pieces) > MAX_MESSAGE_BLOCKS:
        pieces = pieces[:MAX_MESSAGE_BLOCKS]
        last = _PARTIAL_ENTITY.sub("", pieces[-1][: MAX_SECTION_TEXT - 1])
        pieces[-1] = last + slack_messages.ELLIPSIS
    return _message(pieces[0], [_section(p) for p in pieces])


def _list_value(scope: str, page: int) -> str:
    return f"{scope}:{page}"


def _row_section(row: ClusterRow, now: dt.datetime, *, everyone: bool) -> dict:
    emoji = slack_messages.STATE_EMOJI.get(row.state, slack_messages.UNKNOWN_EMOJI)
    fields = [
        _field(slack_messages.FIELD_STATE, f"{emoji} {_value(row.state)}"),
        _field(slack_messages.FIELD_PROVIDER, _value(row.provider)),
        _field(slack_messages.FIELD_NODES, str(row.nodes)),
        _field(slack_messages.FIELD_VERSION, _value(row.version) or slack_messages.NO_VALUE),
        _field(slack_messages.FIELD_AGE, age(row.created_at, now)),
    ]
    if everyone:
        fields.append(_field(slack_messages.FIELD_OWNER, _user(row.owner_id)))
    return {"type": "section", "text": _mrkdwn(_code(row.name), MAX_SECTION_TEXT), "fields": fields}


def cluster_list(reply: ClusterList, now: dt.datetime) -> dict:
    """One section per cluster, a header with the count, and page buttons (`all:N` / `mine:N`)."""
    scope = "all" if reply.everyone else "mine"
    header = slack_messages.list_header(reply.total, everyone=reply.everyone)
    blocks: list[dict] = [{"type": "header", "text": _plain(header, MAX_HEADER_TEXT)}]
    rows = reply.rows[:MAX_LIST_ROWS]
    if not reply.rows:
        if reply.total:
            blocks.append(_section(slack_messages.list_page_empty(reply.page, reply.pages)))
        else:
            blocks.append(_section(slack_messages.list_empty(everyone=reply.everyone)))
    blocks.extend(_row_section(row, now, everyone=reply.everyone) for row in rows)
    if len(reply.rows) > len(rows):
        blocks.append(_context(slack_messages.list_more(len(reply.rows) - len(rows))))
    if reply.total:
        blocks.append(_context(slack_messages.list_position(reply.page, reply.pages, reply.total)))
    # One actions block per button: both share the action id, which must be unique within a block.
    if reply.page > 1 and reply.total:
        previous = min(reply.page - 1, reply.pages)
        label = slack_messages.PREVIOUS_PAGE
        blocks.append(buttons_block((Button(label, LIST_PAGE_ACTION, _list_value(scope, previous)),)))
    if reply.page < reply.pages:
        label = slack_messages.NEXT_PAGE
        blocks.append(buttons_block((Button(label, LIST_PAGE_ACTION, _list_value(scope, reply.page + 1)),)))
    fallback = slack_messages.list_fallback(reply.total, reply.page, reply.pages, everyone=reply.everyone)
    return _message(fallback, blocks)


def details(reply: ClusterDetails, now: dt.datetime) -> dict:
    """A cluster's state, provider, version, endpoint, nodes, owner, creation and last operation."""
    emoji = slack_messages.STATE_EMOJI.get(reply.state, slack_messages.UNKNOWN_EMOJI)
    created = reply.created_at
    fields = [
        _field(slack_messages.FIELD_STATE, f"{emoji} {_value(reply.state)}"),
        _field(
            slack_messages.FIELD_PROVIDER,
            slack_messages.provider(
                _code(reply.provider_profile, VALUE_SHOWN_CHARS), _value(reply.provider_kind)
            ),
        ),
        _field(slack_messages.FIELD_VERSION, _value(reply.version) or slack_messages.NO_VALUE),
        _field(slack_messages.FIELD_NODES, str(reply.node_count)),
        _field(slack_messages.FIELD_ENDPOINT, _code(reply.endpoint or "", 300)),
        _field(slack_messages.FIELD_OWNER, _user(reply.owner_id)),
        _field(
            slack_messages.FIELD_CREATED,
            slack_messages.created(f"{created:%Y-%m-%d %H:%M}", age(created, now)),
        ),
    ]
    blocks = [
        {
            "type": "section",
            "text": _mrkdwn(slack_messages.details_title(_code(reply.name)), MAX_SECTION_TEXT),
        },
        {"type": "section", "fields": fields},
    ]
    if reply.state_reason:
        blocks.append(
            _section(f"*{slack_messages.FIELD_REASON}:* {_value(reply.state_reason, REASON_SHOWN_CHARS)}")
        )
    op = reply.last_operation
    if op is not None:
        if op.error:
            detail = ": " + _value(op.error, REASON_SHOWN_CHARS)
        elif op.step:
            detail = f" ({_value(op.step, STEP_SHOWN_CHARS)})"
        else:
            detail = ""
        line = slack_messages.last_operation(_value(op.kind), _value(op.status), detail)
        blocks.append(_section(f"*{slack_messages.FIELD_LAST_OPERATION}:* {line}"))
    blocks.extend(_button_blocks(reply.buttons))
    return _message(
        slack_messages.details_fallback(_value(reply.name, NAME_SHOWN_CHARS), _value(reply.state)), blocks
    )


def confirmation(reply: Confirmation) -> dict:
    """A question with its buttons (a danger button carries its own confirm dialog)."""
    body = f"{slack_messages.LEVEL_EMOJI['warning']} {_prose(reply.text)}"
    return _message(body, [_section(body), *_button_blocks(reply.buttons)])


def accepted(reply: OperationAccepted) -> dict:
    """A long operation was recorded; progress follows in the channel."""
    body = f"{slack_messages.STATUS_EMOJI['queued']} {_prose(reply.text)}"
    if reply.duplicate:
        body = f"{_fit(body, MAX_SECTION_TEXT - 30)} {slack_messages.ALREADY_REQUESTED}"
    return _message(body, [_section(body)])


def progress_bar(percent: int) -> str:
    """`▓▓▓▓░░░░░░ 40%`: full only at 100."""
    percent = max(0, min(int(percent), 100))
    filled = percent * BAR_WIDTH // 100
    return "▓" * filled + "░" * (BAR_WIDTH - filled) + f" {percent}%"


def progress(update: OperationUpdate) -> dict:
    """The channel message of an operation, updated in place: a bar and the step, then the outcome."""
    emoji = slack_messages.STATUS_EMOJI.get(update.status, slack_messages.UNKNOWN_EMOJI)
    body = f"{emoji} {_prose(update.text)}"
    blocks = [_section(body)]
    if update.final:
        if update.status in ("failed", "cancelled"):
            info = _code(f"{COMMAND} info {update.cluster_name}", NAME_SHOWN_CHARS + 20)
            blocks.append(_context(slack_messages.failed_hint(info)))
        blocks.extend(_button_blocks(update.buttons))
        fallback = body
    else:
        step = _value(update.step, STEP_SHOWN_CHARS)
        blocks.append(_section(f"`{progress_bar(update.progress)}`" + (f"\n{step}" if step else "")))
        blocks.extend(_button_blocks((cancel_button(update.cluster_name),)))
        fallback = slack_messages.progress_fallback(
            _value(update.cluster_name, NAME_SHOWN_CHARS), _value(update.kind), step, update.progress
        )
    blocks.append(
        _context(
            slack_messages.operation_context(update.operation_id, _value(update.kind), _value(update.status))
        )
    )
    return _message(fallback, blocks)


def thread_note(note: str) -> dict:
    """One line in an operation's thread: a step, or the outcome sentence."""
    body = _prose(note)
    return _message(body, [_section(body)])


def credential_notice(cluster_name: str) -> dict:
    """The ephemeral "sent you the kubeconfig by DM" notice; the kubeconfig itself never appears here."""
    body = slack_messages.credential_notice(_code(cluster_name))
    return _message(body, [_section(body)])


# --- modals -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateInput:
    """A create-modal submission that passed the checks done here (profile, version, range: the handler's)."""

    name: str
    profile: str
    nodes: int | None
    version: str | None
    machine_type: str | None


@dataclass(frozen=True)
class RegisterInput:
    name: str
    kubeconfig: str = field(repr=False)


def _modal(
    callback_id: str, title: str, blocks: list[dict], *, submit: str | None, private_metadata: str
) -> dict:
    if len(private_metadata) > MAX_PRIVATE_METADATA:
        raise ValueError(
            f"private_metadata is {len(private_metadata)} characters; Slack takes {MAX_PRIVATE_METADATA}"
        )
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title, MAX_MODAL_TITLE),
        "close": _plain(slack_messages.CLOSE, MAX_MODAL_BUTTON),
        "blocks": blocks[:MAX_MODAL_BLOCKS],
        "private_metadata": private_metadata,
    }
    if submit is not None:
        view["submit"] = _plain(submit, MAX_MODAL_BUTTON)
    return view


def _input(block_id: str, label: str, element: dict, *, hint: str = "", optional: bool = False) -> dict:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label, MAX_INPUT_LABEL),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = _plain(hint, MAX_HINT)
    return block


def _text_input(*, max_length: int, placeholder: str, multiline: bool = False, initial: str = "") -> dict:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": INPUT_ACTION,
        "max_length": min(max_length, MAX_TEXT_INPUT),
        "multiline": multiline,
        "placeholder": _plain(placeholder, MAX_PLACEHOLDER),
    }
    if initial and len(initial) <= element["max_length"]:
        element["initial_value"] = initial
    return element


def _option(text: str, value: str) -> dict:
    return {"text": _plain(text, MAX_OPTION_TEXT), "value": value}


def _select(options: list[dict], *, placeholder: str, initial: str | None) -> dict:
    """A static select of at most 100 options; options whose value can't be sent whole are left out."""
    kept: list[dict] = []
    seen: set[str] = set()
    for option in options:
        value = option["value"]
        if not value or len(value) > MAX_OPTION_VALUE or value in seen:
            continue
        seen.add(value)
        kept.append(option)
    kept = kept[:MAX_OPTIONS]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": INPUT_ACTION,
        "placeholder": _plain(placeholder, MAX_PLACEHOLDER),
        "options": kept,
    }
    chosen = next((o for o in kept if o["value"] == initial), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return element


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else -1 for p in version.lstrip("v").split("."))


def _versions(form: CreateForm, default: ProfileChoice) -> list[str]:
    """Every profile's versions, newest first, the default profile's default always included."""
    found = {v for p in form.profiles for v in p.versions if v}
    ordered = sorted(found, key=_version_key, reverse=True)
    if default.default_version and default.default_version not in found:
        ordered.insert(0, default.default_version)
    if len(ordered) > MAX_OPTIONS and default.default_version in ordered[MAX_OPTIONS:]:
        ordered = [default.default_version, *[v for v in ordered if v != default.default_version]]
    return ordered[:MAX_OPTIONS]


def create_modal(form: CreateForm, *, private_metadata: str) -> dict:
    """The create form: name, profile, nodes, version and (optional) machine type."""
    if not form.profiles:
        return _modal(
            CREATE_CALLBACK,
            slack_messages.CREATE_TITLE,
            [_section(slack_messages.NO_PROFILES)],
            submit=None,
            private_metadata=private_metadata,
        )
    default = next((p for p in form.profiles if p.name == form.default_profile), form.profiles[0])
    profiles = list(form.profiles[:MAX_OPTIONS])
    if default not in profiles:
        profiles[-1] = default
    low = min(p.min_nodes for p in form.profiles)
    high = max(p.max_nodes for p in form.profiles)
    ranges = [slack_messages.node_range(p.name, p.min_nodes, p.max_nodes, p.default_nodes) for p in profiles]
    blocks = [
        _input(
            "name",
            slack_messages.LABEL_NAME,
            _text_input(max_length=grammar.MAX_NAME_CHARS, placeholder=slack_messages.PLACEHOLDER_NAME),
            hint=slack_messages.hint_name(grammar.MAX_NAME_CHARS),
        ),
        _input(
            "profile",
            slack_messages.LABEL_PROFILE,
            _select(
                [_option(f"{p.name} ({p.kind})", p.name) for p in profiles],
                placeholder=slack_messages.PLACEHOLDER_PROFILE,
                initial=default.name,
            ),
        ),
        _input(
            "nodes",
            slack_messages.LABEL_NODES,
            {
                "type": "number_input",
                "action_id": INPUT_ACTION,
                "is_decimal_allowed": False,
                # The widest range of all profiles: the chosen profile's own range is checked on submit.
                "min_value": str(low),
                "max_value": str(high),
                "initial_value": str(min(max(default.default_nodes, low), high)),
            },
            hint=slack_messages.hint_nodes(ranges),
        ),
    ]
    versions = _versions(form, default)
    if versions:
        blocks.append(
            _input(
                "version",
                slack_messages.LABEL_VERSION,
                _select(
                    [_option(v, v) for v in versions],
                    placeholder=slack_messages.PLACEHOLDER_VERSION,
                    initial=default.default_version,
                ),
            )
        )
    if default.machine_types:
        blocks.append(
            _input(
                "machine_type",
                slack_messages.LABEL_MACHINE_TYPE,
                _select(
                    [_option(t, t) for t in default.machine_types],
                    placeholder=slack_messages.PLACEHOLDER_MACHINE_TYPE,
                    initial=default.default_machine_type,
                ),
                hint=slack_messages.hint_machine_type(default.name),
                optional=True,
            )
        )
    return _modal(
        CREATE_CALLBACK,
        slack_messages.CREATE_TITLE,
        blocks,
        submit=slack_messages.CREATE_SUBMIT,
        private_metadata=private_metadata,
    )


def register_modal(*, private_metadata: str, name: str = "") -> dict:
    """The register form: a name and the pasted kubeconfig (at most Slack's 3000 characters)."""
    initial = name if name and len(name) <= grammar.MAX_NAME_CHARS else ""
    blocks = [
        _input(
            "name",
            slack_messages.LABEL_NAME,
            _text_input(
                max_length=grammar.MAX_NAME_CHARS,
                placeholder=slack_messages.PLACEHOLDER_NAME,
                initial=initial,
            ),
            hint=slack_messages.hint_name(grammar.MAX_NAME_CHARS),
        ),
        _input(
            "kubeconfig",
            slack_messages.LABEL_KUBECONFIG,
            _text_input(
                max_length=MAX_TEXT_INPUT, placeholder=slack_messages.PLACEHOLDER_KUBECONFIG, multiline=True
            ),
            hint=slack_messages.hint_kubeconfig(MAX_TEXT_INPUT),
        ),
    ]
    return _modal(
        REGISTER_CALLBACK,
        slack_messages.REGISTER_TITLE,
        blocks,
        submit=slack_messages.REGISTER_SUBMIT,
        private_metadata=private_metadata,
    )


# --- submissions ------------------------------------------------------------------------------------------

_WHOLE_NUMBER = re.compile(r"[0-9]{1,6}")


def _submitted(state_values: dict, block_id: str) -> str | None:
    """What the user entered or chose in one input block, or None (missing, empty, or not what we sent)."""
    block = state_values.get(block_id) if isinstance(state_values, dict) else None
    if not isinstance(block, dict) or not block:
        return None
    element = block.get(INPUT_ACTION)
    if not isinstance(element, dict):
        element = next((v for v in block.values() if isinstance(v, dict)), None)
    if element is None:
        return None
    value = element.get("value")
    if value is None:
        option = element.get("selected_option")
        value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) and value != "" else None


def _name_error(value: str | None) -> tuple[str | None, str | None]:
    """(name, None) when valid, else (None, message)."""
    try:
        return grammar.cluster_name((value or "").strip()), None
    except grammar._Invalid as e:  # what cluster_name raises on invalid input, with the user-facing message
        return None, _cut(str(e), MAX_HINT)


def parse_create_submission(state_values: dict) -> CreateInput | dict[str, str]:
    """The create form's values, or block_id → message for Slack's `response_action: "errors"`.

    Checked here: the name (the grammar's rules), a profile is chosen, nodes is a whole number. Whether the
    profile exists, the node range and the version are the handler's to check.
    """
    errors: dict[str, str] = {}
    name, problem = _name_error(_submitted(state_values, "name"))
    if problem:
        errors["name"] = problem
    profile = _submitted(state_values, "profile")
    if profile is None:
        errors["profile"] = slack_messages.PROFILE_REQUIRED
    nodes: int | None = None
    raw_nodes = _submitted(state_values, "nodes")
    if raw_nodes is not None:
        if _WHOLE_NUMBER.fullmatch(raw_nodes.strip()):
            nodes = int(raw_nodes.strip())
        else:
            errors["nodes"] = slack_messages.nodes_not_a_number(_code(raw_nodes, 20))
    if errors:
        return errors
    assert name is not None and profile is not None
    return CreateInput(
        name=name,
        profile=profile,
        nodes=nodes,
        version=_submitted(state_values, "version"),
        machine_type=_submitted(state_values, "machine_type"),
    )


def parse_register_submission(state_values: dict) -> RegisterInput | dict[str, str]:
    """The register form's values, or block_id → message; the handler checks the kubeconfig's content."""
    errors: dict[str, str] = {}
    name, problem = _name_error(_submitted(state_values, "name"))
    if problem:
        errors["name"] = problem
    kubeconfig = _submitted(state_values, "kubeconfig")
    if kubeconfig is None or not kubeconfig.strip():
        errors["kubeconfig"] = slack_messages.KUBECONFIG_REQUIRED
    elif len(kubeconfig) > MAX_TEXT_INPUT:
        errors["kubeconfig"] = slack_messages.kubeconfig_too_long(len(kubeconfig), MAX_TEXT_INPUT)
    if errors:
        return errors
    assert name is not None and kubeconfig is not None
    return RegisterInput(name=name, kubeconfig=kubeconfig)
