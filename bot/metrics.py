"""`/metrics` in the Prometheus text format, with prometheus-client.

Counters and histograms are fed as things happen (the runner's `Observer`, the Slack Web API client);
gauges that describe shared state (queue depth, oldest queued operation, outbox backlog, clusters and
operations by state) are read from the database at each scrape, so every replica reports the same truth.
Each core has its own registry: several cores in one process (tests) never collide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlmodel import col

from storage.fields import aware
from storage.models import Cluster, Operation, OperationStatus, OutboxMessage

STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class Metrics:
    """The registry `/metrics` renders, and the `Observer` the runner reports to."""

    def __init__(self, engine: Engine):
        self.registry = CollectorRegistry()
        self._steps = Histogram(
            "kaas_operation_step_seconds",
            "How long one step of an operation took, by kind.",
            ["kind"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self._ended = Counter(
            "kaas_operations_ended",
            "Operations this process ended, by kind and status.",
            ["kind", "status"],
            registry=self.registry,
        )
        self._provider_errors = Counter(
            "kaas_provider_errors",
            "Failed provider calls, by provider kind and class (transient or permanent).",
            ["provider", "error_class"],
            registry=self.registry,
        )
        self._slack_calls = Counter(
            "kaas_slack_api_calls",
            "Slack Web API calls this process made, by method and outcome (ok, error, rate_limited).",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.registry.register(_SharedState(engine))

    # -- Observer ------------------------------------------------------------------------------------

    def step_finished(self, kind: str, seconds: float) -> None:
        self._steps.labels(kind=kind).observe(seconds)

    def operation_ended(self, kind: str, status: str) -> None:
        self._ended.labels(kind=kind, status=str(status)).inc()

    def provider_error(self, provider: str, error_class: str) -> None:
        self._provider_errors.labels(provider=provider, error_class=error_class).inc()

    # -- Slack ---------------------------------------------------------------------------------------

    def slack_call(self, method: str, outcome: str) -> None:
        self._slack_calls.labels(method=method, outcome=outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _SharedState(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        clusters = GaugeMetricFamily("kaas_clusters", "Clusters by state.", labels=["state"])
        operations = GaugeMetricFamily(
            "kaas_operations", "Operations by kind and status.", labels=["kind", "status"]
        )
        with self._engine.connect() as conn:
            for state, count in conn.execute(
                sa.select(Cluster.state, sa.func.count()).group_by(Cluster.state)
            ):
                clusters.add_metric([state], count)
            for kind, status, count in conn.execute(
                sa.select(Operation.kind, Operation.status, sa.func.count()).group_by(
                    Operation.kind, Operation.status
                )
            ):
                operations.add_metric([kind, status], count)
            queued = col(Operation.status) == OperationStatus.QUEUED.value
            depth, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(Operation.created_at)).where(queued)
            ).one()
            backlog = conn.execute(
                sa.select(sa.func.count())
                .select_from(OutboxMessage)
                .where(col(OutboxMessage.version) > col(OutboxMessage.delivered_version))
            ).scalar_one()
        yield clusters
        yield operations
        yield GaugeMetricFamily(
            "kaas_queue_depth", "Operations queued (waiting for a runner or their turn).", value=depth
        )
        age = 0.0 if oldest is None else (dt.datetime.now(dt.UTC) - aware(oldest)).total_seconds()
        yield GaugeMetricFamily(
            "kaas_oldest_queued_seconds", "Age of the oldest queued operation.", value=max(0.0, age)
        )
        yield GaugeMetricFamily("kaas_outbox_backlog", "Messages waiting to be delivered.", value=backlog)
