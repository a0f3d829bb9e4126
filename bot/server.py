"""`kaas serve`: the Slack app over HTTP (or Socket Mode), plus health and metrics, on uvicorn.

Bolt's own Starlette adapter calls the synchronous `App.dispatch` on the event loop; this module hands it to
the thread pool instead, so one slow request never stalls the acknowledgements of the others.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.metrics import Metrics
from bot.notifier import MIN_INTERVAL, SlackDeliverer
from bot.runtime import Core
from bot.slack_app import SlackFace, register_listeners
from bot.slack_apps import SlackAppsFace
from handlers.actors import SLACK_AUDIENCE
from providers.errors import ProviderError

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_SECONDS = 10
MAX_EVENT_BYTES = 1024 * 1024
"""Slack's payloads are a few KiB; anything near this is not from Slack."""


class CountedWebClient(WebClient):
    """The Slack Web API client, counting each call and its outcome for `/metrics`."""

    def __init__(self, *args, metrics: Metrics, **kwargs):
        super().__init__(*args, **kwargs)
        self._metrics = metrics

    def api_call(self, api_method: str, **kwargs):  # type: ignore[override]
        try:
            response = super().api_call(api_method, **kwargs)
        except SlackApiError as e:
            limited = e.response.status_code == 429 or e.response.get("error") == "ratelimited"
            self._metrics.slack_call(api_method, "rate_limited" if limited else "error")
            raise
        self._metrics.slack_call(api_method, "ok")
        return response


def web_client(core: Core) -> WebClient:
    """The Web API client, pointed at `KAAS_SLACK_API_URL`, retrying 429s after their Retry-After."""
    token = core.settings.slack_bot_token.get_secret_value() if core.settings.slack_bot_token else None
    client = CountedWebClient(token=token, base_url=core.settings.slack_api_url, metrics=core.metrics)
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
    # A delivery must end well within the outbox's claim hold (handlers.outbox.HOLD_SECONDS).
    delivery = CountedWebClient(
        token=client.token, base_url=client.base_url, timeout=DELIVERY_TIMEOUT_SECONDS, metrics=core.metrics
    )
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
    """POST /slack/events; GET /healthz (background loops alive), /readyz (database and sandboxes
    reachable), /metrics (Prometheus)."""

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
        stuck = core.stuck_loops()
        body = {"ok": not stuck, "stuck": {name: round(age, 1) for name, age in stuck.items()}}
        return JSONResponse(body, status_code=503 if stuck else 200)

    async def readyz(_: Request) -> Response:
        problems = await run_in_threadpool(_readiness_problems, core)
        return JSONResponse({"ok": not problems, "problems": problems}, status_code=503 if problems else 200)

    async def metrics(_: Request) -> Response:
        return Response(await run_in_threadpool(core.metrics.render), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )


def _readiness_problems(core: Core) -> list[str]:
    """What keeps this instance from serving: the database, and the sandboxes it drives."""
    problems = []
    try:
        with core.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as e:  # any database failure makes the instance unready
        problems.append(f"database: {type(e).__name__}")
    for profile in core.profiles.profiles():
        if profile.kind != "sandbox":
            continue  # clouds are probed at start; asking them on every readiness check would cost quota
        try:
            core.profiles.provider(profile.name).probe()
        except ProviderError as e:
            problems.append(f"provider profile {profile.name}: {e.message}")
    return problems
