"""The outbox on SQLite and PostgreSQL, delivered by the real Slack deliverer to the loopback fake Slack,
on a fake clock: coalescing, Retry-After, network errors, refusals, crashes and two senders at once."""

from __future__ import annotations

import dataclasses
import itertools
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from slack_sdk import WebClient

from bot.notifier import MIN_INTERVAL, SlackDeliverer
from handlers.outbox import HOLD_SECONDS, OutboxSender, Outgoing
from handlers.replies import Button, Confirm, OperationUpdate
from storage import migrations, outbox
from storage.engine import make_engine, session_factory
from tests.clock import FakeClock
from tests.slack_fake.server import FakeSlack

CHANNEL = "C0001"


class Recorder(SlackDeliverer):
    """The real deliverer, also noting (on the fake clock) when each message was sent."""

    def __init__(self, client: WebClient, clock: FakeClock):
        super().__init__(client)
        self.clock = clock
        self.sent: list[tuple[int, float, bool]] = []
        self._lock = threading.Lock()

    def deliver(self, outgoing: Outgoing) -> str | None:
        ts = super().deliver(outgoing)
        with self._lock:
            self.sent.append((outgoing.update.operation_id, self.clock.monotonic(), outgoing.update.final))
        return ts


@dataclass
class Bench:
    sessions: object
    fake: FakeSlack
    clock: FakeClock

    def sender(self, owner: str = "s1", client: WebClient | None = None) -> tuple[OutboxSender, Recorder]:
        recorder = Recorder(client or WebClient(token="xoxb-test", base_url=self.fake.base_url), self.clock)
        sender = OutboxSender(
            sessions=self.sessions,  # type: ignore[arg-type]
            deliverer=recorder,
            audience="slack",
            min_interval=MIN_INTERVAL,
            owner=owner,
            clock=self.clock,
        )
        return sender, recorder

    def write(self, op_id: int, step: str, *, final: bool = False, buttons: tuple[Button, ...] = ()) -> None:
        update = OperationUpdate(
            operation_id=op_id,
            cluster_name=f"c{op_id}",
            kind="create",
            status="succeeded" if final else "running",
            step=step,
            progress=100 if final else 50,
            text=f"Cluster `c{op_id}` is ready." if final else f"Creating cluster `c{op_id}`…",
            final=final,
            channel_id=CHANNEL,
            buttons=buttons,
        )
        with self.sessions() as session:  # type: ignore[operator]
            outbox.publish(
                session,
                key=f"op:{op_id}",
                audience="slack",
                team_id="T1",
                cluster_id=op_id,
                operation_id=op_id,
                body=dataclasses.asdict(update),
                note=None if final else step,
                final=final,
                now=self.clock.now(),
            )
            session.commit()

    def row(self, op_id: int):
        with self.sessions() as session:  # type: ignore[operator]
            return outbox.get(session, key=f"op:{op_id}")

    def top_level(self) -> list[dict]:
        return [m for m in self.fake.messages(CHANNEL) if not m.get("thread_ts")]


@pytest.fixture
def bench(database_url: str) -> Iterator[Bench]:
    engine = make_engine(database_url)
    migrations.upgrade(engine)
    with FakeSlack() as fake:
        yield Bench(session_factory(engine), fake, FakeClock())
    engine.dispose()


def test_a_thousand_updates_are_coalesced_and_every_final_arrives(bench: Bench) -> None:
    sender, recorder = bench.sender()
    for round_ in range(100):  # 1,000 progress updates for 100 operations, 10 per tick of 0.2 s
        for op_id in range(round_ % 10 * 10, round_ % 10 * 10 + 10):
            bench.write(op_id, f"step {round_}")
        sender.run_once()
        bench.clock.advance(0.2)
    for op_id in range(100):
        bench.write(op_id, "done", final=True)
    for _ in range(10):
        sender.run_once()
        bench.clock.advance(MIN_INTERVAL)
    top = bench.top_level()
    assert len(top) == 100, "one message per operation"
    assert all("is ready" in json.dumps(m) for m in top), "zero lost finals"
    by_message: dict[int, list[float]] = {}
    for op_id, at, _ in recorder.sent:
        by_message.setdefault(op_id, []).append(at)
    for times in by_message.values():
        assert all(b - a >= MIN_INTERVAL for a, b in itertools.pairwise(times))
    # 20 s of updates: at most one send per message per 2 s, plus the final.
    assert len(recorder.sent) <= 100 * (20 / MIN_INTERVAL + 2)
    assert len(bench.fake.calls_to("chat.update")) + len(top) == len(recorder.sent)


def test_a_429_holds_back_only_that_message_for_its_retry_after(bench: Bench) -> None:
    sender, _ = bench.sender()
    bench.write(1, "a")
    bench.write(2, "a")
    sender.run_once()
    bench.clock.advance(MIN_INTERVAL)
    bench.fake.rate_limit("chat.update", times=1, retry_after=30)
    bench.write(1, "b")
    bench.write(2, "b")
    sender.run_once()  # one of the two updates is rate limited, the other goes through
    limited = next(i for i in (1, 2) if bench.row(i).delivered_version < bench.row(i).version)
    assert bench.row(limited).attempts == 1 and bench.row(limited).error == "rate limited by Slack"
    bench.clock.advance(29)
    sender.run_once()
    assert bench.row(limited).delivered_version < bench.row(limited).version, "Retry-After is honoured"
    bench.clock.advance(1.5)
    sender.run_once()
    row = bench.row(limited)
    assert (row.delivered_version, row.attempts) == (row.version, 0)


def _unused_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_network_errors_are_retried_with_backoff_and_the_sender_goes_on(bench: Bench) -> None:
    down = WebClient(
        token="xoxb-test", base_url=f"http://127.0.0.1:{_unused_loopback_port()}/api/", timeout=2
    )
    broken, _ = bench.sender("s-broken", client=down)
    bench.write(1, "a")
    assert broken.run_once() == 1
    row = bench.row(1)
    assert row.attempts == 1 and "unreachable" in (row.error or "")
    assert row.next_attempt_at is not None and row.next_attempt_at > bench.clock.now()
    healthy, _ = bench.sender("s-healthy")
    assert healthy.run_once() == 0  # backing off
    bench.clock.advance(60)
    assert healthy.run_once() == 1
    assert len(bench.top_level()) == 1


def test_a_message_the_chat_refuses_for_good_is_given_up_and_others_go_on(bench: Bench) -> None:
    sender, _ = bench.sender()
    bench.fake.fail("chat.postMessage", "channel_not_found", times=1)
    bench.write(1, "a")
    sender.run_once()
    bench.write(2, "a")
    sender.run_once()
    gone = bench.row(1)
    assert gone.delivered_version == gone.version and gone.error == "channel_not_found"
    assert bench.row(2).message_ts is not None


def test_what_a_crashed_process_wrote_or_claimed_is_delivered_by_the_next(bench: Bench) -> None:
    bench.write(1, "a")
    bench.write(1, "done", final=True)  # written, then the process died before any delivery
    bench.write(2, "a")
    with bench.sessions() as session:  # type: ignore[operator]
        claimed = outbox.claim(
            session,
            audience="slack",
            owner="dead",
            now=bench.clock.now(),
            limit=10,
            hold_seconds=HOLD_SECONDS,
            min_interval=2,
        )
    assert len(claimed) == 2  # …or it had claimed them and died mid-delivery
    sender, _ = bench.sender("next")
    assert sender.run_once() == 0
    bench.clock.advance(HOLD_SECONDS + 1)
    assert sender.run_once() == 2
    assert sum("is ready" in json.dumps(m) for m in bench.top_level()) == 1


def test_two_senders_deliver_each_message_once(bench: Bench) -> None:
    for op_id in range(40):
        bench.write(op_id, "a")
    senders = [bench.sender(f"s{i}")[0] for i in range(2)]
    barrier = threading.Barrier(2)

    def drain(sender: OutboxSender) -> None:
        barrier.wait()
        while sender.run_once():
            pass

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(bench.top_level()) == 40
    assert len(bench.fake.calls_to("chat.postMessage")) == 40 * 2  # each message and its one thread note


def test_a_final_message_is_not_reopened_and_loses_its_buttons_when_the_cluster_goes(bench: Bench) -> None:
    sender, _ = bench.sender()
    delete = Button(
        "Delete", "cluster_delete", "c1", style="danger", confirm=Confirm("Sure?", "Really?", "Yes")
    )
    bench.write(1, "done", final=True, buttons=(delete,))
    bench.write(1, "late", final=False)  # a stale writer: ignored
    sender.run_once()
    (message,) = bench.top_level()
    assert "is ready" in json.dumps(message) and "cluster_delete" in json.dumps(message)
    with bench.sessions() as session:  # type: ignore[operator]
        assert outbox.strip_buttons(session, cluster_id=1, now=bench.clock.now()) == 1
        session.commit()
    bench.clock.advance(MIN_INTERVAL)
    sender.run_once()
    (message,) = bench.top_level()
    assert "is ready" in json.dumps(message) and "cluster_delete" not in json.dumps(message)


def test_the_backlog_counts_what_waits(bench: Bench) -> None:
    bench.write(1, "a")
    bench.write(2, "a")
    with bench.sessions() as session:  # type: ignore[operator]
        assert outbox.backlog(session) == 2
    bench.sender()[0].run_once()
    with bench.sessions() as session:  # type: ignore[operator]
        assert outbox.backlog(session) == 0
