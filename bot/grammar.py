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
from typing import Any, Literal
from urllib.parse import urlsplit

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
MAX_APP_CHARS = 40
"""App names become part of release and resource names; 40 leaves room for prefixes and suffixes."""
MAX_LABEL_CHARS = 63
"""Kubernetes' limit on a label value and on a namespace name (a DNS-1123 label)."""
MAX_URL_CHARS = 2048
MAX_VALUES_FILES = 5
MAX_SET_VALUES = 50
MAX_SET_CHARS = 1000
MIN_TIMEOUT, MAX_TIMEOUT = 10, 3600
"""Seconds to wait for a deployment to become ready."""
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
class CancelCmd:
    name: str


@dataclass(frozen=True)
class ScaleCmd:
    name: str
    nodes: int


@dataclass(frozen=True)
class RegisterCmd:
    name: str
    kubeconfig_path: str | None = None


SourceKind = Literal["url", "slack_file", "path", "chart"]


@dataclass(frozen=True)
class DeployCmd:
    """`cluster=None` means: open the deployment form; `app=None` (with a cluster): open it prefilled.

    At most one of `source` and `chart` is set; neither means the YAML is to be pasted into the form.
    """

    cluster: str | None
    app: str | None
    version: str | None
    source: str | None
    namespace: str | None = None
    values: tuple[str, ...] = ()
    set_values: tuple[str, ...] = ()
    chart: str | None = None
    chart_version: str | None = None
    timeout: int | None = None

    @property
    def source_kind(self) -> SourceKind | None:
        """Where the app comes from: an address, a Slack file, a local path (shell), a chart, or the form."""
        if self.chart is not None:
            return "chart"
        if self.source is None:
            return None
        if slack_file_id(self.source) is not None:
            return "slack_file"
        return "url" if _SCHEME.match(self.source) else "path"

    @property
    def slack_file_id(self) -> str | None:
        """The Slack file ID (`F…`) of a Slack file source, whether given as an ID or as a link."""
        return None if self.source is None else slack_file_id(self.source)


@dataclass(frozen=True)
class UndeployCmd:
    """`version=None` means every version of the app (the handler asks to confirm)."""

    cluster: str
    app: str
    version: str | None = None


@dataclass(frozen=True)
class AppsCmd:
    cluster: str


@dataclass(frozen=True)
class CheckCmd:
    cluster: str


@dataclass(frozen=True)
class BackupCmd:
    """`namespace=None` means the whole cluster."""

    cluster: str
    namespace: str | None = None


@dataclass(frozen=True)
class BackupsCmd:
    cluster: str


@dataclass(frozen=True)
class RestoreCmd:
    """`backup` is a backup's name or number as `backups` lists it."""

    cluster: str
    backup: str
    namespace: str | None = None
    overwrite: bool = False


@dataclass(frozen=True)
class ParseError:
    """`message` says what is wrong and what to do; `usage` is the usage line of the command concerned."""

    message: str
    usage: str


Command = (
    CreateCmd
    | ListCmd
    | InfoCmd
    | KubeconfigCmd
    | DeleteCmd
    | CancelCmd
    | RegisterCmd
    | ScaleCmd
    | DeployCmd
    | UndeployCmd
    | AppsCmd
    | CheckCmd
    | BackupCmd
    | BackupsCmd
    | RestoreCmd
)


class _Invalid(Exception):
    """Internal: a user-facing message, turned into a ParseError by `parse`."""


# --- value checks -----------------------------------------------------------------------------------------

# Literal ASCII ranges: `[a-z]` never matches Cyrillic or other look-alike letters.
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_DIGITS = re.compile(r"[0-9]{1,7}")
_VERSION = re.compile(r"v?([0-9]{1,3}\.[0-9]{1,3}(?:\.[0-9]{1,4})?)")
_MACHINE_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_FIXABLE_NAME = re.compile(r"[A-Za-z0-9_. -]+")
_LABEL_VALUE = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_CHART_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}")
_CHART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_SET_KEY = re.compile(r"[A-Za-z0-9_.\[\]][A-Za-z0-9_.\[\]-]*")
# Two or more letters before ':' so that a Windows drive (`C:\…`) still reads as a path.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")
_SLACK_FILE_ID = re.compile(r"F[A-Z0-9]{8,12}")
# A file's permalink (`/files/USER/ID/name`) or its download address (`/files-pri/TEAM-ID/name`).
_SLACK_FILE_PATH = re.compile(r"/files(?:/[^/]+/|-pri/T[A-Z0-9]+-)(F[A-Z0-9]{8,12})(?:/.*)?")
_FILE_ENDINGS = (".yaml", ".yml", ".json", ".tgz")
_WEB = frozenset({"http", "https"})
_CHART_SCHEMES = frozenset({"oci", "http", "https"})


def _is_dns_label(value: str, max_chars: int) -> bool:
    return len(value) <= max_chars and _DNS_LABEL.fullmatch(value) is not None


def _label(value: str, max_chars: int, kind: str, *, suggest: bool = True) -> str:
    """A DNS-1123 label; `kind` ("cluster", "app", …) picks the wording of the error."""
    if not value:
        raise _Invalid(messages.empty_name(max_chars, kind=kind))
    if _is_dns_label(value, max_chars):
        return value
    foreign = next((ch for ch in value if not ch.isascii()), None)
    suggestion = None
    if suggest and _FIXABLE_NAME.fullmatch(value):
        fixed = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:max_chars].rstrip("-")
        if fixed != value and _is_dns_label(fixed, max_chars):
            suggestion = fixed
    raise _Invalid(messages.bad_name(value, max_chars, kind=kind, foreign=foreign, suggestion=suggestion))


def cluster_name(value: str) -> str:
    """A DNS-1123 label of at most MAX_NAME_CHARS characters."""
    return _label(value, MAX_NAME_CHARS, "cluster")


def _namespace(value: str) -> str:
    return _label(value, MAX_LABEL_CHARS, "namespace")


def _backup(value: str) -> str:
    # kaas names backups `CLUSTER-YYYYMMDD-HHMMSS` and numbers them; both are DNS-1123 labels. No fix is
    # suggested: a guess (`-1` → `1`) could name another backup, and restoring it would overwrite things.
    return _label(value, MAX_LABEL_CHARS, "backup", suggest=False)


def _app_ref(value: str) -> tuple[str, str | None]:
    """`APP` or `APP@VERSION`, as (app, version)."""
    app, at, version = value.partition("@")
    # A source where the app is due: the app was left out (`deploy CLUSTER https://…`).
    if "/" in app or app.lower().endswith(_FILE_ENDINGS) or _SLACK_FILE_ID.fullmatch(app):
        raise _Invalid(messages.source_for_app(value))
    if not at and ":" in app:
        # `web:1.2`, out of the habit of image tags.
        name, _, tag = app.partition(":")
        if _is_dns_label(name, MAX_APP_CHARS) and _LABEL_VALUE.fullmatch(tag):
            raise _Invalid(messages.app_version_after_colon(value, f"{name}@{tag}"))
    app = _label(app, MAX_APP_CHARS, "app")
    if not at:
        return app, None
    if not version:
        raise _Invalid(messages.empty_app_version(app))
    if len(version) > MAX_LABEL_CHARS or not _LABEL_VALUE.fullmatch(version):
        raise _Invalid(messages.bad_app_version(version, MAX_LABEL_CHARS))
    return app, version


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


def _path(what: str) -> Callable[[str], str]:
    """A local file path, as only `kaas shell` reads them; `what` is the option or argument it is for."""

    def convert(value: str) -> str:
        # NUL can't be in a path; other control characters are refused too, as they are never meant.
        if not value or len(value) > MAX_PATH_CHARS or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise _Invalid(messages.bad_path(value, MAX_PATH_CHARS, what))
        return value

    return convert


def _url(value: str, what: str, schemes: frozenset[str]) -> str:
    """A web (or OCI) address that is safe to hand on; whether its host may be reached is checked later."""
    if len(value) > MAX_URL_CHARS:
        raise _Invalid(messages.url_too_long(len(value), MAX_URL_CHARS, what))
    # Backslashes are refused as parsers disagree on them (`https://a\@b` is host `b` to some, `a` to others).
    if any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in value):
        raise _Invalid(messages.url_bad_character(value, what))
    scheme = value.partition(":")[0].lower()
    if scheme not in schemes:
        raise _Invalid(messages.url_bad_scheme(value, what, "oci" in schemes))
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- reading it is what checks the port
    except ValueError:
        raise _Invalid(messages.bad_url(value, what)) from None
    if "@" in parts.netloc:
        # Not echoed back: the part before '@' may well be a password.
        raise _Invalid(messages.url_with_userinfo(what))
    if not parts.hostname or not value[len(scheme) + 1 :].startswith("//"):
        raise _Invalid(messages.bad_url(value, what))
    return value


def slack_file_id(value: str) -> str | None:
    """The ID of the Slack file that `value` names (a bare `F…` ID or a Slack file link), else None."""
    if _SLACK_FILE_ID.fullmatch(value):
        return value
    if not _SCHEME.match(value):
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        return None
    if parts.scheme.lower() not in _WEB or not (host == "slack.com" or host.endswith(".slack.com")):
        return None
    match = _SLACK_FILE_PATH.fullmatch(parts.path)
    return match.group(1) if match else None


def _source(value: str) -> str:
    if _SLACK_FILE_ID.fullmatch(value):
        return value
    if _SCHEME.match(value):
        return _url(value, "SOURCE", _WEB)
    return _path("SOURCE")(value)


def _values_file(value: str) -> str:
    if _SCHEME.match(value):
        return _url(value, "--values", _WEB)
    return _path("--values")(value)


def _chart(value: str) -> str:
    if not _SCHEME.match(value):
        return _path("--chart")(value)
    url = _url(value, "--chart", _CHART_SCHEMES)
    # The last part of the path is the chart's name; what comes before it is the repository.
    if not _CHART_NAME.fullmatch(urlsplit(url).path.rpartition("/")[2]):
        raise _Invalid(messages.chart_without_name(url))
    return url


def _chart_version(value: str) -> str:
    if _CHART_VERSION.fullmatch(value):
        return value
    raise _Invalid(messages.bad_chart_version(value))


def _set_value(value: str) -> str:
    if len(value) > MAX_SET_CHARS:
        raise _Invalid(messages.set_too_long(len(value), MAX_SET_CHARS))
    key, equals, _ = value.partition("=")
    if not equals:
        raise _Invalid(messages.set_without_equals(value))
    if not _SET_KEY.fullmatch(key):
        raise _Invalid(messages.bad_set_key(key))
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise _Invalid(messages.set_control_character(value))
    return value


# --- the command table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Option:
    field: str
    convert: Callable[[str], object] | None = None
    """None: a flag, which takes no value and is True when present."""
    repeat: int = 1
    """How many times the option may be given; when above 1, its values are collected into a tuple."""


@dataclass(frozen=True)
class _Positional:
    """A value after the cluster name (e.g. the node count of `scale NAME N`)."""

    field: str
    convert: Callable[[str], object]
    label: str
    """How the usage line calls it, for the error when it is missing."""
    required: bool = True
    dashed: bool = True
    """True when the value can't start with '-': `-x` in its place is then a misspelt value, not an option."""


@dataclass(frozen=True)
class _Spec:
    name: Literal["required", "optional", "none"]
    options: dict[str, _Option]
    build: Callable[..., Command]
    after: tuple[_Positional, ...] = ()
    """The values after the name, in order; an optional one can only be followed by optional ones."""


def _build_deploy(
    cluster: str | None,
    app: tuple[str, str | None] | None = None,
    source: str | None = None,
    **options: Any,
) -> DeployCmd:
    """A DeployCmd, after the rules that tie its values together (the table can't say those)."""
    if app is None and options:
        raise _Invalid(messages.options_need_name("deploy"))
    if source is not None and "chart" in options:
        raise _Invalid(messages.source_and_chart(source))
    if "chart_version" in options and "chart" not in options:
        raise _Invalid(messages.chart_version_without_chart())
    name, version = app if app is not None else (None, None)
    return DeployCmd(cluster, name, version, source, **options)


def _build_undeploy(cluster: str, app: tuple[str, str | None]) -> UndeployCmd:
    return UndeployCmd(cluster, *app)


_NAMESPACE = _Option("namespace", _namespace)

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
    "cancel": _Spec("required", {}, CancelCmd),
    "register": _Spec(
        "required", {"--kubeconfig": _Option("kubeconfig_path", _path("--kubeconfig"))}, RegisterCmd
    ),
    "scale": _Spec(
        "required",
        {},
        ScaleCmd,
        after=(_Positional("nodes", _number("NODES", MIN_NODES, MAX_NODES), "NODES"),),
    ),
    "deploy": _Spec(
        "optional",
        {
            "--namespace": _NAMESPACE,
            "--values": _Option("values", _values_file, repeat=MAX_VALUES_FILES),
            "--set": _Option("set_values", _set_value, repeat=MAX_SET_VALUES),
            "--chart": _Option("chart", _chart),
            "--chart-version": _Option("chart_version", _chart_version),
            "--timeout": _Option("timeout", _number("--timeout", MIN_TIMEOUT, MAX_TIMEOUT)),
        },
        _build_deploy,
        after=(
            _Positional("app", _app_ref, "APP", required=False),
            _Positional("source", _source, "SOURCE", required=False, dashed=False),
        ),
    ),
    "undeploy": _Spec("required", {}, _build_undeploy, after=(_Positional("app", _app_ref, "APP"),)),
    "apps": _Spec("required", {}, AppsCmd),
    "check": _Spec("required", {}, CheckCmd),
    "backup": _Spec("required", {"--namespace": _NAMESPACE}, BackupCmd),
    "backups": _Spec("required", {}, BackupsCmd),
    "restore": _Spec(
        "required",
        {"--namespace": _NAMESPACE, "--overwrite": _Option("overwrite")},
        RestoreCmd,
        after=(_Positional("backup", _backup, "BACKUP"),),
    ),
}

SUBCOMMANDS: tuple[str, ...] = (*_SPECS, "help")

# Words people reach for out of habit; only ever suggested, never accepted. Options from Helm and kubectl
# (`-f`, `-n`) are here too: `_suggest` offers a synonym only where it is one of the choices.
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
    "abort": "cancel",
    "stop": "cancel",
    "import": "register",
    "resize": "scale",
    "install": "deploy",
    "release": "deploy",
    "upgrade": "deploy",
    "apply": "deploy",
    "uninstall": "undeploy",
    "releases": "apps",
    "health": "check",
    "usage": "check",
    "top": "check",
    "snapshot": "backup",
    "snapshots": "backups",
    "-f": "--values",
    "-n": "--namespace",
    "--set-string": "--set",
    "--repo": "--chart",
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
        return ParseError(messages.extra_argument(args[1], "help"), messages.usage("help"))
    topic = args[0].lower()
    if topic in SUBCOMMANDS:
        return Help(topic)
    return ParseError(
        messages.unknown_help_topic(args[0], _suggest(topic, SUBCOMMANDS)), messages.usage("help")
    )


def _parse_args(word: str, spec: _Spec, args: list[str]) -> Command:
    name: str | None = None
    name_seen = False
    given = 0  # how many of spec.after have been given
    values: dict[str, object] = {}
    repeated: dict[str, list[object]] = {}
    counts: dict[str, int] = {}
    position = 0
    while position < len(args):
        token = args[position]
        position += 1
        name_due = spec.name != "none" and not name_seen
        due = spec.after[given] if name_seen and given < len(spec.after) else None
        # `-x` where a name is due is a misspelt name (names can't start with '-'), not an unknown option;
        # the same goes for the other values that can't start with '-' (`scale NAME -3`).
        value_due = name_due or (due is not None and due.dashed)
        if token.startswith("--") or (token.startswith("-") and len(token) > 1 and not value_due):
            option, has_value, value = token.partition("=")
            known = spec.options.get(option)
            if known is None:
                raise _Invalid(
                    messages.unknown_option(
                        option, word, list(spec.options), _suggest(option, list(spec.options))
                    )
                )
            counts[option] = counts.get(option, 0) + 1
            if counts[option] > known.repeat:
                if known.repeat == 1:
                    raise _Invalid(messages.repeated_option(option))
                raise _Invalid(messages.too_many(option, known.repeat))
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
            if known.repeat > 1:
                repeated.setdefault(known.field, []).append(known.convert(value))
            else:
                values[known.field] = known.convert(value)
        elif due is not None:
            values[due.field] = due.convert(token)
            given += 1
        elif name_due:
            name = cluster_name(token)
            name_seen = True
        else:
            raise _Invalid(messages.extra_argument(token, word))

    values.update({field: tuple(items) for field, items in repeated.items()})
    if spec.name == "required" and name is None:
        raise _Invalid(messages.missing_name(word))
    missing = next((after for after in spec.after[given:] if after.required), None)
    if missing is not None:
        raise _Invalid(messages.missing_positional(word, missing.label))
    if spec.name == "optional" and name is None and values:
        raise _Invalid(messages.options_need_name(word))
    if spec.name == "none":
        return spec.build(**values)
    return spec.build(name, **values)
