"""Benchmark: slash-command acknowledgement latency of kaas vs a bare Bolt app, same server, same run.

    PYTHONPATH=. .venv/bin/python bench/slack_ack.py --senders 20 --requests 50

Both apps are served by uvicorn on loopback and receive correctly signed `/kaas` form posts from
`--senders` concurrent clients; the Slack Web API is the loopback fake from tests/. kaas answers `list`
(ack, then a database query and chat.postEphemeral after the ack); the bare app only acks.
Prints one JSON object; docs/BENCHMARKS.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import SlackRequestHandler
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.routing import Route

from bot.runtime import build_core
from bot.server import build_http_app, build_slack, web_client
from bot.settings import Settings
from providers.sandbox.server import ServerThread
from tests.slack_fake import payloads
from tests.slack_fake.server import FakeSlack
from tests.slack_fake.signing import sign

SECRET = "bench-secret"


def bare_bolt(api_url: str) -> Starlette:
    app = App(
        client=WebClient(token="xoxb-bench", base_url=api_url),
        signing_secret=SECRET,
        token_verification_enabled=False,
    )

    @app.command("/kaas")
    def ack_only(ack) -> None:
        ack()

    handler = SlackRequestHandler(app)

    async def events(request):
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


def hammer(url: str, senders: int, per_sender: int, text: str) -> list[float]:
    barrier = threading.Barrier(senders)

    def sender(i: int) -> list[float]:
        session = requests.Session()
        session.trust_env = False
        out = []
        barrier.wait()
        for j in range(per_sender):
            body = payloads.slash_command(
                text,
                user_id=f"U{i:04d}",
                team_id="T0001",
                channel_id="C0001",
                trigger_id=f"t{i}-{j}-{time.time_ns()}",
            )
            t0 = time.perf_counter()
            resp = session.post(url, data=body, headers=sign(SECRET, body), timeout=30)
            out.append(1000 * (time.perf_counter() - t0))
            assert resp.status_code == 200, resp.status_code
        session.close()
        return out

    with ThreadPoolExecutor(senders) as pool:
        return sorted(x for chunk in pool.map(sender, range(senders)) for x in chunk)


def summary(samples: list[float]) -> dict:
    return {
        "n": len(samples),
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(len(samples) - 1, int(0.99 * len(samples)))], 2),
        "max_ms": round(samples[-1], 2),
    }


def serve(api_url: str) -> None:
    """Child process: serve both apps, print their ports, run until stdin closes."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            home=Path(tmp), slack_bot_token="xoxb-bench", slack_signing_secret=SECRET, slack_api_url=api_url
        )
        core = build_core(settings)
        bolt, _ = build_slack(core, web_client(core))
        core.start()
        kaas_server = ServerThread(build_http_app(core, bolt), host="127.0.0.1", port=0)
        bare_server = ServerThread(bare_bolt(api_url), host="127.0.0.1", port=0)
        print(json.dumps({"kaas": kaas_server.start(), "bare": bare_server.start()}), flush=True)
        try:
            sys.stdin.read()
        finally:
            kaas_server.stop()
            bare_server.stop()
            core.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="per sender")
    parser.add_argument("--command", default="list")
    parser.add_argument("--serve", metavar="API_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    # The apps run in a child process, so neither the load generator nor the fake Slack Web API (both
    # here) competes with them for the GIL.
    fake = FakeSlack().start()
    for i in range(args.senders):
        fake.add_user(f"U{i:04d}")
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", fake.base_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        ports = json.loads(child.stdout.readline())
        kaas_url = f"http://127.0.0.1:{ports['kaas']}/slack/events"
        bare_url = f"http://127.0.0.1:{ports['bare']}/slack/events"
        hammer(bare_url, 2, 5, "warm-up")
        hammer(kaas_url, 2, 5, "help")
        bare = hammer(bare_url, args.senders, args.requests, args.command)
        kaas = hammer(kaas_url, args.senders, args.requests, args.command)
    finally:
        child.stdin.close()
        child.wait(timeout=60)
        fake.stop()
    result = {
        "senders": args.senders,
        "command": args.command,
        "kaas": summary(kaas),
        "bare_bolt": summary(bare),
    }
    result["p99_ratio"] = round(result["kaas"]["p99_ms"] / result["bare_bolt"]["p99_ms"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
