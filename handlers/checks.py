"""`/kaas check`: read a cluster's nodes, pods and workloads, then judge them with `insight.assess`.

Reading is here (it needs the cluster); judging is a pure function in handlers/insight.py, so the same
snapshot can feed usage digests and alerts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from handlers import access, errors, messages
from handlers.actors import Actor
from handlers.insight import CheckReport, ClusterSnapshot, assess
from providers.kube.client import KubeClient
from providers.kube.errors import ClusterUnreachable, KubeError
from storage.crypto import Crypto
from storage.models import Cluster, ClusterState, utcnow


@dataclass(frozen=True)
class CheckReply:
    cluster: str
    report: CheckReport


def collect(client: KubeClient, *, now: dt.datetime | None = None) -> ClusterSnapshot:
    """Everything `assess` looks at, read in pages; node metrics only when metrics.k8s.io is served."""

    def every(api_version: str, kind: str) -> tuple[dict, ...]:
        return tuple(client.list(client.resource_for(api_version, kind)))

    metrics = None
    if any(r.group == "metrics.k8s.io" and r.kind == "NodeMetrics" for r in client.resources()):
        listing = client.request("GET", "/apis/metrics.k8s.io/v1beta1/nodes") or {}
        metrics = {
            str((m.get("metadata") or {}).get("name")): m
            for m in listing.get("items") or []
            if isinstance(m, dict)
        }
    return ClusterSnapshot(
        nodes=every("v1", "Node"),
        pods=every("v1", "Pod"),
        deployments=every("apps/v1", "Deployment"),
        statefulsets=every("apps/v1", "StatefulSet"),
        daemonsets=every("apps/v1", "DaemonSet"),
        node_metrics=metrics,
        taken_at=now or utcnow(),
    )


class CheckService:
    """Health and usage of one cluster, for anyone in the workspace who can see it."""

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        crypto: Crypto,
        client_for: Callable[[Cluster, Crypto], KubeClient] = access.open_client,
    ):
        self._sessions = sessions
        self._crypto = crypto
        self._client_for = client_for

    def check(self, actor: Actor, cluster_name: str) -> CheckReply:
        with self._sessions() as session:
            cluster = access.find_cluster(session, actor, cluster_name)
        if cluster.state != ClusterState.READY or cluster.kubeconfig_encrypted is None:
            raise errors.Conflict(
                messages.cluster_not_ready_for(cluster_name, cluster.state, "be checked"),
                hint=messages.HINT_WAIT,
            )
        try:
            with self._client_for(cluster, self._crypto) as client:
                snapshot = collect(client)
        except (ClusterUnreachable, KubeError) as e:
            raise errors.Conflict(
                messages.unreachable(cluster_name, e.message), hint=messages.HINT_UNREACHABLE
            ) from None
        return CheckReply(cluster=cluster.name, report=assess(snapshot))
