"""Periodic reconcile: compare what kaas believes about its clusters with what their providers report.

A cluster deleted outside kaas (in the cloud console, by another tool) is marked failed with a reason the
owner can act on; a node count or version changed outside kaas is recorded; a failed cluster the provider
reports running again is ready again (the provider is the truth). Every change is audited. Clusters with an
operation queued or running are left to it, and provider hiccups are skipped: the next pass looks again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from handlers.profiles import ProfileRegistry
from providers.errors import ClusterNotFound, ProviderError
from storage import leases, repo
from storage.crypto import Crypto
from storage.models import Cluster, ClusterState, utcnow

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "kaas"
VANISHED = "the provider no longer has this cluster (deleted outside kaas?); delete it here to clean up"
DELETING_ELSEWHERE = (
    "the provider is deleting this cluster, but not at kaas's request; delete it here to clean up"
)
BROKEN = "the provider reports this cluster in an error state"
RUNNING_AGAIN = "the provider reports this cluster running; it is ready again"


@dataclass(frozen=True)
class Drift:
    """One difference found and recorded."""

    cluster: str
    change: str


class Reconciler:
    """Checks every ready cluster against its provider once per `run_once` call."""

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        profiles: ProfileRegistry,
        crypto: Crypto,
        now: Callable[[], dt.datetime] = utcnow,
    ):
        self._sessions = sessions
        self._profiles = profiles
        self._crypto = crypto
        self._now = now

    def run_once(self) -> list[Drift]:
        """Look at each ready or failed cluster that no operation is working on; return what changed."""
        watched = [ClusterState.READY.value, ClusterState.FAILED.value]
        with self._sessions() as session:
            clusters = list(session.exec(select(Cluster).where(col(Cluster.state).in_(watched))))
            busy = {
                c.id
                for c in clusters
                if c.id is not None and leases.active_operations(session, cluster_id=c.id)
            }
        drifts = []
        for cluster in clusters:
            if cluster.provider_kind == "manual" or not cluster.provider_ref or cluster.id in busy:
                continue
            try:
                drift = self._check(cluster) if cluster.state == ClusterState.READY else self._revive(cluster)
            except ProviderError as e:
                log.info("reconcile skipped %s: %s", cluster.name, e.message)
                continue
            if drift is not None:
                drifts.append(drift)
        return drifts

    def _revive(self, cluster: Cluster) -> Drift | None:
        provider = self._profiles.provider(cluster.provider_profile)
        try:
            described = provider.describe(cluster.provider_ref or "")
        except ClusterNotFound:
            return None
        if described.state != "running":
            return None
        kubeconfig = None
        if cluster.kubeconfig_encrypted is None:
            kubeconfig = provider.kubeconfig(cluster.provider_ref or "")
        values = {
            "node_count": described.node_count,
            "version": described.version,
            "endpoint": described.endpoint,
        }
        return self._record(
            cluster, state=ClusterState.READY, change=RUNNING_AGAIN, values=values, kubeconfig=kubeconfig
        )

    def _check(self, cluster: Cluster) -> Drift | None:
        try:
            described = self._profiles.provider(cluster.provider_profile).describe(cluster.provider_ref or "")
        except ClusterNotFound:
            return self._record(cluster, state=ClusterState.FAILED, change=VANISHED)
        if described.state == "deleting":
            return self._record(cluster, state=ClusterState.FAILED, change=DELETING_ELSEWHERE)
        if described.state == "error":
            return self._record(cluster, state=ClusterState.FAILED, change=BROKEN)
        values = {}
        if described.node_count and described.node_count != cluster.node_count:
            values["node_count"] = described.node_count
        if described.version and described.version != cluster.version:
            values["version"] = described.version
        if not values:
            return None
        change = (
            ", ".join(f"{k} {getattr(cluster, k)} -> {v}" for k, v in values.items())
            + " (changed outside kaas)"
        )
        return self._record(cluster, values=values, change=change)

    def _record(
        self,
        cluster: Cluster,
        *,
        change: str,
        state: ClusterState | None = None,
        values: dict | None = None,
        kubeconfig: str | None = None,
    ) -> Drift:
        with self._sessions() as session:
            if kubeconfig is not None:
                repo.save_kubeconfig(
                    session, cluster, crypto=self._crypto, kubeconfig=kubeconfig, commit=False
                )
            if values:
                repo.update_cluster(
                    session, cluster_id=cluster.id, values=values, now=self._now(), commit=False
                )
            if state is not None:
                repo.set_cluster_state(session, cluster, state, reason=change, now=self._now(), commit=False)
            repo.record_audit(
                session,
                team_id=cluster.team_id,
                actor_id=SYSTEM_ACTOR,
                action="reconcile",
                result="ok",
                cluster=cluster,
                detail=change,
                commit=False,
            )
            session.commit()
        return Drift(cluster.name, change)
