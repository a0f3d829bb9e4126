"""The clusters capability: create, list, info, kubeconfig, register and delete.

Every method takes the `Actor` first, validates, records what must outlive the request (cluster row,
operation, audit event) in one transaction, and returns a reply. Slow provider work is never done here: it
is an `Operation` the runner picks up after the face has acknowledged the request.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import yaml
from sqlmodel import Session

from handlers import access, errors, messages
from handlers.actors import Actor, Origin
from handlers.policy import can_manage
from handlers.profiles import ProfileRegistry, ProviderProfile
from handlers.replies import (
    Button,
    ClusterDetails,
    ClusterList,
    ClusterRow,
    Confirm,
    Confirmation,
    CreateForm,
    Credential,
    Notice,
    OperationAccepted,
    OperationSummary,
    ProfileChoice,
)
from providers import kubeconfig as kubeconfig_checks
from storage import errors as storage_errors
from storage import leases, repo
from storage.crypto import Crypto
from storage.models import Cluster, ClusterState, Operation, OperationKind, OperationStatus, utcnow

NO_ORIGIN = Origin()

PAGE_SIZE = 15
"""Clusters per `list` page: each row is one Block Kit section, and a message holds at most 50 blocks."""
MAX_KUBECONFIG_BYTES = 64 * 1024

ACTION_KUBECONFIG = "cluster_kubeconfig"
ACTION_INFO = "cluster_info"
ACTION_DELETE = "cluster_delete"
ACTION_DELETE_CONFIRMED = "cluster_delete_confirmed"
ACTION_CANCEL = "cancel"
ACTION_CANCEL_OPERATIONS = "cluster_cancel_operations"


def cluster_buttons(name: str) -> tuple[Button, ...]:
    """The actions offered on a ready cluster (also on the final message of its create operation)."""
    return (
        Button("Kubeconfig", ACTION_KUBECONFIG, name, style="primary"),
        Button("Info", ACTION_INFO, name),
        Button("Delete", ACTION_DELETE, name, style="danger"),
    )


def cancel_button(name: str) -> Button:
    """Offered on an operation's progress while it runs: cancels what runs or waits on the cluster."""
    text = messages.confirm_cancel(name)
    return Button(
        "Cancel", ACTION_CANCEL_OPERATIONS, name, confirm=Confirm("Cancel operations?", text, "Cancel them")
    )


def summarize(op: Operation | None) -> OperationSummary | None:
    if op is None or op.id is None:
        return None
    return OperationSummary(op.id, op.kind, op.status, op.step, op.progress, op.error, op.updated_at)


class ClusterService:
    """The clusters capability, independent of Slack."""

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        profiles: ProfileRegistry,
        crypto: Crypto,
        wake_runner: Callable[[], None] = lambda: None,
        can_cancel: Callable[[Operation], bool] = lambda op: False,
    ):
        self._sessions = sessions
        self._profiles = profiles
        self._crypto = crypto
        self._wake = wake_runner
        self._can_cancel = can_cancel

    # -- helpers -------------------------------------------------------------------------------------

    def _check_spec(
        self, profile: ProviderProfile, nodes: int | None, version: str | None, machine_type: str | None
    ) -> tuple[int, str, str | None]:
        provider = self._profiles.provider(profile.name)
        count = profile.default_nodes if nodes is None else nodes
        if not profile.min_nodes <= count <= profile.max_nodes:
            raise errors.InvalidRequest(
                messages.nodes_out_of_range(count, profile.name, profile.min_nodes, profile.max_nodes),
                hint=f"Try `--nodes {profile.default_nodes}`.",
            )
        offered = provider.versions()
        chosen = (version or profile.default_version or offered[-1]).lstrip("v")
        minor = ".".join(chosen.split(".")[:2])
        if minor not in offered:
            raise errors.InvalidRequest(
                messages.version_not_offered(chosen, profile.name),
                hint=f"Choose one of: {', '.join(offered)}.",
            )
        machine = machine_type or profile.default_machine_type
        types = provider.machine_types()
        if machine is not None and types and machine not in types:
            raise errors.InvalidRequest(
                messages.machine_type_not_offered(machine, profile.name),
                hint=f"Choose one of: {', '.join(types)}.",
            )
        return count, minor, machine

    # -- create --------------------------------------------------------------------------------------

    def create_form(self, actor: Actor) -> CreateForm:
        """The choices the create modal offers."""
        choices = []
        for p in self._profiles.profiles():
            if p.kind == "manual":
                continue
            provider = self._profiles.provider(p.name)
            versions = tuple(provider.versions())
            choices.append(
                ProfileChoice(
                    name=p.name,
                    kind=p.kind,
                    min_nodes=p.min_nodes,
                    max_nodes=p.max_nodes,
                    default_nodes=p.default_nodes,
                    versions=versions,
                    default_version=p.default_version or versions[-1],
                    machine_types=tuple(provider.machine_types()),
                    default_machine_type=p.default_machine_type,
                )
            )
        return CreateForm(tuple(choices), self._profiles.default)

    def create(
        self,
        actor: Actor,
        *,
        name: str,
        profile: str | None = None,
        nodes: int | None = None,
        version: str | None = None,
        machine_type: str | None = None,
        idempotency_key: str,
        origin: Origin = NO_ORIGIN,
    ) -> OperationAccepted:
        """Record a new cluster and its create operation; the runner does the provider work."""
        chosen = self._profiles.get(profile)
        if chosen.kind == "manual":
            raise errors.InvalidRequest(messages.MANUAL_IS_FOR_REGISTER, hint=messages.HINT_REGISTER)
        count, minor, machine = self._check_spec(chosen, nodes, version, machine_type)
        with self._sessions() as session:
            cluster = self._new_cluster(
                session,
                actor,
                name,
                chosen,
                idempotency_key,
                nodes=count,
                version=minor,
                machine_type=machine,
            )
            if isinstance(cluster, OperationAccepted):
                return cluster
            reply = access.enqueue(
                session,
                actor,
                cluster,
                OperationKind.CREATE,
                idempotency_key=idempotency_key,
                origin=origin,
                params={"nodes": count, "version": minor, "machine_type": machine},
                detail=f"profile={chosen.name} nodes={count} version={minor}",
            )
        self._wake()
        return reply

    def _new_cluster(
        self,
        session: Session,
        actor: Actor,
        name: str,
        profile: ProviderProfile,
        idempotency_key: str,
        *,
        nodes: int,
        version: str,
        machine_type: str | None,
    ) -> Cluster | OperationAccepted:
        """Insert the cluster row (uncommitted), or return the reply already given to this request (a
        Slack retry, also one that reached another replica while the first was recording); a name taken
        by anything else becomes a Conflict for the user."""
        repeated = access.repeated(session, idempotency_key)
        if repeated is not None:
            return repeated
        try:
            return repo.create_cluster(
                session,
                team_id=actor.team_id,
                name=name,
                owner_id=actor.user_id,
                profile=profile.name,
                kind=profile.kind,
                node_count=nodes,
                version=version,
                machine_type=machine_type,
                commit=False,
            )
        except storage_errors.NameTaken as e:
            session.rollback()
            repeated = access.repeated(session, idempotency_key)
            if repeated is not None:
                return repeated
            raise errors.Conflict(messages.name_taken(name), hint=messages.HINT_OTHER_NAME) from e

    # -- read ----------------------------------------------------------------------------------------

    def list(self, actor: Actor, *, everyone: bool = False, page: int = 1) -> ClusterList:
        """The actor's clusters, or (admins only) every cluster of the workspace; paginated."""
        if everyone and not actor.is_admin:
            raise errors.Forbidden(messages.LIST_ALL_ADMINS_ONLY, hint=messages.HINT_LIST)
        with self._sessions() as session:
            rows, total = repo.list_clusters(
                session,
                team_id=actor.team_id,
                owner_id=None if everyone else actor.user_id,
                offset=(max(page, 1) - 1) * PAGE_SIZE,
                limit=PAGE_SIZE,
            )
        pages = max(1, math.ceil(total / PAGE_SIZE))
        if page > pages and total:
            raise errors.InvalidRequest(messages.page_out_of_range(page, pages), hint="Try `--page 1`.")
        return ClusterList(
            rows=tuple(
                ClusterRow(
                    c.name, c.owner_id, c.provider_profile, c.state, c.node_count, c.version, c.created_at
                )
                for c in rows
            ),
            page=page,
            pages=pages,
            total=total,
            everyone=everyone,
        )

    def info(self, actor: Actor, name: str) -> ClusterDetails:
        with self._sessions() as session:
            cluster = access.find_cluster(session, actor, name)
            last = repo.latest_operation(session, cluster_id=cluster.id)
            buttons = (
                cluster_buttons(name)
                if cluster.state == ClusterState.READY and can_manage(actor, cluster)
                else ()
            )
            return ClusterDetails(
                name=cluster.name,
                provider_profile=cluster.provider_profile,
                provider_kind=cluster.provider_kind,
                state=cluster.state,
                state_reason=cluster.state_reason,
                version=cluster.version,
                endpoint=cluster.endpoint,
                node_count=cluster.node_count,
                owner_id=cluster.owner_id,
                created_at=cluster.created_at,
                last_operation=summarize(last),
                buttons=buttons,
            )

    def kubeconfig(self, actor: Actor, name: str) -> Credential:
        """Admin credentials, for owners and admins only; every access (and refusal) is audited."""
        with self._sessions() as session:
            cluster = access.managed_cluster(session, actor, name, "kubeconfig")
            try:
                text = repo.read_kubeconfig(cluster, crypto=self._crypto)
            except storage_errors.DecryptionError as e:
                raise errors.Unavailable(str(e), hint=messages.HINT_ADMIN_KEY) from None
            if cluster.state != ClusterState.READY or text is None:
                raise errors.Conflict(messages.not_ready(name, cluster.state), hint=messages.HINT_WAIT)
            repo.record_audit(
                session,
                team_id=actor.team_id,
                actor_id=actor.user_id,
                action="kubeconfig",
                result="ok",
                cluster=cluster,
            )
            session.commit()
        return Credential(cluster_name=name, filename=f"{name}.kubeconfig.yaml", content=text)

    # -- register ------------------------------------------------------------------------------------

    def register(
        self, actor: Actor, *, name: str, kubeconfig: str, idempotency_key: str, origin: Origin = NO_ORIGIN
    ) -> OperationAccepted:
        """Adopt an existing cluster; the runner verifies it answers `/version` before it is ready."""
        manual = next((p for p in self._profiles.profiles() if p.kind == "manual"), None)
        if manual is None:
            raise errors.InvalidRequest(messages.NO_MANUAL_PROFILE, hint=messages.HINT_ADMIN)
        check_kubeconfig_text(kubeconfig)
        with self._sessions() as session:
            cluster = self._new_cluster(
                session, actor, name, manual, idempotency_key, nodes=0, version="", machine_type=None
            )
            if isinstance(cluster, OperationAccepted):
                return cluster
            repo.save_kubeconfig(session, cluster, crypto=self._crypto, kubeconfig=kubeconfig, commit=False)
            reply = access.enqueue(
                session,
                actor,
                cluster,
                OperationKind.REGISTER,
                idempotency_key=idempotency_key,
                origin=origin,
            )
        self._wake()
        return reply

    # -- scale ---------------------------------------------------------------------------------------

    def scale(
        self, actor: Actor, name: str, *, nodes: int, idempotency_key: str, origin: Origin = NO_ORIGIN
    ) -> OperationAccepted:
        """Record a node-count change (owner or admin, same as delete) for a ready cluster."""
        with self._sessions() as session:
            repeated = access.repeated(session, idempotency_key)
            if repeated is not None:
                return repeated
            cluster = access.managed_cluster(session, actor, name, "scale")
            if cluster.state != ClusterState.READY:
                raise errors.Conflict(
                    messages.not_ready_to_change(name, cluster.state), hint=messages.HINT_WAIT
                )
            profile = self._profiles.get(cluster.provider_profile)
            if profile.kind == "manual":
                raise errors.InvalidRequest(messages.REGISTERED_NOT_SCALABLE, hint=messages.HINT_ASK_OWNER)
            if not profile.min_nodes <= nodes <= profile.max_nodes:
                raise errors.InvalidRequest(
                    messages.nodes_out_of_range(nodes, profile.name, profile.min_nodes, profile.max_nodes),
                    hint=f"Try a number from {profile.min_nodes} to {profile.max_nodes}.",
                )
            reply = access.enqueue(
                session,
                actor,
                cluster,
                OperationKind.SCALE,
                idempotency_key=idempotency_key,
                origin=origin,
                params={"nodes": nodes},
                detail=f"nodes {cluster.node_count} -> {nodes}",
            )
        self._wake()
        return reply

    # -- delete --------------------------------------------------------------------------------------

    def confirm_delete(self, actor: Actor, name: str) -> Confirmation:
        """The question asked before deleting; permission is checked now and again on the click."""
        with self._sessions() as session:
            access.managed_cluster(session, actor, name, "delete")
        text = messages.confirm_delete(name)
        return Confirmation(
            text=text,
            buttons=(
                Button(
                    "Delete",
                    ACTION_DELETE_CONFIRMED,
                    name,
                    style="danger",
                    confirm=Confirm("Delete cluster?", text, "Delete"),
                ),
                Button("Cancel", ACTION_CANCEL, name),
            ),
        )

    def delete(
        self, actor: Actor, name: str, *, idempotency_key: str, origin: Origin = NO_ORIGIN
    ) -> OperationAccepted:
        """Record the delete operation (owner or admin only, checked with the clicker's identity)."""
        with self._sessions() as session:
            repeated = access.repeated(session, idempotency_key)
            if repeated is not None:
                return repeated
            cluster = access.managed_cluster(session, actor, name, "delete")
            active = leases.active_operations(session, cluster_id=cluster.id)
            pending = next((op for op in active if op.kind == OperationKind.DELETE), None)
            if pending is not None:
                return access.accepted(session, pending, duplicate=True)
            if cluster.state == ClusterState.DELETING:
                raise errors.Conflict(messages.already_deleting(name), hint=messages.HINT_WAIT)
            # What has not started is cancelled; what has (a create at the provider) is waited for, so the
            # delete never leaves a cluster running behind kaas's back.
            leases.request_cancel(
                session, op_ids=[op.id for op in active if op.id], now=utcnow(), commit=False
            )
            reply = access.enqueue(
                session, actor, cluster, OperationKind.DELETE, idempotency_key=idempotency_key, origin=origin
            )
        self._wake()
        return reply

    # -- cancel --------------------------------------------------------------------------------------

    def cancel(self, actor: Actor, name: str) -> Notice:
        """Cancel the cluster's queued operations now and its running ones at their next safe point."""
        with self._sessions() as session:
            cluster = access.managed_cluster(session, actor, name, "cancel")
            active = [op for op in leases.active_operations(session, cluster_id=cluster.id) if op.id]
            if not active:
                raise errors.Conflict(messages.nothing_to_cancel(name), hint=messages.HINT_WAIT)
            leases.request_cancel(
                session, op_ids=[op.id for op in active if op.id], now=utcnow(), commit=False
            )
            outcomes = [
                (op.kind, op.status != OperationStatus.RUNNING or self._can_cancel(op)) for op in active
            ]
            repo.record_audit(
                session,
                team_id=actor.team_id,
                actor_id=actor.user_id,
                action="cancel",
                result="ok",
                cluster=cluster,
                detail=", ".join(f"{op.kind}#{op.id}:{op.status}" for op in active),
                commit=False,
            )
            session.commit()
        self._wake()
        return Notice(messages.cancelling(name, outcomes), level="info")


def _ids(operations: list[Operation]) -> list[int]:
    return [op.id for op in operations if op.id is not None]


def check_kubeconfig_text(text: str) -> dict:
    """A pasted kubeconfig, parsed safely; InvalidRequest saying what is wrong with it otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise errors.InvalidRequest(messages.KUBECONFIG_EMPTY, hint=messages.HINT_REGISTER)
    if len(text.encode()) > MAX_KUBECONFIG_BYTES:
        raise errors.InvalidRequest(messages.KUBECONFIG_TOO_BIG, hint=messages.HINT_REGISTER)
    try:
        doc = yaml.load(text, Loader=_NoAliasLoader)
    except (yaml.YAMLError, ValueError) as e:
        raise errors.InvalidRequest(messages.KUBECONFIG_NOT_YAML, hint=messages.HINT_REGISTER) from e
    found = kubeconfig_checks.problems(doc)
    if found:
        raise errors.InvalidRequest(messages.kubeconfig_refused(found), hint=messages.HINT_REGISTER)
    if not kubeconfig_checks.server_url(doc).startswith("https://"):
        raise errors.InvalidRequest(messages.KUBECONFIG_NOT_HTTPS, hint=messages.HINT_REGISTER)
    return doc


class _NoAliasLoader(yaml.SafeLoader):
    """Refuses anchors/aliases: a pasted "kubeconfig" could be a billion-laughs bomb."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            raise ValueError("YAML aliases are not allowed")
        return super().compose_node(parent, index)
