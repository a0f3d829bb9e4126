"""`kaas serve`: the Slack app over HTTP (or Socket Mode), plus health and metrics, on uvicorn.

Bolt's own Starlette adapter calls the synchronous `App.dispatch` on the event loop; this module hands it to
the thread pool instead, so one slow request never stalls the acknowledgements of the others.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.notifier import MIN_INTERVAL, SlackDeliverer
from bot.runtime import Core
from bot.slack_app import SlackFace, register_listeners
from bot.slack_apps import SlackAppsFace
from handlers.actors import SLACK_AUDIENCE
from storage.models import Cluster, Operation

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = 1024 * 1024
"""Slack's payloads are a few KiB; anything near this is not from Slack."""


def web_client(core: Core) -> WebClient:
    """The Web API client, pointed at `KAAS_SLACK_API_URL`, retrying 429s after their Retry-After."""
    token = core.settings.slack_bot_token.get_secret_value() if core.settings.slack_bot_token else None
    client = WebClient(token=token, base_url=core.settings.slack_api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def build_slack(core: Core, client: WebClient) -> tuple[App, SlackFace]:
    """The Bolt app with kaas's listeners, and the outbox's Slack sender added to the core."""
    secret = (
        core.settings.slack_signing_secret.get_secret_value() if core.settings.slack_signing_secret else None
    )
    app = App(
        client=client, signing_secret=secret, token_verification_enabled=False, process_before_response=False
    )
    # Its own client, without the 429 retry handler: the outbox waits out a Retry-After per message.
    delivery = WebClient(token=client.token, base_url=client.base_url)
    core.deliver_with(SlackDeliverer(delivery), audience=SLACK_AUDIENCE, min_interval=MIN_INTERVAL)
    admins = core.settings.admin_ids()
    face = SlackFace(
        clusters=core.clusters,
        client=client,
        is_admin=admins.__contains__,
        now=lambda: dt.datetime.now(dt.UTC),
    )
    face.apps_face = SlackAppsFace(
        face,
        apps=core.apps,
        backups=core.backups,
        checks=core.checks,
        bot_token=client.token or "",
        slack_api_url=core.settings.slack_api_url,
    )
    register_listeners(app, face)
    return app, face


def build_http_app(core: Core, bolt: App) -> Starlette:
    """POST /slack/events, GET /healthz, GET /metrics."""

    async def slack_events(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_EVENT_BYTES:
            return PlainTextResponse("payload too large", status_code=413)
        body = await request.body()
        if len(body) > MAX_EVENT_BYTES:
            return PlainTextResponse("payload too large", status_code=413)
        bolt_response = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> Response:
        def check() -> None:
            with core.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))

        try:
            await run_in_threadpool(check)
        except Exception as e:  # any database failure makes the instance unhealthy
            return JSONResponse({"ok": False, "database": type(e).__name__}, status_code=503)
        return JSONResponse({"ok": True})

    async def metrics(_: Request) -> Response:
        return PlainTextResponse(
            await run_in_threadpool(_metrics_text, core), media_type="text/plain; version=0.0.4"
        )

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )


def _metrics_text(core: Core) -> str:
    lines = [
        "# HELP kaas_clusters Clusters by state.",
        "# TYPE kaas_clusters gauge",
    ]
    with core.engine.connect() as conn:
        for state, count in conn.execute(sa.select(Cluster.state, sa.func.count()).group_by(Cluster.state)):
            lines.append(f'kaas_clusters{{state="{state}"}} {count}')
        lines += ["# HELP kaas_operations Operations by kind and status.", "# TYPE kaas_operations gauge"]
        for kind, status, count in conn.execute(
            sa.select(Operation.kind, Operation.status, sa.func.count()).group_by(
                Operation.kind, Operation.status
            )
        ):
            lines.append(f'kaas_operations{{kind="{kind}",status="{status}"}} {count}')
    return "\n".join(lines) + "\n"
