"""Benchmark: the outbox under a burst of progress, delivered to the loopback fake of Slack's Web API.

    PYTHONPATH=. .venv/bin/python bench/outbox.py --operations 100 --updates 1000 --seconds 10
    PYTHONPATH=. .venv/bin/python bench/outbox.py --database-url postgresql://postgres@127.0.0.1:5432/kaas_bench

A writer spreads `--updates` progress updates over `--operations` messages during `--seconds`, each in its
own transaction as the runner writes them, then writes every message's final version. The real sender
(real clock, the Slack deliverer, 2 s per message) delivers meanwhile. Prints one JSON object: Slack calls,
the closest two updates of one message came, finals lost, and how long finals took to reach Slack.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import tempfile
import threading
import time
from pathlib import Path

from slack_sdk import WebClient

from bot.notifier import MIN_INTERVAL, SlackDeliverer
from handlers.outbox import OutboxSender, Outgoing
from handlers.replies import OperationUpdate
from storage import migrations, outbox
from storage.engine import make_engine, session_factory
from storage.models import utcnow
from tests.slack_fake.server import FakeSlack


class Timed(SlackDeliverer):
    """The real deliverer, noting when each message was sent and when its final arrived."""

    def __init__(self, client: WebClient):
        super().__init__(client)
        self.sent: dict[int, list[float]] = {}
        self.final_at: dict[int, float] = {}
        self.lock = threading.Lock()

    def deliver(self, outgoing: Outgoing) -> str | None:
        ts = super().deliver(outgoing)
        now = time.monotonic()
        with self.lock:
            self.sent.setdefault(outgoing.update.operation_id, []).append(now)
            if outgoing.update.final:
                self.final_at[outgoing.update.operation_id] = now
        return ts


def _write(sessions, op_id: int, step: str, final: bool) -> None:
    update = OperationUpdate(
        operation_id=op_id,
        cluster_name=f"c{op_id}",
        kind="create",
        status="succeeded" if final else "running",
        step=step,
        progress=100 if final else 50,
        text=f"Cluster `c{op_id}` is ready." if final else f"Creating cluster `c{op_id}`…",
        final=final,
        channel_id="C0001",
    )
    with sessions() as session:
        outbox.publish(
            session,
            key=f"op:{op_id}",
            audience="slack",
            team_id="T1",
            body=dataclasses.asdict(update),
            note=None if final else step,
            final=final,
            now=utcnow(),
            operation_id=op_id,
        )
        session.commit()


def run(operations: int, updates: int, seconds: float, database_url: str | None, tmp: Path) -> dict:
    engine = make_engine(database_url or f"sqlite:///{tmp / 'kaas.db'}")
    migrations.upgrade(engine)
    sessions = session_factory(engine)
    with FakeSlack() as fake:
        deliverer = Timed(WebClient(token="xoxb-bench", base_url=fake.base_url))
        sender = OutboxSender(
            sessions=sessions, deliverer=deliverer, audience="slack", min_interval=MIN_INTERVAL
        ).start()
        try:
            pause = seconds / updates
            for i in range(updates):
                _write(sessions, i % operations, f"step {i // operations}", False)
                sender.wake()
                time.sleep(pause)
            written_final = time.monotonic()
            for op_id in range(operations):
                _write(sessions, op_id, "done", True)
            sender.wake()
            deadline = time.monotonic() + 60
            while len(deliverer.final_at) < operations and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            sender.stop()
        gaps = [b - a for times in deliverer.sent.values() for a, b in itertools.pairwise(times)]
        latencies = sorted(at - written_final for at in deliverer.final_at.values())
        top_level = [m for m in fake.messages("C0001") if not m.get("thread_ts")]
        calls = len(fake.calls_to("chat.update")) + len(fake.calls_to("chat.postMessage"))
    engine.dispose()
    return {
        "database": "postgresql" if database_url else "sqlite",
        "operations": operations,
        "updates_written": updates,
        "messages_in_channel": len(top_level),
        "finals_lost": operations - sum("is ready" in json.dumps(m) for m in top_level),
        "slack_calls": calls,
        "message_updates_sent": sum(len(t) for t in deliverer.sent.values()),
        "closest_updates_of_one_message_s": round(min(gaps), 3) if gaps else None,
        "final_delivered_after_s_p50": round(latencies[len(latencies) // 2], 2) if latencies else None,
        "final_delivered_after_s_max": round(latencies[-1], 2) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=100)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.operations, args.updates, args.seconds, args.database_url, Path(tmp))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
