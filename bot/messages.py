"""Every user-facing string of the `/kaas` command grammar, in one place.

Usage lines, help text and error templates live here so that the tone stays the same everywhere: short,
actionable, no blame, and every error ends by saying what to do next. The grammar (bot/grammar.py) only
decides *which* message applies; the wording is ours.

Anything the user typed that we echo back goes through `shown()`, which escapes Slack's control characters
(`&`, `<`, `>`), makes invisible characters visible, shortens long values and wraps the result in a code span,
so that echoed text can neither ping a channel, forge a link nor break the formatting of the reply. The same
strings are printed as plain text by `kaas shell`.
"""

from __future__ import annotations

from collections.abc import Sequence

COMMAND = "/kaas"
EXAMPLE_NAME = "my-app-1"

#: Longest piece of user text echoed back in a message; the rest is elided.
SHOWN_MAX_CHARS = 40

USAGE: dict[str, str] = {
    "create": (
        "/kaas create NAME [--provider PROFILE] [--nodes N] [--version V] [--machine-type TYPE]"
        "   (or just /kaas create to open a form)"
    ),
    "list": "/kaas list [--all] [--page N]",
    "info": "/kaas info NAME",
    "kubeconfig": "/kaas kubeconfig NAME",
    "delete": "/kaas delete NAME",
    "register": "/kaas register NAME [--kubeconfig PATH]",
    "scale": "/kaas scale NAME NODES",
    "help": "/kaas help [COMMAND]",
}

GENERAL_USAGE = "/kaas create | list | info | kubeconfig | scale | delete | register | help [COMMAND]"

#: One example per option, used when a value is missing or malformed.
OPTION_EXAMPLES: dict[str, str] = {
    "--provider": "--provider sandbox",
    "--nodes": "--nodes 3",
    "--version": "--version 1.32",
    "--machine-type": "--machine-type e2-standard-4",
    "--page": "--page 2",
    "--kubeconfig": "--kubeconfig /path/to/kubeconfig",
    "--all": "--all",
    "NODES": "5",
}

HELP_TEXT = """\
kaas: Kubernetes clusters from Slack.
• `/kaas create NAME`: create a cluster (send just `/kaas create` to open a form)
• `/kaas list`: list your clusters (`--all` for everyone's)
• `/kaas info NAME`: show a cluster's status, version and nodes
• `/kaas kubeconfig NAME`: get credentials for kubectl
• `/kaas scale NAME NODES`: change a cluster's node count
• `/kaas delete NAME`: delete a cluster
• `/kaas register NAME`: bring an existing cluster under kaas
For details on one command, send `/kaas help COMMAND`, e.g. `/kaas help create`."""

HELP_TOPICS: dict[str, str] = {
    "create": """\
`/kaas create NAME [--provider PROFILE] [--nodes N] [--version V] [--machine-type TYPE]`
Creates a cluster. NAME: 1 to 40 lowercase letters, digits and '-'.
• `--provider`: the provider profile to use (your workspace default if left out)
• `--nodes`: how many nodes, 1 to 100 (the profile may allow fewer)
• `--version`: Kubernetes version, e.g. `1.32` or `1.32.5`
• `--machine-type`: the provider's machine type, e.g. `e2-standard-4`
Send just `/kaas create` to fill in a form instead. Example: `/kaas create my-app-1 --nodes 3`""",
    "list": """\
`/kaas list [--all] [--page N]`
Lists your clusters. `--all` lists everyone's; `--page` shows further pages (1 to 1000).
Example: `/kaas list --all --page 2`""",
    "info": """\
`/kaas info NAME`
Shows a cluster's status, provider, version and nodes. Example: `/kaas info my-app-1`""",
    "kubeconfig": """\
`/kaas kubeconfig NAME`
Sends you a kubeconfig for the cluster, privately. Example: `/kaas kubeconfig my-app-1`""",
    "delete": """\
`/kaas delete NAME`
Deletes a cluster after you confirm. Example: `/kaas delete my-app-1`""",
    "register": """\
`/kaas register NAME [--kubeconfig PATH]`
Brings an existing cluster under kaas, reading its kubeconfig from PATH.
Example: `/kaas register legacy-1 --kubeconfig /path/to/kubeconfig`""",
    "scale": """\
`/kaas scale NAME NODES`
Changes how many nodes a cluster has (1 to 100; the profile may allow fewer). Owner or KaaS admin only.
Example: `/kaas scale my-app-1 5`""",
    "help": """\
`/kaas help [COMMAND]`
Shows all commands, or the details of one. Example: `/kaas help create`""",
}


def usage(subcommand: str | None) -> str:
    """The usage line of `subcommand`, or the general usage when it is None or not a command."""
    if subcommand is None:
        return GENERAL_USAGE
    return USAGE.get(subcommand, GENERAL_USAGE)


def help_text(topic: str | None) -> str:
    """The overview, or the details of one command."""
    if topic is None:
        return HELP_TEXT
    return HELP_TOPICS.get(topic, HELP_TEXT)


# --- echoing user text ------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape the three characters Slack gives meaning to (`&`, `<`, `>`), as Slack asks senders to."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _visible(ch: str) -> str:
    if ch == "`":
        return (
            "\u02cb"  # a look-alike (modifier letter grave), so the code span around the value stays closed
        )
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def shown(text: str) -> str:
    """User text made safe to put inside one of our replies: short, visible, escaped, in a code span."""
    if len(text) > SHOWN_MAX_CHARS:
        text = text[:SHOWN_MAX_CHARS] + "…"
    return "`" + escape("".join(_visible(ch) for ch in text)) + "`"


def _did_you_mean(suggestion: str | None) -> str:
    return f" Did you mean `{escape(suggestion)}`?" if suggestion else ""


# --- errors of the whole line -----------------------------------------------------------------------------


def too_long(length: int, limit: int) -> str:
    return (
        f"That command is {length} characters long; kaas reads at most {limit}. Shorten it and send it again."
    )


def unclosed_quote() -> str:
    return "A quote is opened but never closed. Close it (or remove it) and send the command again."


def trailing_backslash() -> str:
    return "The command ends with a lone backslash. Remove it and send the command again."


def unknown_command(word: str, suggestion: str | None) -> str:
    return (
        f"{shown(word)} isn't a kaas command.{_did_you_mean(suggestion)} "
        f"Send `{COMMAND} help` to see them all."
    )


def unknown_help_topic(word: str, suggestion: str | None) -> str:
    return (
        f"There is no help on {shown(word)}.{_did_you_mean(suggestion)} "
        f"Send `{COMMAND} help` to see every command."
    )


# --- errors of options and arguments ----------------------------------------------------------------------


def unknown_option(option: str, command: str, valid: Sequence[str], suggestion: str | None) -> str:
    if not valid:
        return (
            f"`{command}` takes no options, only a cluster name, e.g. `{COMMAND} {command} {EXAMPLE_NAME}`. "
            f"Remove {shown(option)} and send it again."
        )
    choices = ", ".join(f"`{name}`" for name in valid)
    return (
        f"{shown(option)} isn't an option of `{command}`.{_did_you_mean(suggestion)} "
        f"Its options are {choices}."
    )


def repeated_option(option: str) -> str:
    return f"`{option}` is given more than once. Keep one and send the command again."


def missing_value(option: str) -> str:
    return f"`{option}` needs a value, e.g. `{OPTION_EXAMPLES.get(option, option)}`."


def flag_with_value(option: str) -> str:
    return f"`{option}` takes no value. Write just `{option}` and send the command again."


def extra_argument(word: str, command: str, takes_name: bool) -> str:
    if takes_name:
        return f"`{command}` takes one cluster name; {shown(word)} is extra. Remove it and send it again."
    return f"`{command}` takes no arguments; {shown(word)} is extra. Remove it and send it again."


def missing_name(command: str) -> str:
    return f"`{command}` needs a cluster name, e.g. `{COMMAND} {command} {EXAMPLE_NAME}`."


def missing_positional(command: str, what: str) -> str:
    return f"`{command}` needs {what} after the cluster name, e.g. `{USAGE.get(command, GENERAL_USAGE)}`."


def create_options_need_name() -> str:
    return (
        f"Options need a cluster name before them, e.g. `{COMMAND} create {EXAMPLE_NAME} --nodes 3`. "
        f"To fill in a form instead, send just `{COMMAND} create`."
    )


# --- errors of values -------------------------------------------------------------------------------------


def empty_name(max_chars: int) -> str:
    return (
        f"The cluster name is empty. Use 1 to {max_chars} lowercase letters, digits and '-', "
        f"e.g. `{EXAMPLE_NAME}`."
    )


def bad_name(value: str, max_chars: int, *, foreign: str | None = None, suggestion: str | None = None) -> str:
    """`foreign` is the first non-ASCII character (homoglyphs look right but aren't); `suggestion` a fix."""
    if len(value) > max_chars:
        problem = f"{shown(value)} is {len(value)} characters long; a cluster name has at most {max_chars}."
    else:
        problem = f"{shown(value)} can't be a cluster name."
    text = (
        f"{problem} Use 1 to {max_chars} lowercase letters, digits and '-', "
        f"starting and ending with a letter or digit, e.g. `{EXAMPLE_NAME}`."
    )
    if foreign is not None:
        code = f"{shown(foreign)} (U+{ord(foreign):04X})"
        if foreign.isalnum():
            text += f" It contains {code}, which looks like a plain letter or digit but isn't one; retype it."
        else:
            text += f" It contains {code}, which a cluster name can't contain."
    if suggestion is not None:
        text += f" Try `{escape(suggestion)}`."
    return text


def bad_number(option: str, value: str, low: int, high: int) -> str:
    return (
        f"`{option}` takes a whole number from {low} to {high}; "
        f"{shown(value) if value else 'an empty value'} isn't one. "
        f"Try e.g. `{OPTION_EXAMPLES.get(option, option)}`."
    )


def bad_version(value: str) -> str:
    return (
        f"{shown(value) if value else 'An empty value'} isn't a Kubernetes version. "
        f"Write it like `1.32` or `1.32.5`, e.g. `--version 1.32`."
    )


def bad_provider(value: str, max_chars: int) -> str:
    return (
        f"{shown(value) if value else 'An empty value'} isn't a provider profile name. Profile names are "
        f"1 to {max_chars} lowercase letters, digits and '-', e.g. `--provider sandbox`."
    )


def bad_machine_type(value: str) -> str:
    return (
        f"{shown(value) if value else 'An empty value'} isn't a machine type. Use up to 63 letters, digits, "
        f"'.', '_' and '-', starting with a letter or digit, e.g. `--machine-type e2-standard-4`."
    )


def bad_path(value: str, max_chars: int) -> str:
    if not value:
        return "The kubeconfig path is empty. Give a file path, e.g. `--kubeconfig /path/to/kubeconfig`."
    if len(value) > max_chars:
        return (
            f"That kubeconfig path is {len(value)} characters long; the limit is {max_chars}. "
            "Use a shorter path."
        )
    return (
        f"The kubeconfig path {shown(value)} contains a control character. "
        f"Retype the path and send the command again."
    )
