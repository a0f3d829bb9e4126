"""The sandbox's HTTPS front: authentication, body limits and watch streaming over Starlette + uvicorn.

uvicorn is a production ASGI server with TLS and HTTP/1.1 keep-alive, and Starlette's streaming responses
make long-lived watches cheap (one coroutine each, not one thread each). The REST semantics themselves live
in `api.py` and run in Starlette's thread pool, because they take the cluster's lock.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from providers.sandbox import bodies, errors, pki
from providers.sandbox.api import ApiRequest, ApiResponse, WatchPlan, error_response
from providers.sandbox.cluster import Phase, VirtualCluster
from providers.sandbox.state import dumps
from providers.sandbox.store import Watcher, WatchEvent, meta

if TYPE_CHECKING:
    from providers.sandbox.sandbox import Sandbox

log = logging.getLogger(__name__)

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def _as_response(result: ApiResponse) -> Response:
    return Response(
        result.body, status_code=result.status, media_type=result.content_type, headers=result.headers
    )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > bodies.MAX_BODY_BYTES:
        raise errors.RequestEntityTooLarge("Request entity too large: limit is 3145728")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > bodies.MAX_BODY_BYTES:
            raise errors.RequestEntityTooLarge("Request entity too large: limit is 3145728")
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(sandbox: Sandbox) -> Starlette:
    """The ASGI application serving every cluster of `sandbox` under `/clusters/<id>/`."""

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def cluster_endpoint(request: Request) -> Response:
        vc = sandbox.find(request.path_params["cid"])
        # Unknown clusters answer 401 like bad tokens, so ids cannot be probed without credentials.
        if vc is None or not pki.token_matches(_bearer(request), vc.record.token):
            return _as_response(error_response(errors.Unauthorized("Unauthorized")))
        if vc.record.phase != Phase.RUNNING:
            unavailable = errors.ApiError(
                f"the cluster is {vc.record.phase}; its API server is not available"
            )
            unavailable.code, unavailable.reason = 503, "ServiceUnavailable"
            return _as_response(error_response(unavailable))
        try:
            body = await _read_body(request)
        except errors.ApiError as e:
            return _as_response(error_response(e))
        parts = [p for p in request.path_params["rest"].split("/") if p]
        req = ApiRequest(
            method=request.method,
            parts=parts,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        result = await run_in_threadpool(vc.api.handle, req)
        if isinstance(result, WatchPlan):
            return StreamingResponse(_watch_stream(vc, result), media_type="application/json")
        return _as_response(result)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/clusters/{cid}", cluster_endpoint, methods=methods),
            Route("/clusters/{cid}/{rest:path}", cluster_endpoint, methods=methods),
        ]
    )


def _line(event_type: str, obj: dict) -> bytes:
    return (dumps({"type": event_type, "object": obj}) + "\n").encode()


async def _watch_stream(vc: VirtualCluster, plan: WatchPlan) -> AsyncIterator[bytes]:
    """Stream one watch: initial state or replay, then live events, until timeout or disconnect."""
    loop = asyncio.get_running_loop()
    t = plan.target
    watcher = Watcher(t.rt.key, t.namespace if t.rt.namespaced else None, loop)

    def matches(obj: dict | None) -> bool:
        return obj is not None and plan.label.matches(meta(obj).get("labels")) and plan.fields.matches(obj)

    def render(event_type: str, obj: dict) -> bytes:
        if plan.table_version and event_type != "BOOKMARK":
            obj = vc.api.table_row(t, obj, plan.table_version)
        return _line(event_type, obj)

    def subscribe() -> tuple[list[dict], list[WatchEvent], int]:
        with vc.store.lock:
            initial = []
            if plan.since is None and plan.send_initial:
                initial = [o for o in vc.store.list(t.rt.key, watcher.namespace) if matches(o)]
            backlog = vc.store.subscribe(watcher, plan.since)
            return initial, backlog, vc.store.rv

    def translate(event: WatchEvent) -> bytes | None:
        now_in, was_in = matches(event.obj) and event.type != "DELETED", matches(event.old)
        if event.type == "DELETED":
            return render("DELETED", event.obj) if matches(event.obj) else None
        if now_in and was_in:
            return render("MODIFIED", event.obj)
        if now_in:
            return render("ADDED", event.obj)
        if was_in:
            return render("DELETED", event.obj)
        return None

    try:
        initial, backlog, rv = await run_in_threadpool(subscribe)
    except errors.ApiError as e:
        yield _line("ERROR", e.status())
        return
    try:
        for obj in initial:
            yield render("ADDED", obj)
        if plan.bookmark_initial:
            yield _line(
                "BOOKMARK",
                {
                    "kind": t.rt.kind,
                    "apiVersion": t.rt.group_version,
                    "metadata": {"resourceVersion": str(rv), "annotations": {INITIAL_EVENTS_END: "true"}},
                },
            )
        for event in backlog:
            line = translate(event)
            if line:
                yield line
        deadline = loop.time() + plan.timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                event = await asyncio.wait_for(watcher.queue.get(), remaining)
            except TimeoutError:
                break
            if event is None:
                break
            line = translate(event)
            if line:
                yield line
    finally:
        vc.store.unsubscribe(watcher)


class ServerThread:
    """uvicorn serving an ASGI app (over TLS when given a certificate) from a background thread.

    The sandbox uses it for its API server; tests use it to serve kaas's Slack endpoint on loopback.
    """

    def __init__(
        self,
        app,
        *,
        host: str,
        port: int,
        certfile: Path | None = None,
        keyfile: Path | None = None,
        any_port_if_taken: bool = False,
    ):
        self._app = app
        self._any_port = any_port_if_taken
        self._host, self._port = host, port
        self._certfile, self._keyfile = certfile, keyfile
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def _bind(self) -> socket.socket:
        # proto must be IPPROTO_TCP, not the default 0: accepted sockets inherit it, and asyncio only turns
        # Nagle off (TCP_NODELAY) on sockets that say they are TCP. With Nagle on, a response's body waits
        # for the ACK of its headers, which the client delays by 40 ms: every request took 45 ms.
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError:
            if not self._port or not self._any_port:
                sock.close()
                raise
            log.warning("port %s is taken; serving on another one", self._port)
            sock.bind((self._host, 0))
        sock.listen(1024)
        return sock

    def start(self) -> int:
        """Start serving; returns the bound port once the server accepts connections."""
        sock = self._sock = self._bind()
        config = uvicorn.Config(
            self._app,
            ssl_certfile=str(self._certfile) if self._certfile else None,
            ssl_keyfile=str(self._keyfile) if self._keyfile else None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.01)
        return sock.getsockname()[1]

    def stop(self) -> None:
        if self._server is None:
            return
        server = self._server
        if server.servers:
            # Abort open connections before uvicorn shuts down: a graceful TLS close waits for the peer's
            # close_notify, which idle kubectl/keep-alive clients never send, and the loop would be closed
            # under the half-closed transports.
            def abort_connections() -> None:
                for connection in list(server.server_state.connections):
                    transport = getattr(connection, "transport", None)
                    if transport is not None:
                        transport.abort()

            server.servers[0].get_loop().call_soon_threadsafe(abort_connections)
        server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            # uvicorn leaves sockets it was handed open; the listening socket is ours to close.
            self._sock.close()
            self._sock = None
        self._server = None
