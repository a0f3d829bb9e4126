"""Benchmark: N concurrent creates per cloud provider against its loopback emulator, with Slack progress.

    PYTHONPATH=. .venv/bin/python bench/cloud_creates.py --creates 50 --provider gke --op-seconds 1

Runs the real core (handlers → runner → adapter → emulator backed by sandbox clusters) with the outbox's
Slack sender writing to the loopback fake Web API, so it also counts Slack calls per operation.
Prints one JSON object; docs/BENCHMARKS.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

import yaml
from slack_sdk import WebClient

from bot.notifier import MIN_INTERVAL, SlackDeliverer
from bot.runtime import build_core
from bot.settings import Settings
from handlers.actors import SLACK_AUDIENCE, Actor, Origin
from handlers.outbox import Outgoing
from providers.sandbox.sandbox import Sandbox, SandboxSettings
from tests.emulators.aks.server import AksEmulator
from tests.emulators.gke.server import GkeEmulator
from tests.emulators.jenkins.server import JenkinsEmulator
from tests.providers.test_through_bot import ARM_TOKEN, GCP_TOKEN, aks_profile, gke_profile, jenkins_profile
from tests.slack_fake.server import FakeSlack


class CountingDeliverer(SlackDeliverer):
    """The real Slack deliverer, also noting when each operation's final message was delivered."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.final: set[int] = set()
        self.cond = threading.Condition()

    def deliver(self, outgoing: Outgoing) -> str | None:
        ts = super().deliver(outgoing)
        if outgoing.update.final:
            with self.cond:
                self.final.add(outgoing.update.operation_id)
                self.cond.notify_all()
        return ts

    def wait(self, ids: list[int], timeout: float = 900) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: set(ids) <= self.final, timeout=timeout), (
                "creates did not finish"
            )


def start_emulator(kind: str, backing: Sandbox, workdir: Path, op_seconds: float):
    if kind == "aks":
        return AksEmulator(backing, workdir, token=ARM_TOKEN, op_seconds=op_seconds).start()
    if kind == "gke":
        return GkeEmulator(backing, access_tokens=(GCP_TOKEN,), op_seconds=op_seconds).start()
    return JenkinsEmulator(backing, queue_seconds=0.1, build_seconds=op_seconds).start()


def run(kind: str, creates: int, op_seconds: float, workers: int, tmp: Path) -> dict:
    backing = Sandbox(SandboxSettings(state_dir=tmp / "data-plane")).start()
    emulator = start_emulator(kind, backing, tmp, op_seconds)
    fake = FakeSlack().start()
    profile = {"aks": aks_profile, "gke": gke_profile, "jenkins": jenkins_profile}[kind](emulator)
    profile["nodes"] = {"min": 1, "max": 5, "default": 1}
    providers_file = tmp / "providers.yml"
    providers_file.write_text(yaml.safe_dump({"profiles": {kind: profile}}))
    os.environ.update(
        KAAS_TEST_ARM_TOKEN=ARM_TOKEN,
        KAAS_TEST_GCP_TOKEN=GCP_TOKEN,
        KAAS_TEST_JENKINS_TOKEN=getattr(emulator, "token", ""),
    )
    settings = Settings(
        home=tmp / "home", providers_file=providers_file, runner_workers=workers, poll_seconds=0.2
    )
    core = build_core(settings)
    client = WebClient(token="xoxb-bench", base_url=fake.base_url)
    progress = CountingDeliverer(client)
    core.deliver_with(progress, audience=SLACK_AUDIENCE, min_interval=MIN_INTERVAL)
    actor = Actor("UBENCH", "TBENCH", channel_id="C0001")
    core.start()
    peak_threads = threading.active_count()
    try:
        t0 = time.perf_counter()
        single = core.clusters.create(actor, name="single", idempotency_key="single", origin=Origin("C0001"))
        progress.wait([single.operation_id])
        single_s = time.perf_counter() - t0
        calls_before = len(fake.calls)

        t0 = time.perf_counter()
        ids = []
        for i in range(creates):
            reply = core.clusters.create(actor, name=f"c{i}", idempotency_key=f"c{i}", origin=Origin("C0001"))
            ids.append(reply.operation_id)
        while True:
            peak_threads = max(peak_threads, threading.active_count())
            with progress.cond:
                if set(ids) <= progress.final:
                    break
                progress.cond.wait(0.05)
        total_s = time.perf_counter() - t0
        slack_calls = len(fake.calls) - calls_before
    finally:
        core.close()
        fake.stop()
        if kind == "aks":
            emulator.close()
        else:
            emulator.stop()
        backing.close()
    return {
        "provider": kind,
        "creates": creates,
        "workers": workers,
        "emulated_create_s": op_seconds,
        "single_create_s": round(single_s, 2),
        "all_creates_done_s": round(total_s, 2),
        "slack_calls_per_operation": round(slack_calls / creates, 1),
        "peak_threads": peak_threads,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["aks", "gke", "jenkins"], required=True)
    parser.add_argument("--creates", type=int, default=50)
    parser.add_argument("--op-seconds", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(
            json.dumps(run(args.provider, args.creates, args.op_seconds, args.workers, Path(tmp)), indent=2)
        )


if __name__ == "__main__":
    main()
