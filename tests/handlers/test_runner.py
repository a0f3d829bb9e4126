"""The runner's mechanics on a fake clock, on SQLite and PostgreSQL: leases, crashes, per-cluster order,
failure policies and cancellation. Nothing here sleeps to let time pass; the test moves the clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from cryptography.fernet import Fernet
from sqlmodel import select

from handlers import errors
from handlers.clusters import ClusterService
from handlers.lifecycle import CreateWork, DeleteWork, RegisterWork, ScaleWork
from handlers.outbox import OutboxSender, SinkDeliverer
from handlers.profiles import ProfileRegistry, ProviderProfile
from handlers.reconcile import RUNNING_AGAIN, Reconciler
from handlers.runner import OperationRunner
from storage import migrations, repo
from storage.crypto import Crypto
from storage.engine import make_engine, session_factory
from storage.models import AuditEvent, Cluster, Operation, OperationKind
from tests.clock import FakeClock
from tests.handlers.conftest import ALICE, BOB, RecordingSink
from tests.handlers.scripted import KUBECONFIG, ScriptedProvider

LEASE = 30.0
POLL = 1.0


@dataclass
class Rig:
    """A database, a scripted provider, the clusters service and any number of runners on one fake clock."""

    sessions: object
    provider: ScriptedProvider
    clock: FakeClock
    sink: RecordingSink
    clusters: ClusterService
    profiles: ProfileRegistry
    crypto: Crypto
    sender: OutboxSender
    runners: list[OperationRunner] = field(default_factory=list)

    def runner(self, owner: str, **kw) -> OperationRunner:
        lifecycle = {"profiles": self.profiles, "crypto": self.crypto, "clock": self.clock}
        runner = OperationRunner(
            sessions=self.sessions,  # type: ignore[arg-type]
            works={
                OperationKind.CREATE: CreateWork(**lifecycle),
                OperationKind.REGISTER: RegisterWork(**lifecycle),
                OperationKind.DELETE: DeleteWork(**lifecycle),
                OperationKind.SCALE: ScaleWork(**lifecycle),
            },
            owner=owner,
            lease_seconds=LEASE,
            poll_seconds=POLL,
            clock=self.clock,
            **kw,
        )
        self.runners.append(runner)
        return runner

    def drive(self, runner: OperationRunner, rounds: int = 20) -> None:
        """Let `runner` work until nothing is left, moving the clock one poll interval per round; what it
        reported is delivered to `sink` as it goes."""
        for _ in range(rounds):
            runner.run_pending()
            runner.keep_leases()
            self.sender.run_once()
            if not runner.busy():
                self.sender.run_once()
                return
            self.clock.advance(POLL)
        raise AssertionError(f"operations still unfinished after {rounds} rounds: {self.operations()}")

    def operations(self) -> list[Operation]:
        with self.sessions() as s:  # type: ignore[operator]
            return list(s.exec(select(Operation).order_by(Operation.id)))

    def operation(self, op_id: int) -> Operation:
        with self.sessions() as s:  # type: ignore[operator]
            op = repo.get_operation(s, op_id=op_id)
        assert op is not None
        return op

    def cluster(self, name: str) -> Cluster:
        with self.sessions() as s:  # type: ignore[operator]
            cluster = repo.get_cluster(s, team_id="T1", name=name, include_deleted=True)
        assert cluster is not None
        return cluster

    def finals(self) -> dict[int, str]:
        self.sender.run_once()
        return {u.operation_id: u.status for u in self.sink.updates if u.final}


@pytest.fixture
def rig(database_url: str) -> Iterator[Rig]:
    engine = make_engine(database_url)
    migrations.upgrade(engine)
    sessions = session_factory(engine)
    provider = ScriptedProvider()
    profiles = ProfileRegistry(
        [ProviderProfile("scripted", "scripted", max_nodes=10)], "scripted", {"scripted": lambda p: provider}
    )
    crypto = Crypto(Fernet.generate_key())
    clusters = ClusterService(sessions=sessions, profiles=profiles, crypto=crypto)
    clock, sink = FakeClock(), RecordingSink()
    sender = OutboxSender(
        sessions=sessions, deliverer=SinkDeliverer(sink), audience=None, min_interval=0.0, clock=clock
    )
    rig = Rig(sessions, provider, clock, sink, clusters, profiles, crypto, sender)
    yield rig
    for runner in rig.runners:
        runner.stop()
    engine.dispose()


def _create(rig: Rig, name: str = "app", nodes: int = 2) -> int:
    return rig.clusters.create(ALICE, name=name, nodes=nodes, idempotency_key=f"create-{name}").operation_id


def _ready(rig: Rig, runner: OperationRunner, name: str = "app") -> None:
    op_id = _create(rig, name)
    rig.drive(runner)
    assert rig.finals()[op_id] == "succeeded"


# --- leases -------------------------------------------------------------------------------------------------


def test_a_step_longer_than_the_lease_runs_once(rig: Rig) -> None:
    first, second = rig.runner("r1"), rig.runner("r2")
    op_id = _create(rig)
    first.run_pending()  # starts the create and polls once
    rig.provider.gate = threading.Event()  # the next poll takes as long as the test says
    rig.clock.advance(POLL)
    assert first.due_steps() == [op_id]
    step = threading.Thread(target=first.run_step, args=(op_id,))
    step.start()
    for _ in range(30):  # ten leases go by while that one step runs
        rig.clock.advance(LEASE / 3)
        assert first.keep_leases() == set()
        assert first.claim() == []  # never a second copy of its own operation
        assert second.claim() == []  # nor a takeover while the lease is kept
    rig.provider.gate.set()
    step.join(timeout=30)
    rig.drive(first)
    op = rig.operation(op_id)
    assert (op.status, op.attempts, op.crashes) == ("succeeded", 1, 0)
    assert rig.provider.overlaps == 0
    assert rig.provider.calls == [("create", "ref-app")]


def test_without_a_kept_lease_another_runner_takes_over_and_the_old_one_is_fenced(rig: Rig) -> None:
    """The control for the test above: what the keeper prevents does happen without it."""
    first, second = rig.runner("r1"), rig.runner("r2")
    op_id = _create(rig)
    first.run_pending()
    rig.clock.advance(LEASE + 1)
    assert second.claim() == [op_id]  # r1 stopped renewing: r2 takes over, counted as a crash
    assert first.keep_leases() == {op_id}  # r1 learns it lost the operation and forgets it
    assert first.held() == set()
    rig.drive(second)
    op = rig.operation(op_id)
    assert (op.status, op.lease_owner, op.crashes) == ("succeeded", "r2", 1)
    assert [c for c in rig.provider.calls if c[0] == "create"] == [
        ("create", "ref-app")
    ]  # resumed by polling


def test_a_runner_claims_only_up_to_its_capacity(rig: Rig) -> None:
    runner = rig.runner("r1", capacity=2)
    for i in range(5):
        _create(rig, f"c{i}")
    assert len(runner.claim()) == 2
    assert runner.claim() == []
    rig.drive(runner)
    assert sorted(rig.finals().values()) == ["succeeded"] * 5


def test_a_clean_stop_hands_operations_over_without_counting_a_crash(rig: Rig) -> None:
    first, second = rig.runner("r1"), rig.runner("r2")
    op_id = _create(rig)
    first.run_pending()
    first.stop()
    assert second.claim() == [op_id]  # at once: no need to wait for the lease to lapse
    rig.drive(second)
    assert (rig.operation(op_id).crashes, rig.operation(op_id).status) == (0, "succeeded")


# --- crashes ------------------------------------------------------------------------------------------------


def test_an_operation_whose_runner_keeps_dying_is_failed_after_three_crashes(rig: Rig) -> None:
    rig.provider.polls_to_finish = 10
    op_id = _create(rig)
    for owner in ("r1", "r2", "r3"):  # each claims, starts a step, and dies without a word
        assert rig.runner(owner).run_pending() == 1
        rig.clock.advance(LEASE + 1)
    last = rig.runner("r4")
    last.run_pending()
    op = rig.operation(op_id)
    assert (op.status, op.crashes) == ("failed", 3)
    assert op.error == "kaas stopped retrying after 3 crashes during create (last step: create 3)"
    assert rig.cluster("app").state == "failed"  # a create's failure policy
    assert rig.finals()[op_id] == "failed"
    assert rig.provider.calls == [("create", "ref-app")]  # never started twice


def test_a_scale_that_keeps_crashing_leaves_the_cluster_ready(rig: Rig) -> None:
    runner = rig.runner("r0")
    _ready(rig, runner)
    rig.provider.polls_to_finish = 10
    op_id = rig.clusters.scale(ALICE, "app", nodes=4, idempotency_key="scale").operation_id
    for owner in ("r1", "r2", "r3"):
        rig.runner(owner).run_pending()
        rig.clock.advance(LEASE + 1)
    rig.runner("r4").run_pending()
    assert rig.operation(op_id).status == "failed"
    assert rig.cluster("app").state == "ready"
    assert rig.clusters.kubeconfig(ALICE, "app").content


# --- several runners ----------------------------------------------------------------------------------------


def test_two_runners_racing_for_one_queue_never_run_one_step_twice(rig: Rig) -> None:
    runners = [rig.runner("r1"), rig.runner("r2")]
    ids = [_create(rig, f"c{i}") for i in range(12)]
    rig.provider.polls_to_finish = 3
    barrier = threading.Barrier(2)

    def round_of(runner: OperationRunner) -> int:
        barrier.wait()
        steps = runner.run_pending()
        runner.keep_leases()
        return steps

    with ThreadPoolExecutor(2) as pool:
        for _ in range(20):
            list(pool.map(round_of, runners))
            if not runners[0].busy():
                break
            rig.clock.advance(POLL)
    assert {rig.finals()[i] for i in ids} == {"succeeded"}
    assert all(rig.operation(i).attempts == 1 for i in ids)
    assert rig.provider.overlaps == 0
    assert sorted(rig.provider.calls) == sorted(("create", f"ref-c{i}") for i in range(12))


# --- one operation per cluster, and delete ------------------------------------------------------------------


def test_delete_before_the_creates_first_step_leaves_no_provider_cluster(rig: Rig) -> None:
    runner = rig.runner("r1")
    create = _create(rig)
    delete = rig.clusters.delete(ALICE, "app", idempotency_key="delete").operation_id
    rig.drive(runner)
    assert rig.finals() == {create: "cancelled", delete: "succeeded"}
    assert rig.provider.calls == []  # the provider was never asked for the cluster
    assert rig.provider.clusters == {}
    assert rig.cluster("app").state == "deleted"


def test_delete_during_a_started_create_waits_for_it_then_deletes(rig: Rig) -> None:
    runner = rig.runner("r1")
    create = _create(rig)
    runner.run_pending()  # the provider is creating it now
    accepted = rig.clusters.delete(ALICE, "app", idempotency_key="delete")
    assert "starts once the `create`" in accepted.text
    rig.drive(runner)
    assert rig.finals() == {create: "succeeded", accepted.operation_id: "succeeded"}
    assert rig.provider.calls == [("create", "ref-app"), ("delete", "ref-app")]
    assert rig.provider.clusters == {}
    assert rig.cluster("app").state == "deleted"


def test_later_requests_wait_their_turn_and_say_what_for(rig: Rig) -> None:
    runner = rig.runner("r1")
    _ready(rig, runner)
    first = rig.clusters.scale(ALICE, "app", nodes=3, idempotency_key="s1")
    second = rig.clusters.scale(ALICE, "app", nodes=5, idempotency_key="s2")
    assert "starts once" not in first.text and "starts once the `scale`" in second.text
    runner.run_pending()
    assert rig.operation(second.operation_id).status == "queued"
    rig.drive(runner)
    assert rig.finals()[first.operation_id] == rig.finals()[second.operation_id] == "succeeded"
    assert rig.provider.clusters == {"ref-app": 5}  # in the order asked
    assert rig.cluster("app").node_count == 5


def test_nothing_new_is_accepted_for_a_cluster_being_deleted(rig: Rig) -> None:
    runner = rig.runner("r1")
    _ready(rig, runner)
    delete = rig.clusters.delete(ALICE, "app", idempotency_key="delete")
    with pytest.raises(errors.Conflict, match="already being deleted"):
        rig.clusters.scale(ALICE, "app", nodes=3, idempotency_key="late")
    again = rig.clusters.delete(ALICE, "app", idempotency_key="delete-again")
    assert again.duplicate and again.operation_id == delete.operation_id
    rig.drive(runner)


# --- failure policies ---------------------------------------------------------------------------------------


def test_a_refused_scale_keeps_the_cluster_ready_and_usable(rig: Rig) -> None:
    runner = rig.runner("r1")
    _ready(rig, runner)
    rig.provider.refuse_scale = "Insufficient regional quota to satisfy request: resource CPUS"
    refused = rig.clusters.scale(ALICE, "app", nodes=8, idempotency_key="too-big").operation_id
    rig.drive(runner)
    op = rig.operation(refused)
    assert op.status == "failed" and op.error == rig.provider.refuse_scale
    failure = next(u for u in rig.sink.updates if u.final and u.operation_id == refused)
    assert rig.provider.refuse_scale in failure.text
    cluster = rig.cluster("app")
    assert (cluster.state, cluster.node_count) == ("ready", 2)
    assert rig.clusters.kubeconfig(ALICE, "app").content  # still usable
    rig.provider.refuse_scale = None
    fine = rig.clusters.scale(ALICE, "app", nodes=3, idempotency_key="fine").operation_id
    rig.drive(runner)
    assert rig.finals()[fine] == "succeeded" and rig.cluster("app").node_count == 3


# --- cancel -------------------------------------------------------------------------------------------------


def test_cancel_stops_what_is_queued_and_lets_started_provider_work_finish(rig: Rig) -> None:
    runner = rig.runner("r1")
    _ready(rig, runner)
    running = rig.clusters.scale(ALICE, "app", nodes=3, idempotency_key="s1").operation_id
    runner.run_pending()  # at the provider now
    queued = rig.clusters.scale(ALICE, "app", nodes=7, idempotency_key="s2").operation_id
    notice = rig.clusters.cancel(ALICE, "app")
    assert "cancelling `scale`" in notice.text and "will finish first" in notice.text
    rig.drive(runner)
    assert rig.finals()[running] == "succeeded" and rig.finals()[queued] == "cancelled"
    assert rig.provider.clusters == {"ref-app": 3}
    with rig.sessions() as s:  # type: ignore[operator]
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "cancel")).all()
    assert [(a.actor_id, a.result) for a in audit] == [("UALICE", "ok")]


def test_cancel_refuses_strangers_unknown_clusters_and_idle_ones(rig: Rig) -> None:
    runner = rig.runner("r1")
    _ready(rig, runner)
    with pytest.raises(errors.Conflict, match="nothing queued or running"):
        rig.clusters.cancel(ALICE, "app")
    op_id = rig.clusters.scale(ALICE, "app", nodes=3, idempotency_key="s").operation_id
    with pytest.raises(errors.Forbidden):
        rig.clusters.cancel(BOB, "app")
    for name in ("nope", "", "x" * 300, "../app"):
        with pytest.raises(errors.NotFound):
            rig.clusters.cancel(ALICE, name)
    rig.drive(runner)
    assert rig.finals()[op_id] == "succeeded"  # the refusals changed nothing
    with rig.sessions() as s:  # type: ignore[operator]
        denied = s.exec(select(AuditEvent).where(AuditEvent.result == "denied")).all()
    assert [(a.actor_id, a.action) for a in denied] == [("UBOB", "cancel")]


def test_a_cancelled_queued_create_frees_the_name(rig: Rig) -> None:
    runner = rig.runner("r1")
    op_id = _create(rig)
    rig.clusters.cancel(ALICE, "app")
    rig.drive(runner)
    assert rig.finals()[op_id] == "cancelled"
    assert rig.cluster("app").state == "deleted" and rig.provider.calls == []
    again = rig.clusters.create(ALICE, name="app", nodes=1, idempotency_key="again").operation_id
    rig.drive(runner)
    assert rig.finals()[again] == "succeeded"


def test_keeper_and_dispatcher_report_their_heartbeats(rig: Rig) -> None:
    runner = rig.runner("r1")
    assert runner.heartbeats() == {}
    runner.start()
    deadline = threading.Event()
    for _ in range(100):
        if "dispatcher" in runner.heartbeats():
            break
        deadline.wait(0.05)
    assert runner.heartbeats()["dispatcher"] >= 0


def test_reconcile_brings_back_a_failed_cluster_the_provider_runs(rig: Rig) -> None:
    rig.provider.polls_to_finish = 10
    op_id = _create(rig)
    for owner in ("r1", "r2", "r3", "r4"):  # three crashes, then kaas gives up: the cluster is failed
        rig.runner(owner).run_pending()
        rig.clock.advance(LEASE + 1)
    assert rig.operation(op_id).status == "failed" and rig.cluster("app").state == "failed"
    reconciler = Reconciler(sessions=rig.sessions, profiles=rig.profiles, crypto=rig.crypto)  # type: ignore[arg-type]
    assert reconciler.run_once() == []  # the provider is still creating it
    rig.provider.describe_state = "running"
    assert [d.change for d in reconciler.run_once()] == [RUNNING_AGAIN]
    cluster = rig.cluster("app")
    assert (cluster.state, cluster.node_count) == ("ready", 2)
    assert rig.clusters.kubeconfig(ALICE, "app").content == KUBECONFIG  # fetched from the provider
    assert reconciler.run_once() == []


def test_reconcile_leaves_clusters_with_work_under_way_to_that_work(rig: Rig) -> None:
    runner = rig.runner("r1")
    _ready(rig, runner)
    rig.provider.clusters["ref-app"] = 9  # changed outside kaas…
    rig.clusters.scale(ALICE, "app", nodes=3, idempotency_key="s")  # …while a scale is queued
    reconciler = Reconciler(sessions=rig.sessions, profiles=rig.profiles, crypto=rig.crypto)  # type: ignore[arg-type]
    assert reconciler.run_once() == []
    rig.drive(runner)
    assert rig.cluster("app").node_count == 3


def test_one_request_delivered_to_several_replicas_is_one_operation(rig: Rig) -> None:
    racers = 8
    barrier = threading.Barrier(racers)

    def deliver(_: int):
        barrier.wait()
        return rig.clusters.create(ALICE, name="twice", nodes=1, idempotency_key="cmd:T1:trigger-1")

    with ThreadPoolExecutor(racers) as pool:
        replies = list(pool.map(deliver, range(racers)))  # a Conflict ("name taken") would raise here
    assert len({r.operation_id for r in replies}) == 1
    assert sum(not r.duplicate for r in replies) == 1
    assert len(rig.operations()) == 1
