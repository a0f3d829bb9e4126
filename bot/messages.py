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

import re
from collections.abc import Sequence

COMMAND = "/kaas"
EXAMPLE_NAME = "my-app-1"
EXAMPLE_APP = "web"
EXAMPLE_BACKUP = "my-app-1-20261124-131205"

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
    "cancel": "/kaas cancel NAME",
    "register": "/kaas register NAME [--kubeconfig PATH]",
    "scale": "/kaas scale NAME NODES",
    "deploy": (
        "/kaas deploy CLUSTER APP[@VERSION] [SOURCE] [--namespace NS] [--values FILE|URL]…"
        " [--set KEY=VALUE]… [--chart CHART] [--chart-version V] [--timeout SECONDS]"
        "   (or just /kaas deploy to paste YAML into a form)"
    ),
    "undeploy": "/kaas undeploy CLUSTER APP[@VERSION]",
    "apps": "/kaas apps CLUSTER",
    "check": "/kaas check CLUSTER",
    "backup": "/kaas backup CLUSTER [--namespace NS]",
    "backups": "/kaas backups CLUSTER",
    "restore": "/kaas restore CLUSTER BACKUP [--namespace NS] [--overwrite]",
    "help": "/kaas help [COMMAND]",
}

GENERAL_USAGE = (
    "/kaas create | list | info | check | kubeconfig | scale | delete | cancel | register"
    " | deploy | apps | undeploy | backup | backups | restore | help [COMMAND]"
)

#: What each command takes besides options, for errors about missing and extra arguments.
ARGUMENTS: dict[str, str] = {
    "create": "one cluster name",
    "list": "no arguments",
    "info": "one cluster name",
    "kubeconfig": "one cluster name",
    "delete": "one cluster name",
    "cancel": "one cluster name",
    "register": "one cluster name",
    "scale": "a cluster name and a node count",
    "deploy": "a cluster name, an app and a source",
    "undeploy": "a cluster name and an app",
    "apps": "one cluster name",
    "check": "one cluster name",
    "backup": "one cluster name",
    "backups": "one cluster name",
    "restore": "a cluster name and a backup",
    "help": "one command name",
}

#: One complete example per command, used in errors and in its help.
EXAMPLES: dict[str, str] = {
    "create": f"{COMMAND} create {EXAMPLE_NAME} --nodes 3",
    "list": f"{COMMAND} list --all --page 2",
    "info": f"{COMMAND} info {EXAMPLE_NAME}",
    "kubeconfig": f"{COMMAND} kubeconfig {EXAMPLE_NAME}",
    "delete": f"{COMMAND} delete {EXAMPLE_NAME}",
    "cancel": f"{COMMAND} cancel {EXAMPLE_NAME}",
    "register": f"{COMMAND} register legacy-1 --kubeconfig /path/to/kubeconfig",
    "scale": f"{COMMAND} scale {EXAMPLE_NAME} 5",
    "deploy": f"{COMMAND} deploy {EXAMPLE_NAME} {EXAMPLE_APP}@v1.2.3 https://example.com/web.yaml",
    "undeploy": f"{COMMAND} undeploy {EXAMPLE_NAME} {EXAMPLE_APP}",
    "apps": f"{COMMAND} apps {EXAMPLE_NAME}",
    "check": f"{COMMAND} check {EXAMPLE_NAME}",
    "backup": f"{COMMAND} backup {EXAMPLE_NAME} --namespace shop",
    "backups": f"{COMMAND} backups {EXAMPLE_NAME}",
    "restore": f"{COMMAND} restore {EXAMPLE_NAME} {EXAMPLE_BACKUP}",
    "help": f"{COMMAND} help create",
}

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
    "--namespace": "--namespace shop",
    "--values": "--values https://example.com/values.yaml",
    "--set": "--set replicaCount=2",
    "--chart": "--chart oci://registry.example.com/charts/nginx",
    "--chart-version": "--chart-version 15.4.2",
    "--timeout": "--timeout 600",
    "--overwrite": "--overwrite",
}

HELP_TEXT = """\
kaas: Kubernetes clusters from Slack.
Clusters:
• `/kaas create NAME`: create a cluster (send just `/kaas create` to open a form)
• `/kaas list`: list your clusters (`--all` for everyone's)
• `/kaas info NAME`: show a cluster's status, version and nodes
• `/kaas check CLUSTER`: check a cluster's health and resource usage
• `/kaas kubeconfig NAME`: get credentials for kubectl
• `/kaas scale NAME NODES`: change a cluster's node count
• `/kaas delete NAME`: delete a cluster
• `/kaas cancel NAME`: cancel what is queued or running on a cluster
• `/kaas register NAME`: bring an existing cluster under kaas
Apps:
• `/kaas deploy CLUSTER APP SOURCE`: deploy an app from YAML or a Helm chart \
(send just `/kaas deploy` to paste YAML into a form)
• `/kaas apps CLUSTER`: list the apps on a cluster
• `/kaas undeploy CLUSTER APP`: remove an app
Backups:
• `/kaas backup CLUSTER`: back up a cluster
• `/kaas backups CLUSTER`: list a cluster's backups
• `/kaas restore CLUSTER BACKUP`: restore a backup
For details on one command, send `/kaas help COMMAND`, e.g. `/kaas help deploy`."""

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
Deletes a cluster after you confirm. Whatever is still queued for it is cancelled; a create already under \
way finishes first, so no cluster is left running. Example: `/kaas delete my-app-1`""",
    "cancel": """\
`/kaas cancel NAME`
Cancels the cluster's queued operations at once, and running ones at their next safe point (a deploy \
following its rollout stops; a create, scale or delete already at the provider finishes first). \
Owner or KaaS admin only. Example: `/kaas cancel my-app-1`""",
    "register": """\
`/kaas register NAME [--kubeconfig PATH]`
Brings an existing cluster under kaas, reading its kubeconfig from PATH.
Example: `/kaas register legacy-1 --kubeconfig /path/to/kubeconfig`""",
    "scale": """\
`/kaas scale NAME NODES`
Changes how many nodes a cluster has (1 to 100; the profile may allow fewer). Owner or KaaS admin only.
Example: `/kaas scale my-app-1 5`""",
    "deploy": """\
`/kaas deploy CLUSTER APP[@VERSION] [SOURCE] [--namespace NS] [--values FILE|URL]… [--set KEY=VALUE]… \
[--chart CHART] [--chart-version V] [--timeout SECONDS]`
Deploys an app to a cluster. APP: 1 to 40 lowercase letters, digits and '-'; add `@VERSION` to name \
its version, e.g. `web@v1.2.3`.
SOURCE is the app's YAML: an https:// address or a Slack file (its link or its ID, e.g. `F0ABCDEF12`); \
in `kaas shell`, a file path.
To paste the YAML into a form instead, send just `/kaas deploy` (or `/kaas deploy CLUSTER APP`).
• `--chart`: a Helm chart instead of SOURCE: `oci://HOST/PATH/NAME`, or a chart repository's address \
followed by the chart's name, e.g. `https://charts.example.com/stable/nginx` (in the shell, a chart \
directory or .tgz too)
• `--chart-version`: the chart version to deploy, e.g. `15.4.2` (with `--chart` only)
• `--values`: a values file, as an https:// address (or a path in the shell); up to 5
• `--set KEY=VALUE`: one value, e.g. `--set replicaCount=2`; up to 50. Only for values that aren't \
secret: put secrets in a values file
• `--namespace`: the namespace to deploy to
• `--timeout`: how long to wait for the app to be ready, 10 to 3600 seconds
Example: `/kaas deploy my-app-1 web@v1.2.3 https://example.com/web.yaml`""",
    "undeploy": """\
`/kaas undeploy CLUSTER APP[@VERSION]`
Removes an app from a cluster after you confirm; without `@VERSION`, every version of the app.
Example: `/kaas undeploy my-app-1 web`""",
    "apps": """\
`/kaas apps CLUSTER`
Lists the apps deployed on a cluster. Example: `/kaas apps my-app-1`""",
    "check": """\
`/kaas check CLUSTER`
Checks a cluster's health and resource usage. Example: `/kaas check my-app-1`""",
    "backup": """\
`/kaas backup CLUSTER [--namespace NS]`
Backs up a cluster, or only one of its namespaces with `--namespace`.
Example: `/kaas backup my-app-1 --namespace shop`""",
    "backups": """\
`/kaas backups CLUSTER`
Lists a cluster's backups, with the names `restore` takes. Example: `/kaas backups my-app-1`""",
    "restore": """\
`/kaas restore CLUSTER BACKUP [--namespace NS] [--overwrite]`
Restores one of a cluster's backups; BACKUP is its name or number, as `/kaas backups CLUSTER` lists them.
• `--namespace`: restore only this namespace
• `--overwrite`: replace what already exists instead of leaving it as it is
Example: `/kaas restore my-app-1 my-app-1-20261124-131205`""",
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


# The user and password of an address (`https://user:secret@host/`), up to the last '@' before the path.
_USERINFO = re.compile(r"://[^/?#\s]*@")


def shown(text: str) -> str:
    """User text made safe to put inside one of our replies: short, visible, escaped, in a code span.

    An address's user and password are left out, so that a reply never repeats a secret to the channel.
    """
    text = _USERINFO.sub("://…@", text)
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


def _example(command: str) -> str:
    return EXAMPLES.get(command, f"{COMMAND} help")


def unknown_option(option: str, command: str, valid: Sequence[str], suggestion: str | None) -> str:
    if not valid:
        return (
            f"`{command}` takes no options, only {ARGUMENTS.get(command, 'its arguments')}, "
            f"e.g. `{_example(command)}`. Remove {shown(option)} and send it again."
        )
    choices = ", ".join(f"`{name}`" for name in valid)
    return (
        f"{shown(option)} isn't an option of `{command}`.{_did_you_mean(suggestion)} "
        f"Its options are {choices}."
    )


def repeated_option(option: str) -> str:
    return f"`{option}` is given more than once. Keep one and send the command again."


def too_many(option: str, limit: int) -> str:
    if option == "--set":
        return (
            f"`--set` can be given at most {limit} times. Put the values in a values file instead "
            "and give it with `--values`."
        )
    return f"`{option}` can be given at most {limit} times. Merge some of them and send the command again."


def missing_value(option: str) -> str:
    return f"`{option}` needs a value, e.g. `{OPTION_EXAMPLES.get(option, option)}`."


def flag_with_value(option: str) -> str:
    return f"`{option}` takes no value. Write just `{option}` and send the command again."


def extra_argument(word: str, command: str) -> str:
    takes = ARGUMENTS.get(command, "fewer arguments")
    return f"`{command}` takes {takes}; {shown(word)} is extra. Remove it and send it again."


def missing_name(command: str) -> str:
    return f"`{command}` needs a cluster name, e.g. `{_example(command)}`."


def missing_positional(command: str, what: str) -> str:
    return f"`{command}` needs {what} after the cluster name, e.g. `{_example(command)}`."


def options_need_name(command: str) -> str:
    """Options given to a command (create, deploy) that opens a form when it is sent without a name."""
    if command == "deploy":
        before, form = "a cluster name and an app", "To paste YAML into a form instead"
    else:
        before, form = "a cluster name", "To fill in a form instead"
    return (
        f"Options need {before} before them, e.g. `{_example(command)}`. "
        f"{form}, send just `{COMMAND} {command}`."
    )


def source_and_chart(source: str) -> str:
    return (
        f"Give either SOURCE ({shown(source)}) or `--chart`, not both. Keep the one you mean and send the "
        "command again."
    )


def chart_version_without_chart() -> str:
    return (
        "`--chart-version` goes with `--chart`. Add the chart, e.g. "
        "`--chart oci://registry.example.com/charts/nginx --chart-version 15.4.2`, or leave the version out."
    )


# --- errors of values -------------------------------------------------------------------------------------


#: Each kind of name: what one is called, with and without its article, an example, and a pointer to more.
_NAME_KINDS: dict[str, tuple[str, str, str, str]] = {
    "cluster": ("a cluster name", "cluster name", EXAMPLE_NAME, ""),
    "app": ("an app name", "app name", EXAMPLE_APP, ""),
    "namespace": ("a namespace", "namespace", "shop", ""),
    "backup": ("a backup name", "backup name", EXAMPLE_BACKUP, f" `{COMMAND} backups CLUSTER` lists them."),
}


def empty_name(max_chars: int, *, kind: str = "cluster") -> str:
    """`kind` is "cluster", "app", "namespace" or "backup"."""
    _, noun, example, more = _NAME_KINDS[kind]
    return (
        f"The {noun} is empty. Use 1 to {max_chars} lowercase letters, digits and '-', "
        f"e.g. `{example}`.{more}"
    )


def bad_name(
    value: str,
    max_chars: int,
    *,
    kind: str = "cluster",
    foreign: str | None = None,
    suggestion: str | None = None,
) -> str:
    """`foreign` is the first non-ASCII character (homoglyphs look right but aren't); `suggestion` a fix."""
    a_noun, _, example, more = _NAME_KINDS[kind]
    if len(value) > max_chars:
        problem = f"{shown(value)} is {len(value)} characters long; {a_noun} has at most {max_chars}."
    else:
        problem = f"{shown(value)} can't be {a_noun}."
    text = (
        f"{problem} Use 1 to {max_chars} lowercase letters, digits and '-', "
        f"starting and ending with a letter or digit, e.g. `{example}`.{more}"
    )
    if foreign is not None:
        code = f"{shown(foreign)} (U+{ord(foreign):04X})"
        if foreign.isalnum():
            text += f" It contains {code}, which looks like a plain letter or digit but isn't one; retype it."
        else:
            text += f" It contains {code}, which {a_noun} can't contain."
    if suggestion is not None:
        text += f" Try `{escape(suggestion)}`."
    return text


def source_for_app(value: str) -> str:
    return (
        f"{shown(value)} looks like a file or an address, not an app name. Give the app's name first, "
        f"e.g. `{EXAMPLE_APP}`; a source comes after it."
    )


def app_version_after_colon(value: str, fixed: str) -> str:
    return f"{shown(value)} can't be an app name: a version goes after '@'. Try `{escape(fixed)}`."


def empty_app_version(app: str) -> str:
    return (
        f"{shown(app + '@')} has no version after '@'. Add one, e.g. `{escape(app)}@v1.2.3`, "
        f"or leave out the '@'."
    )


def bad_app_version(value: str, max_chars: int) -> str:
    return (
        f"{shown(value)} can't be an app version. Use 1 to {max_chars} letters, digits, '.', '_' and '-', "
        f"starting and ending with a letter or digit, e.g. `{EXAMPLE_APP}@v1.2.3`."
    )


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


#: What a path is for, and an example of one, by the option (or argument) that takes it.
_PATHS: dict[str, tuple[str, str]] = {
    "--kubeconfig": ("kubeconfig", "--kubeconfig /path/to/kubeconfig"),
    "SOURCE": ("source", "https://example.com/web.yaml"),
    "--values": ("values file", "--values https://example.com/values.yaml"),
    "--chart": ("chart", "--chart oci://registry.example.com/charts/nginx"),
}


def bad_path(value: str, max_chars: int, what: str = "--kubeconfig") -> str:
    """`what` is the option (or "SOURCE") the path was given for."""
    noun, example = _PATHS.get(what, ("path", what))
    if not value:
        if what == "--kubeconfig":
            return f"The kubeconfig path is empty. Give a file path, e.g. `{example}`."
        return f"The {noun} is empty. Give an address or a file path, e.g. `{example}`."
    if len(value) > max_chars:
        return (
            f"That {noun} path is {len(value)} characters long; the limit is {max_chars}. Use a shorter path."
        )
    return (
        f"The {noun} path {shown(value)} contains a control character. "
        f"Retype the path and send the command again."
    )


# --- errors of addresses and chart values -----------------------------------------------------------------

_HTTPS_CHART = "--chart https://charts.example.com/stable/nginx"

#: What to give instead of an address that can't be used, by the option (or argument) it was given for.
_ADDRESS_HINTS: dict[str, str] = {
    "SOURCE": (
        "Give an https:// address or a Slack file, or send `/kaas deploy CLUSTER APP` to paste the YAML into "
        "a form."
    ),
    "--values": "Give an https:// address (or, in `kaas shell`, a file path).",
    "--chart": "Give an oci:// or https:// chart address (or, in `kaas shell`, a chart directory or .tgz).",
}


def _address_hint(what: str) -> str:
    return _ADDRESS_HINTS.get(what, "Give an https:// address.")


def url_too_long(length: int, limit: int, what: str) -> str:
    return f"That address is {length} characters long; kaas takes at most {limit}. {_address_hint(what)}"


def url_bad_character(value: str, what: str) -> str:
    return (
        f"The address {shown(value)} contains a space, a backslash or an invisible character. "
        f"Retype it, writing a space as `%20`. {_address_hint(what)}"
    )


def url_bad_scheme(value: str, what: str, oci: bool) -> str:
    schemes = "oci://, https:// and http://" if oci else "https:// and http://"
    text = f"kaas doesn't fetch {shown(value)}: it takes only {schemes} addresses. {_address_hint(what)}"
    if "://" not in value:
        # `name:x.yaml` may be a file name rather than an address.
        text += " In the shell, a file name with ':' in it can be written `./NAME`."
    return text


def bad_url(value: str, what: str) -> str:
    return f"{shown(value)} isn't a complete address (check its host and port). {_address_hint(what)}"


def url_with_userinfo(what: str) -> str:
    return (
        "That address has a user name or password in it (`user:password@`), which kaas doesn't accept "
        f"so that no secret ends up in a command. Remove that part. {_address_hint(what)}"
    )


def chart_without_name(value: str) -> str:
    example = OPTION_EXAMPLES["--chart"] if value.lower().startswith("oci:") else _HTTPS_CHART
    return (
        f"{shown(value)} doesn't end with a chart name. Add it after the repository's address, "
        f"e.g. `{example}`."
    )


def bad_chart_version(value: str) -> str:
    return (
        f"{shown(value) if value else 'An empty value'} isn't a chart version. Give one exact version "
        "(up to 64 letters, digits, '.', '+', '_' and '-'), e.g. `--chart-version 15.4.2`."
    )


def set_without_equals(value: str) -> str:
    return (
        f"`--set` takes KEY=VALUE; {shown(value) if value else 'an empty value'} has no '='. "
        f"Write it like `{OPTION_EXAMPLES['--set']}`."
    )


def bad_set_key(key: str) -> str:
    return (
        f"{shown(key) if key else 'An empty key'} can't be a `--set` key. Use letters, digits, "
        f"'.', '_', '-', '[' and ']', not starting with '-', e.g. `{OPTION_EXAMPLES['--set']}`."
    )


def set_too_long(length: int, limit: int) -> str:
    return (
        f"That `--set` value is {length} characters long; kaas takes at most {limit}. "
        "Put it in a values file and give it with `--values`."
    )


def set_control_character(value: str) -> str:
    return f"The `--set` value {shown(value)} contains a control character. Retype it and send it again."
