"""Periodic reconcile: compare what kaas believes about ready clusters with what their providers report.

A cluster deleted outside kaas (in the cloud console, by another tool) is marked failed with a reason the
owner can act on; a node count or version changed outside kaas is recorded. Every change is audited.
Provider hiccups are skipped, not reported: the next pass looks again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from handlers.profiles import ProfileRegistry
from providers.errors import ClusterNotFound, ProviderError
from storage import repo
from storage.models import Cluster, ClusterState, utcnow

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "kaas"
VANISHED = "the provider no longer has this cluster (deleted outside kaas?); delete it here to clean up"
DELETING_ELSEWHERE = (
    "the provider is deleting this cluster, but not at kaas's request; delete it here to clean up"
)
BROKEN = "the provider reports this cluster in an error state"


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
        now: Callable[[], dt.datetime] = utcnow,
    ):
        self._sessions = sessions
        self._profiles = profiles
        self._now = now

    def run_once(self) -> list[Drift]:
        """Look at each ready cluster once; return what changed."""
        with self._sessions() as session:
            ready = list(session.exec(select(Cluster).where(col(Cluster.state) == ClusterState.READY)))
        drifts = []
        for cluster in ready:
            if cluster.provider_kind == "manual" or not cluster.provider_ref:
                continue
            drift = self._check(cluster)
            if drift is not None:
                drifts.append(drift)
        return drifts

    def _check(self, cluster: Cluster) -> Drift | None:
        try:
            described = self._profiles.provider(cluster.provider_profile).describe(cluster.provider_ref)
        except ClusterNotFound:
            return self._record(cluster, state=ClusterState.FAILED, change=VANISHED)
        except ProviderError as e:
            log.info("reconcile skipped %s: %s", cluster.name, e.message)
            return None
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
        self, cluster: Cluster, *, change: str, state: ClusterState | None = None, values: dict | None = None
    ) -> Drift:
        with self._sessions() as session:
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
