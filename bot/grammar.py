"""The one `/kaas` command grammar, shared by the Slack app and `kaas shell`.

Pure: `parse(text)` turns what follows `/kaas` into a typed, validated command, a `Help` request or a
`ParseError`. It never raises on user input and never executes anything; its wording lives in bot/messages.py.

Steps:
1. refuse text longer than Slack's own limit;
2. undo Slack's formatting (auto-links back to their text, `&lt;` entities, smart quotes, odd spaces);
3. split with shell-like rules (quotes group words; nothing is expanded or run);
4. dispatch on the subcommand and validate every value, so handlers only ever see well-formed input.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot import messages

MAX_INPUT_CHARS = 4000
"""Slack's own limit on the text of a slash command."""
MAX_NAME_CHARS = 40
"""Cluster names become part of provider resource names; 40 leaves room for prefixes and suffixes."""
MAX_PROVIDER_CHARS = 63
MIN_NODES, MAX_NODES = 1, 100
"""Parse-time bounds; a provider profile narrows them further."""
MIN_PAGE, MAX_PAGE = 1, 1000
MAX_PATH_CHARS = 4096
HELP_FLAGS = ("--help", "-h")
PREFIX = "/kaas"


# --- what a line parses into ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True)
class CreateCmd:
    """`name=None` means: open the creation form."""

    name: str | None
    provider: str | None = None
    nodes: int | None = None
    version: str | None = None
    machine_type: str | None = None


@dataclass(frozen=True)
class ListCmd:
    all: bool = False
    page: int = 1


@dataclass(frozen=True)
class InfoCmd:
    name: str


@dataclass(frozen=True)
class KubeconfigCmd:
    name: str


@dataclass(frozen=True)
class DeleteCmd:
    name: str


@dataclass(frozen=True)
class ScaleCmd:
    name: str
    nodes: int


@dataclass(frozen=True)
class RegisterCmd:
    name: str
    kubeconfig_path: str | None = None


@dataclass(frozen=True)
class ParseError:
    """`message` says what is wrong and what to do; `usage` is the usage line of the command concerned."""

    message: str
    usage: str


Command = CreateCmd | ListCmd | InfoCmd | KubeconfigCmd | DeleteCmd | RegisterCmd | ScaleCmd


class _Invalid(Exception):
    """Internal: a user-facing message, turned into a ParseError by `parse`."""


# --- value checks -----------------------------------------------------------------------------------------

# Literal ASCII ranges: `[a-z]` never matches Cyrillic or other look-alike letters.
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_DIGITS = re.compile(r"[0-9]{1,7}")
_VERSION = re.compile(r"v?([0-9]{1,3}\.[0-9]{1,3}(?:\.[0-9]{1,4})?)")
_MACHINE_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_FIXABLE_NAME = re.compile(r"[A-Za-z0-9_. -]+")


def _is_dns_label(value: str, max_chars: int) -> bool:
    return len(value) <= max_chars and _DNS_LABEL.fullmatch(value) is not None


def cluster_name(value: str) -> str:
    """A DNS-1123 label of at most MAX_NAME_CHARS characters."""
    if not value:
        raise _Invalid(messages.empty_name(MAX_NAME_CHARS))
    if _is_dns_label(value, MAX_NAME_CHARS):
        return value
    foreign = next((ch for ch in value if not ch.isascii()), None)
    suggestion = None
    if _FIXABLE_NAME.fullmatch(value):
        fixed = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:MAX_NAME_CHARS].rstrip("-")
        if fixed != value and _is_dns_label(fixed, MAX_NAME_CHARS):
            suggestion = fixed
    raise _Invalid(messages.bad_name(value, MAX_NAME_CHARS, foreign=foreign, suggestion=suggestion))


def _number(option: str, low: int, high: int) -> Callable[[str], int]:
    def convert(value: str) -> int:
        # ASCII digits only: int() would also take "+3", " 3", "1_0" and non-Latin digits.
        if _DIGITS.fullmatch(value) and low <= int(value) <= high:
            return int(value)
        raise _Invalid(messages.bad_number(option, value, low, high))

    return convert


def _version(value: str) -> str:
    match = _VERSION.fullmatch(value)
    if match is None:
        raise _Invalid(messages.bad_version(value))
    return match.group(1)


def _provider(value: str) -> str:
    if _is_dns_label(value, MAX_PROVIDER_CHARS):
        return value
    raise _Invalid(messages.bad_provider(value, MAX_PROVIDER_CHARS))


def _machine_type(value: str) -> str:
    if _MACHINE_TYPE.fullmatch(value):
        return value
    raise _Invalid(messages.bad_machine_type(value))


def _path(value: str) -> str:
    # NUL can't be in a path; other control characters are refused too, as they are never meant.
    if not value or len(value) > MAX_PATH_CHARS or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise _Invalid(messages.bad_path(value, MAX_PATH_CHARS))
    return value


# --- the command table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Option:
    field: str
    convert: Callable[[str], object] | None = None
    """None: a flag, which takes no value and is True when present."""


@dataclass(frozen=True)
class _Spec:
    name: Literal["required", "optional", "none"]
    options: dict[str, _Option]
    build: Callable[..., Command]
    then: _Option | None = None
    """A required positional value after the name (e.g. the node count of `scale NAME N`)."""


_SPECS: dict[str, _Spec] = {
    "create": _Spec(
        "optional",
        {
            "--provider": _Option("provider", _provider),
            "--nodes": _Option("nodes", _number("--nodes", MIN_NODES, MAX_NODES)),
            "--version": _Option("version", _version),
            "--machine-type": _Option("machine_type", _machine_type),
        },
        CreateCmd,
    ),
    "list": _Spec(
        "none",
        {"--all": _Option("all"), "--page": _Option("page", _number("--page", MIN_PAGE, MAX_PAGE))},
        ListCmd,
    ),
    "info": _Spec("required", {}, InfoCmd),
    "kubeconfig": _Spec("required", {}, KubeconfigCmd),
    "delete": _Spec("required", {}, DeleteCmd),
    "register": _Spec("required", {"--kubeconfig": _Option("kubeconfig_path", _path)}, RegisterCmd),
    "scale": _Spec("required", {}, ScaleCmd, then=_Option("nodes", _number("NODES", MIN_NODES, MAX_NODES))),
}

SUBCOMMANDS: tuple[str, ...] = (*_SPECS, "help")

# Words people reach for out of habit; only ever suggested, never accepted.
_SYNONYMS = {
    "new": "create",
    "add": "create",
    "ls": "list",
    "show": "info",
    "get": "info",
    "describe": "info",
    "status": "info",
    "creds": "kubeconfig",
    "credentials": "kubeconfig",
    "rm": "delete",
    "remove": "delete",
    "destroy": "delete",
    "import": "register",
    "resize": "scale",
}


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    if word in _SYNONYMS and _SYNONYMS[word] in choices:
        return _SYNONYMS[word]
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


# --- undoing Slack's formatting ---------------------------------------------------------------------------

# `<http://x|label>`, `<http://x>`, `<mailto:a@b|a@b>`: Slack's auto-links, turned back into what was typed.
_LINK = re.compile(r"<((?:https?|mailto):[^<>|]*)(?:\|([^<>]*))?>")
_TRANSLATE = str.maketrans(
    {
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"'),  # curly double quotes and double prime
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),  # single curly quotes and prime
        # No-break, figure, thin, ideographic and other wide spaces, plus vertical tab and form feed.
        **dict.fromkeys(
            "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a", " "
        ),
        **dict.fromkeys("\u202f\u205f\u3000\v\f", " "),
    }
)


def _unlink(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if label is not None:
        return label
    return target.removeprefix("mailto:")


def normalize(text: str) -> str:
    """Undo Slack's formatting so that Slack and the shell see the same line."""
    text = _LINK.sub(_unlink, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.translate(_TRANSLATE).strip()


def _guess_subcommand(text: str) -> str | None:
    """The subcommand of a line that can't be tokenized, so its error can still show the right usage."""
    words = text.split()
    if words and words[0].lower() == PREFIX:
        words = words[1:]
    if words and words[0].lower() in SUBCOMMANDS:
        return words[0].lower()
    return None


# --- parsing ----------------------------------------------------------------------------------------------


def parse(text: str) -> Command | Help | ParseError:
    """Parse what follows `/kaas` (a leading `/kaas` is accepted too). Never raises on user input."""
    if len(text) > MAX_INPUT_CHARS:
        return ParseError(
            messages.too_long(len(text), MAX_INPUT_CHARS), messages.usage(_guess_subcommand(text))
        )
    text = normalize(text)
    try:
        tokens = shlex.split(text, comments=False, posix=True)
    except ValueError as e:
        message = messages.trailing_backslash() if "escaped" in str(e) else messages.unclosed_quote()
        return ParseError(message, messages.usage(_guess_subcommand(text)))

    if tokens and tokens[0].lower() == PREFIX:
        tokens = tokens[1:]
    if not tokens or tokens[0] in HELP_FLAGS:
        return Help(None)
    word, args = tokens[0].lower(), tokens[1:]
    if word == "help":
        return _parse_help(args)
    spec = _SPECS.get(word)
    if spec is None:
        return ParseError(
            messages.unknown_command(tokens[0], _suggest(word, SUBCOMMANDS)), messages.usage(None)
        )
    if any(arg in HELP_FLAGS for arg in args):
        return Help(word)
    try:
        return _parse_args(word, spec, args)
    except _Invalid as e:
        return ParseError(str(e), messages.usage(word))


def _parse_help(args: list[str]) -> Help | ParseError:
    if not args:
        return Help(None)
    if len(args) > 1:
        return ParseError(messages.extra_argument(args[1], "help", takes_name=True), messages.usage("help"))
    topic = args[0].lower()
    if topic in SUBCOMMANDS:
        return Help(topic)
    return ParseError(
        messages.unknown_help_topic(args[0], _suggest(topic, SUBCOMMANDS)), messages.usage("help")
    )


def _parse_args(word: str, spec: _Spec, args: list[str]) -> Command:
    name: str | None = None
    name_seen = False
    values: dict[str, object] = {}
    seen: set[str] = set()
    position = 0
    while position < len(args):
        token = args[position]
        position += 1
        name_expected = spec.name != "none" and not name_seen
        # `-x` where a name is due is a misspelt name (names can't start with '-'), not an unknown option.
        count_expected = name_seen and spec.then is not None and spec.then.field not in values
        negative_count = count_expected and token[:1] == "-" and token[1:].isdigit()
        if not negative_count and (
            token.startswith("--") or (token.startswith("-") and len(token) > 1 and not name_expected)
        ):
            option, has_value, value = token.partition("=")
            known = spec.options.get(option)
            if known is None:
                raise _Invalid(
                    messages.unknown_option(
                        option, word, list(spec.options), _suggest(option, list(spec.options))
                    )
                )
            if option in seen:
                raise _Invalid(messages.repeated_option(option))
            seen.add(option)
            if known.convert is None:
                if has_value:
                    raise _Invalid(messages.flag_with_value(option))
                values[known.field] = True
                continue
            if not has_value:
                if position >= len(args) or args[position].startswith("--"):
                    raise _Invalid(messages.missing_value(option))
                value = args[position]
                position += 1
            values[known.field] = known.convert(value)
        elif name_seen and spec.then is not None and spec.then.field not in values:
            values[spec.then.field] = spec.then.convert(token) if spec.then.convert else token
        elif spec.name == "none" or name_seen:
            raise _Invalid(messages.extra_argument(token, word, takes_name=spec.name != "none"))
        else:
            name = cluster_name(token)
            name_seen = True

    if spec.name == "required" and name is None:
        raise _Invalid(messages.missing_name(word))
    if spec.then is not None and spec.then.field not in values:
        raise _Invalid(messages.missing_positional(word, spec.then.field.upper()))
    if spec.name == "optional" and name is None and values:
        raise _Invalid(messages.create_options_need_name())
    if spec.name == "none":
        return spec.build(**values)
    return spec.build(name, **values)
