"""Every user-facing sentence the handlers produce, in one place: short, blameless, saying what to do next.

Names and other user-supplied values are shown in backticks; the faces escape them for their medium.
"""

from __future__ import annotations

HINT_LIST = "Run `/kaas list` to see your clusters."
HINT_ASK_OWNER = "Ask the owner or a KaaS admin."
HINT_OTHER_NAME = "Pick another name, or run `/kaas info NAME` to see the existing cluster."
HINT_WAIT = "Check progress with `/kaas info NAME`."
HINT_REGISTER = "Paste the whole kubeconfig file of the cluster (YAML with clusters, users and contexts)."
HINT_ADMIN = "Ask a KaaS admin to add a profile of kind `manual` to providers.yml."

LIST_ALL_ADMINS_ONLY = "Only KaaS admins can list every cluster."
REGISTERED_NOT_SCALABLE = "kaas did not create this cluster, so it cannot change its nodes."
MANUAL_IS_FOR_REGISTER = "The `manual` profile adopts existing clusters; it cannot create new ones."
NO_MANUAL_PROFILE = "Registering existing clusters is not enabled here."
KUBECONFIG_EMPTY = "The kubeconfig is empty."
KUBECONFIG_TOO_BIG = "That kubeconfig is larger than 64 KiB; a real one is a few KiB."
KUBECONFIG_NOT_YAML = "That kubeconfig is not valid YAML (anchors and aliases are not accepted)."
KUBECONFIG_NOT_HTTPS = "The cluster's server address must be an https:// URL."


def no_such_cluster(name: str) -> str:
    return f"There is no cluster called `{name}` in this workspace."


def not_yours(name: str, owner_id: str) -> str:
    return f"Cluster `{name}` belongs to <@{owner_id}>; only its owner or a KaaS admin can do that."


def name_taken(name: str) -> str:
    return f"A cluster called `{name}` already exists in this workspace."


def nodes_out_of_range(count: int, profile: str, low: int, high: int) -> str:
    return f"`{count}` nodes is outside what profile `{profile}` allows ({low} to {high})."


def version_not_offered(version: str, profile: str) -> str:
    return f"Kubernetes `{version}` is not offered by profile `{profile}`."


def machine_type_not_offered(machine: str, profile: str) -> str:
    return f"Machine type `{machine}` is not offered by profile `{profile}`."


def page_out_of_range(page: int, pages: int) -> str:
    return f"There is no page {page}; there are {pages}."


def not_ready(name: str, state: str) -> str:
    return f"Cluster `{name}` is {state}, so it has no credentials to give yet."


def already_deleting(name: str) -> str:
    return f"Cluster `{name}` is already being deleted."


def confirm_delete(name: str) -> str:
    return f"Delete cluster `{name}` and everything running on it? This cannot be undone."


_VERBS = {"create": "Creating", "delete": "Deleting", "register": "Registering", "scale": "Scaling"}


def operation_accepted(kind: str, name: str, subject: str = "") -> str:
    """The first line of an operation's progress message; `subject` is the app or backup concerned."""
    if kind == "deploy":
        return f"Deploying `{subject}` to cluster `{name}`… progress will follow here."
    if kind == "undeploy":
        return f"Removing `{subject}` from cluster `{name}`… progress will follow here."
    if kind == "backup":
        return f"Backing up cluster `{name}`{_scope(subject)}… progress will follow here."
    if kind == "restore":
        return f"Restoring backup `{subject}` to cluster `{name}`… progress will follow here."
    return f"{_VERBS.get(kind, kind.capitalize())} cluster `{name}`… progress will follow here."


def _scope(subject: str) -> str:
    return f" (namespace `{subject}`)" if subject else ""


def operation_succeeded(kind: str, name: str) -> str:
    done = {
        "create": "is ready",
        "delete": "was deleted",
        "register": "is registered and reachable",
        "scale": "has its new node count",
    }
    return f"Cluster `{name}` {done.get(kind, 'is done')}."


def operation_failed(kind: str, name: str, error: str, subject: str = "") -> str:
    if kind in ("deploy", "undeploy", "restore"):
        what = {"deploy": "deploy", "undeploy": "remove", "restore": "restore"}[kind]
        return f"Could not {what} `{subject}` on cluster `{name}`: {error}"
    if kind == "backup":
        return f"Could not back up cluster `{name}`: {error}"
    return f"Could not {kind} cluster `{name}`: {error}"


def kubeconfig_refused(problems: list[str]) -> str:
    return "That kubeconfig can't be used: " + "; ".join(problems) + "."


def not_ready_to_change(name: str, state: str) -> str:
    return f"Cluster `{name}` is {state}; only a ready cluster can be scaled."


def busy(name: str, kind: str) -> str:
    return f"Cluster `{name}` already has a {kind} operation under way."
