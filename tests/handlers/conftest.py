"""A real core (database, encryption, sandbox provider, runner) per test, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.runtime import Core, build_core
from bot.settings import Settings
from handlers.actors import Actor
from handlers.replies import OperationUpdate

ALICE = Actor(user_id="UALICE", team_id="T1")
BOB = Actor(user_id="UBOB", team_id="T1")
ADMIN = Actor(user_id="UADMIN", team_id="T1", is_admin=True)
MALLORY = Actor(user_id="UALICE", team_id="T2", is_admin=True)
"""Same user id and admin, but another workspace: must see nothing of T1."""


class RecordingSink:
    """Collects progress updates; tests wait for an operation's final update."""

    def __init__(self) -> None:
        self.updates: list[OperationUpdate] = []
        self._cond = threading.Condition()

    def publish(self, update: OperationUpdate) -> None:
        with self._cond:
            self.updates.append(update)
            self._cond.notify_all()

    def wait_for(self, match, timeout: float = 60) -> OperationUpdate:
        """The first update `match` accepts, waiting for it if need be."""
        with self._cond:
            ok = self._cond.wait_for(lambda: any(match(u) for u in self.updates), timeout=timeout)
            assert ok, f"no matching update; updates: {self.updates}"
            return next(u for u in self.updates if match(u))

    def final(self, operation_id: int, timeout: float = 60) -> OperationUpdate:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: any(u.final and u.operation_id == operation_id for u in self.updates), timeout=timeout
            )
            assert ok, f"operation {operation_id} did not finish; updates: {self.updates}"
            return next(u for u in self.updates if u.final and u.operation_id == operation_id)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


class FileServer:
    """A loopback web server of manifests: `files[path] = bytes`; it is on kaas's fetch allow-list."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = FileServer()
    yield server
    server.close()


@pytest.fixture
def core(tmp_path: Path, database_url: str, sink: RecordingSink, file_server: FileServer) -> Iterator[Core]:
    settings = Settings(
        home=tmp_path / "home",
        database_url=database_url,
        fetch_allow_hosts=file_server.host,
        sandbox_create_seconds=0.2,
        sandbox_delete_seconds=0.1,
        poll_seconds=0.05,
        lease_seconds=5,
    )
    core = build_core(settings, sink=sink)
    core.start()
    yield core
    core.close()
