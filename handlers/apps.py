"""The apps capability: deploy an app version to a cluster, list what runs there, and undeploy it.

Deploying records an operation (and the release it creates) and returns at once; the runner does the work
in resumable steps: read the manifest (pasted, fetched or rendered by Helm), apply it, then follow the
rollout until every workload is ready, a pod reason that can't fix itself shows up, or time runs out.
Each APP@VERSION gets its own namespace by default, so several versions run side by side.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session

if TYPE_CHECKING:
    from handlers.runner import OperationRunner

from handlers import access, errors, messages
from handlers.actors import Actor, Origin
from handlers.clusters import ACTION_CANCEL
from handlers.replies import AppList, AppRow, Button, Confirm, Confirmation, OperationAccepted
from providers.errors import PermanentProviderError
from providers.kube import fetch
from providers.kube.apply import ObjectRef, apply_objects, delete_objects
from providers.kube.client import KubeClient
from providers.kube.errors import ClusterUnreachable, FetchRefused, InvalidManifest, KubeError, UnknownKind
from providers.kube.helm import ChartRef, Helm
from providers.kube.manifests import (
    Manifest,
    is_crd,
    label_objects,
    namespace_for,
    parse_manifests,
    sanitize_label_value,
)
from providers.kube.rollout import check_rollout
from storage import release_repo, repo
from storage.crypto import Crypto
from storage.models import AppRelease, Cluster, Operation, OperationKind, ReleaseStatus, utcnow

NO_ORIGIN = Origin()
LABEL_APP = "kaas.dev/app"
LABEL_VERSION = "kaas.dev/version"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
DEFAULT_ROLLOUT_SECONDS = 300
PROGRESS_EVERY_SECONDS = 1.0

ACTION_UNDEPLOY_CONFIRMED = "app_undeploy_confirmed"


@dataclass(frozen=True)
class AppsConfig:
    """How deploys reach the outside: which URLs may be fetched, where helm is, how long rollouts may take."""

    fetch_policy: fetch.FetchPolicy = field(default_factory=fetch.FetchPolicy)
    helm_binary: str | None = None
    work_dir: Path = Path("/tmp/kaas-helm")
    rollout_seconds: int = DEFAULT_ROLLOUT_SECONDS


@dataclass(frozen=True)
class DeployRequest:
    """What to deploy: exactly one of `manifest` (text already read), `url`, or `chart`."""

    cluster: str
    app: str
    version: str | None = None
    namespace: str | None = None
    manifest: str | None = field(default=None, repr=False)
    source_label: str = "pasted YAML"
    url: str | None = None
    chart: str | None = None
    chart_version: str | None = None
    values: tuple[str, ...] = field(default=(), repr=False)
    """Helm values files, already read (they may hold secrets)."""
    values_urls: tuple[str, ...] = ()
    set_values: tuple[str, ...] = ()
    timeout: int | None = None
    local_paths: bool = False
    """Whether a chart may be a local path (only in `kaas shell`, where the user owns the machine)."""


def subject(app: str, version: str | None) -> str:
    return f"{app}@{version}" if version else app


def chart_ref(chart: str, version: str | None) -> ChartRef:
    """`oci://…` as is; `https://repo/…/NAME` split into repository URL and chart name; else a local path."""
    if chart.startswith(("http://", "https://")):
        repo_url, _, name = chart.rstrip("/").rpartition("/")
        return ChartRef(chart=name, repo_url=repo_url, version=version)
    return ChartRef(chart=chart, version=version)


def _user_error(e: PermanentProviderError) -> errors.InvalidRequest:
    return errors.InvalidRequest(e.message, hint=getattr(e, "hint", ""))


class AppService:
    """Deploy, list and undeploy apps; Slack-free like every handler."""

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        crypto: Crypto,
        config: AppsConfig,
        wake_runner: Callable[[], None] = lambda: None,
        client_for: Callable[[Cluster, Crypto], KubeClient] = access.open_client,
    ):
        self._sessions = sessions
        self._crypto = crypto
        self._config = config
        self._wake = wake_runner
        self._client_for = client_for

    # -- deploy --------------------------------------------------------------------------------------

    def deploy(
        self, actor: Actor, request: DeployRequest, *, idempotency_key: str, origin: Origin = NO_ORIGIN
    ) -> OperationAccepted:
        """Check what can be checked now (names, source, manifest syntax) and record the deploy."""
        sources = [x for x in (request.manifest, request.url, request.chart) if x is not None]
        if len(sources) != 1:
            raise errors.InvalidRequest(messages.DEPLOY_ONE_SOURCE, hint=messages.HINT_DEPLOY)
        if request.manifest is not None:
            try:
                parse_manifests(request.manifest, source=request.source_label)
            except InvalidManifest as e:
                raise _user_error(e) from None
        for url in (request.url, *request.values_urls):
            if url is not None:
                try:
                    fetch.check_url(url, self._config.fetch_policy)
                except FetchRefused as e:
                    raise _user_error(e) from None
        if request.chart is not None:
            ref = chart_ref(request.chart, request.chart_version)
            if ref.repo_url:
                try:
                    fetch.check_url(ref.repo_url, self._config.fetch_policy)
                except FetchRefused as e:
                    raise _user_error(e) from None
            elif not ref.chart.startswith("oci://") and not request.local_paths:
                raise errors.InvalidRequest(messages.chart_path_here(ref.chart), hint=messages.HINT_CHART)
            if self._config.helm_binary is None:
                raise errors.InvalidRequest(messages.NO_HELM, hint=messages.HINT_NO_HELM)
        namespace = request.namespace or namespace_for(request.app, request.version)
        version = request.version or ""
        source_kind = "helm" if request.chart is not None else "manifest"
        source = request.chart or request.url or request.source_label
        payload = json.dumps(
            {"manifest": request.manifest, "values": list(request.values), "set": list(request.set_values)}
        )
        with self._sessions() as session:
            repeated = access.repeated(session, idempotency_key)
            if repeated is not None:
                return repeated
            cluster = access.ready_cluster(session, actor, request.cluster, "deploy")
            current = release_repo.get_release(
                session, cluster_id=cluster.id, app=request.app, version=version
            )
            if current is not None and current.status in (ReleaseStatus.DEPLOYING, ReleaseStatus.REMOVING):
                raise errors.Conflict(
                    messages.release_busy(subject(request.app, request.version), current.status),
                    hint=messages.hint_apps(request.cluster),
                )
            if current is not None and current.namespace != namespace:
                raise errors.Conflict(
                    messages.release_elsewhere(subject(request.app, request.version), current.namespace),
                    hint=messages.hint_undeploy(request.cluster, subject(request.app, request.version)),
                )
            release = release_repo.open_release(
                session,
                team_id=actor.team_id,
                cluster_id=cluster.id,
                app=request.app,
                version=version,
                namespace=namespace,
                source_kind=source_kind,
                source=source,
                deployed_by=actor.user_id,
                helm_release=request.app if source_kind == "helm" else None,
            )
            reply = access.enqueue(
                session,
                actor,
                cluster,
                OperationKind.DEPLOY,
                idempotency_key=idempotency_key,
                origin=origin,
                params={
                    "subject": subject(request.app, request.version),
                    "release_id": release.id,
                    "app": request.app,
                    "version": version,
                    "namespace": namespace,
                    "source_kind": source_kind,
                    "source_label": request.source_label,
                    "url": request.url,
                    "chart": request.chart,
                    "chart_version": request.chart_version,
                    "values_urls": list(request.values_urls),
                    "timeout": request.timeout or self._config.rollout_seconds,
                },
                detail=f"{subject(request.app, request.version)} from {source}"[:2000],
                payload=payload,
                crypto=self._crypto,
            )
            # A write of its own (SQLite: BEGIN IMMEDIATE), so it queues behind the runner instead of failing.
            release_repo.update_release(
                session, release_id=release.id, values={"operation_id": reply.operation_id}, now=utcnow()
            )
        self._wake()
        return reply

    # -- list ----------------------------------------------------------------------------------------

    def apps(self, actor: Actor, cluster_name: str) -> AppList:
        """Every app version kaas deployed on the cluster, with live readiness when the cluster answers."""
        with self._sessions() as session:
            cluster = access.find_cluster(session, actor, cluster_name)
            releases = release_repo.list_releases(session, cluster_id=cluster.id)
        rows = []
        reachable = True
        client = (
            self._client_for(cluster, self._crypto) if releases and cluster.kubeconfig_encrypted else None
        )
        try:
            for release in releases:
                ready: bool | None = None
                detail = release.message
                if client is not None and reachable and release.status == ReleaseStatus.READY:
                    try:
                        state = check_rollout(client, [ObjectRef.from_dict(o) for o in release.objects])
                        ready, detail = state.ready, "" if state.ready else state.describe()
                    except ClusterUnreachable:
                        reachable = False
                    except KubeError as e:
                        detail = e.message
                rows.append(
                    AppRow(
                        app=release.app,
                        version=release.version,
                        namespace=release.namespace,
                        source=release.source,
                        kind=release.source_kind,
                        status=release.status,
                        ready=ready,
                        detail=detail,
                        objects=len(release.objects),
                        updated_at=release.updated_at,
                    )
                )
        finally:
            if client is not None:
                client.close()
        return AppList(cluster=cluster.name, rows=tuple(rows), reachable=reachable)

    # -- undeploy ------------------------------------------------------------------------------------

    def confirm_undeploy(self, actor: Actor, cluster_name: str, app: str) -> Confirmation:
        """Removing every version of an app is asked first; permission is checked now and on the click."""
        with self._sessions() as session:
            cluster = access.managed_cluster(session, actor, cluster_name, "undeploy")
            releases = release_repo.list_releases(session, cluster_id=cluster.id, app=app)
        if not releases:
            raise errors.NotFound(
                messages.no_such_app(app, cluster_name), hint=messages.hint_apps(cluster_name)
            )
        text = messages.confirm_undeploy(app, cluster_name, [r.version or "(no version)" for r in releases])
        value = f"{cluster_name}:{app}"
        return Confirmation(
            text=text,
            buttons=(
                Button(
                    "Undeploy",
                    ACTION_UNDEPLOY_CONFIRMED,
                    value,
                    style="danger",
                    confirm=Confirm("Undeploy?", text, "Undeploy"),
                ),
                Button("Cancel", ACTION_CANCEL, value),
            ),
        )

    def undeploy(
        self,
        actor: Actor,
        cluster_name: str,
        app: str,
        version: str | None,
        *,
        idempotency_key: str,
        origin: Origin = NO_ORIGIN,
    ) -> OperationAccepted:
        """Record the removal of one version (or, with `version` None, every version) of an app."""
        with self._sessions() as session:
            repeated = access.repeated(session, idempotency_key)
            if repeated is not None:
                return repeated
            cluster = access.ready_cluster(session, actor, cluster_name, "undeploy")
            releases = release_repo.list_releases(session, cluster_id=cluster.id, app=app)
            if version is not None:
                releases = [r for r in releases if r.version == version]
            if not releases:
                raise errors.NotFound(
                    messages.no_such_app(subject(app, version), cluster_name),
                    hint=messages.hint_apps(cluster_name),
                )
            busy = [r for r in releases if r.status in (ReleaseStatus.DEPLOYING, ReleaseStatus.REMOVING)]
            if busy:
                raise errors.Conflict(
                    messages.release_busy(subject(app, busy[0].version), busy[0].status),
                    hint=messages.hint_apps(cluster_name),
                )
            for release in releases:
                release_repo.update_release(
                    session,
                    release_id=release.id,
                    values={"status": ReleaseStatus.REMOVING, "message": ""},
                    now=utcnow(),
                    commit=False,
                )
            reply = access.enqueue(
                session,
                actor,
                cluster,
                OperationKind.UNDEPLOY,
                idempotency_key=idempotency_key,
                origin=origin,
                params={"subject": subject(app, version), "release_ids": [r.id for r in releases]},
                detail=subject(app, version),
            )
        self._wake()
        return reply


# --- the runner's side ------------------------------------------------------------------------------------


class _Throttled:
    """Saves progress at most once a second: a 200-object apply should not be 200 database writes."""

    def __init__(self, runner: OperationRunner, op: Operation):
        self._runner = runner
        self._op = op
        self._last = 0.0

    def __call__(self, step: str, percent: int) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_SECONDS:
            self._last = now
            self._runner.save(self._op, step=step[:200], progress=percent)


class DeployWork(access.ClusterWork):
    """Runner steps of a deploy: apply (idempotent: server-side apply, helm upgrade), then follow rollout."""

    def __init__(self, *, config: AppsConfig, **common):
        super().__init__(**common)
        self._config = config

    def step(self, runner: OperationRunner, op: Operation, cluster: Cluster) -> float | None:
        state = op.provider_state or {}
        client = self._client_for(cluster, self._crypto)
        try:
            if state.get("phase") != "rollout":
                return self._apply(runner, op, cluster, client)
            return self._follow(runner, op, cluster, client, state)
        finally:
            client.close()

    def failed(self, session: Session, op: Operation, cluster: Cluster, error: str) -> None:
        release_repo.update_release(
            session,
            release_id=int(op.params["release_id"]),
            values={"status": ReleaseStatus.FAILED, "message": error},
            now=utcnow(),
            commit=False,
        )

    def cancelled(self, session: Session, op: Operation, cluster: Cluster) -> None:
        self.failed(session, op, cluster, messages.DEPLOY_CANCELLED)

    def can_cancel(self, op: Operation) -> bool:
        """Following a rollout changes nothing, so it may stop; an apply under way finishes first."""
        return (op.provider_state or {}).get("phase") == "rollout"

    def _set_release(self, op: Operation, values: dict) -> None:
        with self._sessions() as session:
            release_repo.update_release(
                session, release_id=int(op.params["release_id"]), values=values, now=utcnow()
            )

    # -- apply ---------------------------------------------------------------------------------------

    def _apply(self, runner: OperationRunner, op: Operation, cluster: Cluster, client: KubeClient) -> float:
        params = op.params
        payload = json.loads(repo.read_payload(op, crypto=self._crypto) or "{}")
        namespace = str(params["namespace"])
        with self._sessions() as session:
            release = release_repo.get_release_by_id(session, release_id=int(params["release_id"]))
            others = _other_inventories(session, cluster, int(params["release_id"]))
        previous = [ObjectRef.from_dict(o) for o in (release.objects if release else [])]
        namespace_resource = client.resource_for("v1", "Namespace")
        # A redeploy (or a step repeated after a crash) finds the namespace it created itself the first time.
        created_namespace = client.get(namespace_resource, namespace) is None or bool(
            release and release.created_namespace
        )
        progress = _Throttled(runner, op)
        runner.save(op, step="reading the manifest", progress=2)
        if params["source_kind"] == "helm":
            refs = self._helm(runner, op, cluster, client, payload)
        else:
            refs = self._manifest(op, client, payload, created_namespace, progress)
            own_namespace = ObjectRef("v1", "Namespace", namespace)
            if own_namespace in previous and own_namespace not in refs:
                refs.insert(0, own_namespace)
            # Like `helm upgrade` and `kubectl apply --prune`: what the new manifest no longer has goes away,
            # unless another release still uses it.
            stale = [r for r in previous if r not in set(refs) and r not in others]
            if stale:
                runner.save(op, step=f"removing {len(stale)} objects the new manifest dropped", progress=65)
                delete_objects(client, stale)
        objects = [r.to_dict() for r in refs]
        self._set_release(op, {"objects": objects, "created_namespace": created_namespace})
        deadline = runner.now().timestamp() + int(params.get("timeout") or self._config.rollout_seconds)
        runner.save(
            op,
            step=f"applied {len(refs)} objects; waiting for the rollout",
            progress=70,
            provider_state={"phase": "rollout", "deadline": deadline},
            # Following the rollout changes nothing: the cluster's next operation (a scale that makes room
            # for Unschedulable pods, say) may start meanwhile.
            release_cluster=True,
        )
        return 0.0

    def _manifest(
        self, op: Operation, client: KubeClient, payload: dict, created_namespace: bool, progress
    ) -> list[ObjectRef]:
        params = op.params
        namespace = str(params["namespace"])
        if payload.get("manifest") is not None:
            text, label = payload["manifest"], str(params.get("source_label") or "manifest")
        else:
            text, label = fetch.fetch(str(params["url"]), self._config.fetch_policy), str(params["url"])
        manifests = parse_manifests(text, source=label)
        labels = {LABEL_APP: sanitize_label_value(str(params["app"])), LABEL_MANAGED_BY: "kaas"}
        if params.get("version"):
            labels[LABEL_VERSION] = sanitize_label_value(str(params["version"]))
        objects = label_objects(manifests, labels)
        _place(client, manifests, objects, namespace)
        if created_namespace and not any(
            o.get("kind") == "Namespace" and o["metadata"]["name"] == namespace for o in objects
        ):
            objects.insert(
                0,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}},
            )
        return apply_objects(client, objects, on_progress=progress)

    def _helm(
        self, runner: OperationRunner, op: Operation, cluster: Cluster, client: KubeClient, payload: dict
    ) -> list[ObjectRef]:
        params = op.params
        if self._config.helm_binary is None:
            raise PermanentProviderError(messages.NO_HELM)
        helm = Helm(self._config.helm_binary, work_dir=self._config.work_dir)
        ref = chart_ref(str(params["chart"]), params.get("chart_version"))
        if ref.repo_url:
            fetch.check_host(ref.repo_url, self._config.fetch_policy)
        values = list(payload.get("values") or [])
        for url in params.get("values_urls") or []:
            values.append(fetch.fetch(url, self._config.fetch_policy).decode("utf-8", "replace"))
        kubeconfig = repo.read_kubeconfig(cluster, crypto=self._crypto) or ""
        runner.save(op, step=f"helm upgrade --install {params['app']}", progress=10)
        helm.upgrade_install(
            kubeconfig,
            release=str(params["app"]),
            namespace=str(params["namespace"]),
            chart=ref,
            values_yaml=values,
            set_values=list(payload.get("set") or []),
        )
        rendered = helm.manifest(kubeconfig, release=str(params["app"]), namespace=str(params["namespace"]))
        refs = []
        for manifest in parse_manifests(rendered, source="the chart's rendered manifest"):
            obj = manifest.obj
            try:
                namespaced = client.resource_of(obj).namespaced
            except UnknownKind:
                namespaced = True
            if namespaced:
                obj["metadata"].setdefault("namespace", str(params["namespace"]))
            refs.append(ObjectRef.of(obj))
        return refs

    # -- rollout -------------------------------------------------------------------------------------

    def _follow(
        self, runner: OperationRunner, op: Operation, cluster: Cluster, client: KubeClient, state: dict
    ) -> float | None:
        with runner.sessions() as session:
            release = release_repo.get_release_by_id(session, release_id=int(op.params["release_id"]))
        refs = [ObjectRef.from_dict(o) for o in (release.objects if release else [])]
        rollout = check_rollout(client, refs)
        if rollout.ready:
            self._set_release(op, {"status": ReleaseStatus.READY, "message": ""})
            runner.finish(
                op,
                messages.deployed(
                    str(op.params["subject"]), cluster.name, str(op.params["namespace"]), len(refs)
                ),
            )
            return None
        if rollout.fatal:
            raise PermanentProviderError(messages.rollout_failed(rollout.describe()))
        if runner.now().timestamp() > float(state.get("deadline", 0)):
            raise PermanentProviderError(
                messages.rollout_timed_out(int(op.params.get("timeout") or 0), rollout.describe())
            )
        runner.save(op, step=(rollout.waiting[0] if rollout.waiting else "waiting")[:200], progress=80)
        return max(runner.poll_seconds, 1.0)


def _other_inventories(session: Session, cluster: Cluster, release_id: int) -> set[ObjectRef]:
    """Objects that other live releases on the cluster recorded: never deleted on this release's behalf."""
    return {
        ObjectRef.from_dict(o)
        for r in release_repo.list_releases(session, cluster_id=cluster.id)
        if r.id != release_id
        for o in r.objects
    }


def _place(client: KubeClient, manifests: list[Manifest], objects: list[dict], namespace: str) -> None:
    """Put namespaced objects in the release's namespace, refusing objects that name another (as kubectl)."""
    crd_scopes = {
        ((o.get("spec") or {}).get("group"), ((o.get("spec") or {}).get("names") or {}).get("kind")): (
            (o.get("spec") or {}).get("scope") == "Namespaced"
        )
        for o in objects
        if is_crd(o)
    }
    for manifest, obj in zip(manifests, objects, strict=True):
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        scope = crd_scopes.get((group, obj.get("kind")))
        if scope is None:
            try:
                scope = client.resource_of(obj).namespaced
            except UnknownKind as e:
                raise InvalidManifest(
                    f"{manifest.kind} {manifest.name} (document {manifest.index}): {e.message}",
                    hint=messages.HINT_UNKNOWN_KIND,
                ) from None
        if not scope:
            obj["metadata"].pop("namespace", None)
            continue
        declared = obj["metadata"].get("namespace")
        if declared and declared != namespace:
            raise InvalidManifest(
                messages.namespace_mismatch(
                    manifest.kind, manifest.name, manifest.index, declared, namespace
                ),
                hint=messages.hint_namespace(declared),
            )
        obj["metadata"]["namespace"] = namespace


class UndeployWork(access.ClusterWork):
    """Runner step of an undeploy: helm uninstall, or delete exactly the recorded inventory."""

    def __init__(self, *, config: AppsConfig, **common):
        super().__init__(**common)
        self._config = config

    def failed(self, session: Session, op: Operation, cluster: Cluster, error: str) -> None:
        for release_id in op.params.get("release_ids") or []:
            release_repo.update_release(
                session,
                release_id=int(release_id),
                values={"status": ReleaseStatus.FAILED, "message": f"undeploy failed: {error}"},
                now=utcnow(),
                commit=False,
            )

    def step(self, runner: OperationRunner, op: Operation, cluster: Cluster) -> float | None:
        with runner.sessions() as session:
            releases = [
                release_repo.get_release_by_id(session, release_id=int(i)) for i in op.params["release_ids"]
            ]
            others = [
                r
                for r in release_repo.list_releases(session, cluster_id=cluster.id)
                if r.id not in op.params["release_ids"]
            ]
        client = self._client_for(cluster, self._crypto)
        deleted = 0
        try:
            for release in releases:
                if release is None or release.status == ReleaseStatus.REMOVED:
                    continue
                runner.save(op, step=f"removing {subject(release.app, release.version)}", progress=10)
                deleted += self._remove(runner, op, cluster, client, release, others)
                with runner.sessions() as session:
                    release_repo.update_release(
                        session,
                        release_id=release.id,
                        values={"status": ReleaseStatus.REMOVED, "message": ""},
                        now=runner.now(),
                    )
        finally:
            client.close()
        runner.finish(op, messages.undeployed(str(op.params["subject"]), cluster.name, deleted))
        return None

    def _remove(
        self,
        runner: OperationRunner,
        op: Operation,
        cluster: Cluster,
        client: KubeClient,
        release: AppRelease,
        others: list,
    ) -> int:
        shared = {ObjectRef.from_dict(o) for r in others for o in r.objects}
        used_namespaces = {r.namespace for r in others}
        refs = [
            ref
            for ref in (ObjectRef.from_dict(o) for o in release.objects)
            if ref not in shared and not (ref.kind == "Namespace" and ref.name in used_namespaces)
        ]
        if release.source_kind == "helm" and release.helm_release:
            if self._config.helm_binary is None:
                raise PermanentProviderError(messages.NO_HELM)
            helm = Helm(self._config.helm_binary, work_dir=self._config.work_dir)
            kubeconfig = repo.read_kubeconfig(cluster, crypto=self._crypto) or ""
            helm.uninstall(kubeconfig, release=release.helm_release, namespace=release.namespace)
            if release.created_namespace and release.namespace not in used_namespaces:
                refs = [ObjectRef("v1", "Namespace", release.namespace)]
            else:
                return len(release.objects)
            return len(release.objects) + len(delete_objects(client, refs))
        return len(delete_objects(client, refs, on_progress=_Throttled(runner, op)))
