"""User-facing strings only the Slack face shows: Block Kit labels, modal wording, list and progress text.

The wording follows bot/messages.py (short, blameless, says what to do next). Templates here receive values
that bot/views.py has already escaped and shortened; nothing in this module escapes on its own, except
`kubeconfig_dm`, which is called with a bare cluster name.
"""

from __future__ import annotations

from bot.messages import COMMAND, EXAMPLE_NAME, escape

ELLIPSIS = "…"
BACKTICK_LOOKALIKE = "\u02cb"
"""Modifier letter grave: stands in for a backtick inside a code span, so the span stays closed."""

# --- levels, states and statuses --------------------------------------------------------------------------

LEVEL_EMOJI: dict[str, str] = {
    "info": ":information_source:",
    "success": ":white_check_mark:",
    "warning": ":warning:",
    "error": ":x:",
}

STATE_EMOJI: dict[str, str] = {
    "requested": ":hourglass_flowing_sand:",
    "provisioning": ":gear:",
    "ready": ":large_green_circle:",
    "deleting": ":wastebasket:",
    "deleted": ":white_circle:",
    "failed": ":red_circle:",
}

STATUS_EMOJI: dict[str, str] = {
    "queued": ":hourglass_flowing_sand:",
    "awaiting_approval": ":raised_hand:",
    "running": ":gear:",
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "cancelled": ":no_entry_sign:",
}

UNKNOWN_EMOJI = ":grey_question:"

# --- cluster list -----------------------------------------------------------------------------------------

FIELD_STATE = "State"
FIELD_PROVIDER = "Provider"
FIELD_NODES = "Nodes"
FIELD_VERSION = "Version"
FIELD_AGE = "Age"
FIELD_OWNER = "Owner"
FIELD_ENDPOINT = "Endpoint"
FIELD_CREATED = "Created"
FIELD_REASON = "Reason"
FIELD_LAST_OPERATION = "Last operation"

NEXT_PAGE = "Next page"
PREVIOUS_PAGE = "Previous page"
NO_VALUE = "-"


def list_header(total: int, *, everyone: bool) -> str:
    noun = "cluster" if total == 1 else "clusters"
    return f"All {noun} ({total})" if everyone else f"Your {noun} ({total})"


def list_empty(*, everyone: bool) -> str:
    if everyone:
        return f"There are no clusters in this workspace yet. Create one with `{COMMAND} create NAME`."
    return (
        f"No clusters yet. Create one with `{COMMAND} create NAME`, e.g. `{COMMAND} create {EXAMPLE_NAME}`."
    )


def list_page_empty(page: int, pages: int) -> str:
    there = "there is 1" if pages == 1 else f"there are {pages}"
    return f"There is nothing on page {page}; {there}. Use the buttons below."


def list_position(page: int, pages: int, total: int) -> str:
    return f"Page {page} of {pages} · {total} cluster{'' if total == 1 else 's'}"


def list_more(hidden: int) -> str:
    return f"{hidden} more on this page could not be shown; narrow the list or ask for the next page."


def list_fallback(total: int, page: int, pages: int, *, everyone: bool) -> str:
    return f"{list_header(total, everyone=everyone)}, page {page} of {pages}"


# --- details ----------------------------------------------------------------------------------------------


def details_title(name_code: str) -> str:
    return f":package: *Cluster* {name_code}"


def created(when: str, age: str) -> str:
    return f"{when} UTC ({age} ago)"


def provider(profile_code: str, kind: str) -> str:
    return f"{profile_code} ({kind})"


def last_operation(kind: str, status: str, detail: str) -> str:
    return f"{kind} {status}{detail}"


def details_fallback(name: str, state: str) -> str:
    return f"Cluster {name}: {state}"


# --- operations -------------------------------------------------------------------------------------------

ALREADY_REQUESTED = "_(already requested)_"


def failed_hint(info_command_code: str) -> str:
    return f"See {info_command_code} for the cluster's state, or try again."


def operation_context(operation_id: int, kind: str, status: str) -> str:
    return f"Operation #{operation_id} · {kind} · {status.replace('_', ' ')}"


def progress_fallback(name: str, kind: str, step: str, percent: int) -> str:
    return f"[{name}] {kind}: {step} ({percent}%)"


# --- credentials ------------------------------------------------------------------------------------------


def credential_notice(name_code: str) -> str:
    return (
        f":lock: I sent you the kubeconfig of cluster {name_code} in a direct message. "
        "It grants admin access to the cluster: keep it to yourself."
    )


def kubeconfig_dm(name: str) -> str:
    """The comment on the kubeconfig file sent by DM (`name` is a bare cluster name)."""
    code = "`" + escape(name.replace("`", BACKTICK_LOOKALIKE)) + "`"
    return (
        f"Here is the kubeconfig of cluster {code}. It grants admin access: keep it private, don't paste it "
        f"in channels. Save the file and run `kubectl --kubeconfig FILE get nodes`."
    )


# --- modals -----------------------------------------------------------------------------------------------

CREATE_TITLE = "Create a cluster"
CREATE_SUBMIT = "Create"
REGISTER_TITLE = "Register a cluster"
REGISTER_SUBMIT = "Register"
CLOSE = "Cancel"

LABEL_NAME = "Cluster name"
LABEL_PROFILE = "Provider profile"
LABEL_NODES = "Nodes"
LABEL_VERSION = "Kubernetes version"
LABEL_MACHINE_TYPE = "Machine type"
LABEL_KUBECONFIG = "Kubeconfig"

PLACEHOLDER_NAME = EXAMPLE_NAME
PLACEHOLDER_PROFILE = "Choose a profile"
PLACEHOLDER_VERSION = "Choose a version"
PLACEHOLDER_MACHINE_TYPE = "The profile's default"
PLACEHOLDER_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: …"

NO_PROFILES = (
    "No provider profile here can create clusters. Ask a KaaS admin to add one to providers.yml, "
    f"or bring an existing cluster with `{COMMAND} register NAME`."
)


def hint_name(max_chars: int) -> str:
    return (
        f"1 to {max_chars} lowercase letters, digits and '-', starting and ending with a letter or digit "
        f"(a DNS-1123 label), e.g. {EXAMPLE_NAME}."
    )


def hint_nodes(ranges: list[str]) -> str:
    return "Allowed: " + "; ".join(ranges) + "."


def node_range(profile: str, low: int, high: int, default: int) -> str:
    return f"{profile} {low} to {high} (default {default})"


def hint_machine_type(profile: str) -> str:
    return f"Machine types of profile {profile}. Leave it empty to use the profile's default."


def hint_kubeconfig(max_chars: int) -> str:
    return (
        "Paste the whole kubeconfig file (YAML with clusters, users and contexts); kaas keeps it encrypted. "
        f"A form holds at most {max_chars} characters: register a longer kubeconfig from the shell with "
        f"{COMMAND} register NAME --kubeconfig PATH (in kaas shell)."
    )


PROFILE_REQUIRED = "Choose a provider profile."
KUBECONFIG_REQUIRED = "Paste the kubeconfig of the cluster."


def nodes_not_a_number(value_code: str) -> str:
    return f"{value_code} isn't a number of nodes. Enter a whole number, e.g. 3."


def kubeconfig_too_long(length: int, max_chars: int) -> str:
    return (
        f"That kubeconfig is {length} characters long; a form takes at most {max_chars}. "
        f"Register it from the shell with {COMMAND} register NAME --kubeconfig PATH."
    )


# --- apps from Slack ----------------------------------------------------------------------------------

SLACK_NO_PATHS = "The Slack app cannot read files on your computer."
HINT_SLACK_SOURCES = (
    "Share the file in Slack and give its ID or link, give an https:// URL, or run `/kaas deploy` "
    "with no source to paste YAML."
)
HINT_SLACK_FILE = "Share the file in this channel (or with the kaas app) and copy its link again."


def slack_file_unreadable(file_id: str, reason: str) -> str:
    return f"kaas could not read Slack file `{file_id}` ({reason})."


def slack_file_too_big(file_id: str, size: int) -> str:
    return f"Slack file `{file_id}` is {size / 1048576:.1f} MiB; manifests may be at most 2 MiB."


def slack_file_not_text(file_id: str) -> str:
    return f"Slack file `{file_id}` is not UTF-8 text, so it is not a YAML manifest."
