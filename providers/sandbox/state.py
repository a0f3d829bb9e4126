"""Durable state of a sandbox: one SQLite file under the state directory.

Every object write goes through here before the API answers, so a process killed at any moment restarts with
everything it acknowledged. The file is created mode 0600 because it holds the CA key and cluster tokens.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clusters (id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    cluster_id TEXT NOT NULL,
    rkey TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (cluster_id, rkey, namespace, name)
);
"""


def dumps(obj: object) -> str:
    """Compact JSON, the form both the database and the wire use."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class StateDB:
    """A thread-safe SQLite store of sandbox metadata, cluster records and API objects."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.touch(mode=0o600)
        os.chmod(path, 0o600)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit; nested uses join the outer transaction."""
        with self._lock:
            if self._depth == 0:
                self._conn.execute("BEGIN")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._conn.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def save_cluster(self, cluster_id: str, record: dict) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO clusters (id, record) VALUES (?, ?)", (cluster_id, dumps(record))
            )

    def drop_cluster(self, cluster_id: str) -> None:
        with self.transaction():
            self._conn.execute("DELETE FROM clusters WHERE id = ?", (cluster_id,))
            self._conn.execute("DELETE FROM objects WHERE cluster_id = ?", (cluster_id,))

    def clusters(self) -> list[tuple[str, dict]]:
        with self._lock:
            rows = self._conn.execute("SELECT id, record FROM clusters").fetchall()
        return [(cid, json.loads(rec)) for cid, rec in rows]

    def put_object(self, cluster_id: str, rkey: str, namespace: str, name: str, body: dict) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO objects (cluster_id, rkey, namespace, name, body) VALUES (?,?,?,?,?)",
                (cluster_id, rkey, namespace, name, dumps(body)),
            )

    def delete_object(self, cluster_id: str, rkey: str, namespace: str, name: str) -> None:
        with self.transaction():
            self._conn.execute(
                "DELETE FROM objects WHERE cluster_id = ? AND rkey = ? AND namespace = ? AND name = ?",
                (cluster_id, rkey, namespace, name),
            )

    def objects(self, cluster_id: str) -> Iterator[tuple[str, dict]]:
        """Every stored (resource key, object) of one cluster."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT rkey, body FROM objects WHERE cluster_id = ?", (cluster_id,)
            ).fetchall()
        for rkey, body in rows:
            yield rkey, json.loads(body)
