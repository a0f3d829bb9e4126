"""Every user-facing sentence the handlers produce, in one place: short, blameless, saying what to do next.

Names and other user-supplied values are shown in backticks; the faces escape them for their medium.
"""

from __future__ import annotations

HINT_LIST = "Run `/kaas list` to see your clusters."
HINT_ASK_OWNER = "Ask the owner or a KaaS admin."
HINT_OTHER_NAME = "Pick another name, or run `/kaas info NAME` to see the existing cluster."
HINT_WAIT = "Check progress with `/kaas info NAME`."
HINT_REGISTER = "Paste the whole kubeconfig file of the cluster (YAML with clusters, users and contexts)."
HINT_ADMIN_KEY = "Ask a KaaS admin: kaas's encryption key (KAAS_ENCRYPTION_KEY) is not the one it used."
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


def cluster_not_ready_for(name: str, state: str, action: str) -> str:
    return f"Cluster `{name}` is {state}; only a ready cluster can {action}."


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


def waits_for(kinds: list[str]) -> str:
    listed = ", ".join(f"`{kind}`" for kind in kinds)
    verb = "is" if len(kinds) == 1 else "are"
    return f"It starts once the {listed} already under way on this cluster {verb} done."


def confirm_cancel(name: str) -> str:
    return (
        f"Cancel what is queued or running on cluster `{name}`? Work already at the provider finishes first."
    )


def nothing_to_cancel(name: str) -> str:
    return f"Cluster `{name}` has nothing queued or running to cancel."


def cancelling(name: str, outcomes: list[tuple[str, bool]]) -> str:
    """`outcomes`: each operation's kind and whether it stops now; a deploy still applying stops once its
    objects are applied, and a create, scale or delete already at the provider finishes first."""
    stopping = [kind for kind, stops in outcomes if stops]
    applying = [kind for kind, stops in outcomes if not stops and kind == "deploy"]
    finishing = [kind for kind, stops in outcomes if not stops and kind != "deploy"]
    parts = []
    if stopping:
        parts.append(f"cancelling {_listed(stopping)}")
    if applying:
        parts.append(f"{_listed(applying)} stops once what it is applying is applied")
    if finishing:
        parts.append(f"{_listed(finishing)} already started at the provider and will finish first")
    return f"Cluster `{name}`: " + "; ".join(parts) + "."


def _listed(kinds: list[str]) -> str:
    return ", ".join(f"`{kind}`" for kind in kinds)


# --- apps ---------------------------------------------------------------------------------------------

DEPLOY_ONE_SOURCE = "Give exactly one source: a manifest (URL, file or pasted YAML) or a Helm chart."
HINT_DEPLOY = (
    "For example `/kaas deploy CLUSTER web@v1 https://example.com/web.yaml`, or `/kaas deploy` to paste YAML."
)
HINT_CHART = "Use `--chart https://REPO/NAME` or `--chart oci://REGISTRY/NAME`."
NO_HELM = "Helm charts are not enabled here: kaas has no helm binary configured."
HINT_NO_HELM = "Deploy a manifest instead, or ask a KaaS admin to set KAAS_HELM."
DEPLOY_CANCELLED = "cancelled while following the rollout; what was applied stays"
HINT_UNKNOWN_KIND = "Install the CustomResourceDefinition first, or deploy it in the same manifest."


def chart_path_here(path: str) -> str:
    return f"`{path}` is a local path, which the Slack app cannot read."


def hint_apps(cluster: str) -> str:
    return f"Run `/kaas apps {cluster}` to see what is deployed there."


def hint_undeploy(cluster: str, what: str) -> str:
    return f"Run `/kaas undeploy {cluster} {what}` first, or deploy it without `--namespace`."


def release_busy(what: str, status: str) -> str:
    return f"`{what}` is already {status}; wait until that finishes."


def release_elsewhere(what: str, namespace: str) -> str:
    return f"`{what}` is already deployed in namespace `{namespace}`."


def no_such_app(what: str, cluster: str) -> str:
    return f"Nothing called `{what}` is deployed on cluster `{cluster}`."


def confirm_undeploy(app: str, cluster: str, versions: list[str]) -> str:
    listed = ", ".join(f"`{v}`" for v in versions)
    return (
        f"Remove every version of `{app}` from cluster `{cluster}` ({listed}) "
        "and everything kaas deployed for it?"
    )


def deployed(what: str, cluster: str, namespace: str, objects: int) -> str:
    return f"`{what}` is ready on cluster `{cluster}`: {objects} objects in namespace `{namespace}`."


def undeployed(what: str, cluster: str, deleted: int) -> str:
    return f"`{what}` was removed from cluster `{cluster}` ({deleted} objects deleted)."


def rollout_failed(reasons: str) -> str:
    return f"the rollout cannot succeed: {reasons}"


def rollout_timed_out(seconds: int, reasons: str) -> str:
    return f"the rollout was not ready within {seconds} s: {reasons}"


def namespace_mismatch(kind: str, name: str, index: int, declared: str, namespace: str) -> str:
    return (
        f"{kind} {name} (document {index}) names namespace `{declared}`, "
        f"but this deploy goes to namespace `{namespace}`."
    )


def hint_namespace(declared: str) -> str:
    return f"Remove `namespace:` from the manifest, or deploy with `--namespace {declared}`."


# --- backups ------------------------------------------------------------------------------------------


def no_such_backup(name: str) -> str:
    return f"There is no backup called `{name}` in this workspace."


def hint_backups(cluster: str) -> str:
    return f"Run `/kaas backups {cluster}` to see the backups of a cluster."


def backup_not_yours(name: str) -> str:
    return f"Backup `{name}` holds the Secrets of a cluster you neither own nor administer."


def backup_lacks_namespace(name: str, wanted: str, has: str) -> str:
    return f"Backup `{name}` holds only namespace `{has}`, not `{wanted}`."


def backup_blob_missing(name: str) -> str:
    return f"The archive of backup `{name}` is missing from the backup store."


def backed_up(name: str, cluster: str, objects: int, guidance: str) -> str:
    return f"Backup `{name}` of cluster `{cluster}` is done: {objects} objects.\n{guidance}"


def restored(name: str, cluster: str, created: int, updated: int, skipped: int, failed: list) -> str:
    text = (
        f"Backup `{name}` restored to cluster `{cluster}`: {created} created, {updated} overwritten, "
        f"{skipped} already there (kept; use `--overwrite` to replace them)."
    )
    if failed:
        shown = "; ".join(f"{ref}: {message}" for ref, message in failed[:10])
        more = f" (and {len(failed) - 10} more)" if len(failed) > 10 else ""
        text += f" {len(failed)} could not be restored: {shown}{more}"
    return text


HINT_UNREACHABLE = "Try again in a minute; if it persists, run `/kaas info NAME` and ask a KaaS admin."


def unreachable(name: str, detail: str) -> str:
    return f"Cluster `{name}` did not answer: {detail}"


# --- the runner ---------------------------------------------------------------------------------------


def gave_up_after_crashes(crashes: int, kind: str, step: str) -> str:
    where = f" (last step: {step})" if step else ""
    return f"kaas stopped retrying after {crashes} crashes during {kind}{where}"


def internal_error(reference: str) -> str:
    return f"kaas hit an internal error and stopped the operation (reference `{reference}` in kaas's log)"


def request_failed(reference: str) -> str:
    return f"kaas hit an internal error answering that (reference `{reference}` in kaas's log)."


HINT_REFERENCE = "Try again in a moment; if it happens again, give the reference to a KaaS admin."


def operation_cancelled(kind: str, name: str, subject: str = "") -> str:
    what = f"`{subject}` on cluster `{name}`" if subject else f"cluster `{name}`"
    return f"The {kind} of {what} was cancelled."
