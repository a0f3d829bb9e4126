"""Benchmark: N concurrent cluster creates through the real core (handlers → runner → sandbox → storage).

    .venv/bin/python bench/operations.py --creates 100 --workers 8 --create-seconds 1
    .venv/bin/python bench/operations.py --creates 100 --workers 32 --create-seconds 1 \\
        --database-url postgresql://postgres@127.0.0.1:5432/kaas_bench

Prints one JSON object; docs/BENCHMARKS.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import threading
import time
from pathlib import Path

from bot.runtime import build_core
from bot.settings import Settings
from handlers.actors import Actor
from handlers.replies import OperationUpdate


class Finals:
    def __init__(self) -> None:
        self.done: dict[int, str] = {}
        self.cond = threading.Condition()

    def publish(self, update: OperationUpdate) -> None:
        if update.final:
            with self.cond:
                self.done[update.operation_id] = update.status
                self.cond.notify_all()

    def wait(self, ids: list[int], timeout: float = 600) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: all(i in self.done for i in ids), timeout=timeout)


def run(creates: int, workers: int, create_seconds: float, database_url: str | None, home: Path) -> dict:
    finals = Finals()
    settings = Settings(
        home=home,
        database_url=database_url,
        sandbox_create_seconds=create_seconds,
        runner_workers=workers,
        poll_seconds=0.1,
    )
    core = build_core(settings, sink=finals)
    core.start()
    actor = Actor("UBENCH", "TBENCH", is_admin=True)
    peak_threads = threading.active_count()
    try:
        t0 = time.perf_counter()
        single = core.clusters.create(actor, name="single", nodes=3, idempotency_key="single")
        finals.wait([single.operation_id])
        single_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        ids = [
            core.clusters.create(actor, name=f"c{i}", nodes=3, idempotency_key=f"c{i}").operation_id
            for i in range(creates)
        ]
        accept_s = time.perf_counter() - t0
        while True:
            peak_threads = max(peak_threads, threading.active_count())
            with finals.cond:
                if all(i in finals.done for i in ids):
                    break
                finals.cond.wait(0.05)
        total_s = time.perf_counter() - t0
        ok = sum(1 for i in ids if finals.done[i] == "succeeded")
    finally:
        core.close()
    return {
        "database": "postgresql" if database_url and database_url.startswith("postgresql") else "sqlite",
        "creates": creates,
        "succeeded": ok,
        "workers": workers,
        "simulated_create_s": create_seconds,
        "single_create_s": round(single_s, 2),
        "record_all_requests_s": round(accept_s, 3),
        "all_creates_done_s": round(total_s, 2),
        "peak_threads": peak_threads,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=100)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--create-seconds", type=float, default=1.0)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(
            json.dumps(
                run(args.creates, args.workers, args.create_seconds, args.database_url, Path(tmp)), indent=2
            )
        )


if __name__ == "__main__":
    main()
