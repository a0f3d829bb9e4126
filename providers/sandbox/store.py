"""The object store of one virtual cluster: objects by resource, resourceVersions, the watch event log.

Objects held by the store are never mutated in place: every write stores a new dict. Readers may therefore
hand stored dicts straight to the JSON encoder, and must `copy.deepcopy` one before changing it.

All reads and writes of a cluster happen under `ClusterStore.lock` (re-entrant). Writes are persisted to the
sandbox's `StateDB` before they return, and then published to watchers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from providers.sandbox import errors
from providers.sandbox.resources import BUILTIN_REGISTRY, Registry, ResourceType
from providers.sandbox.state import StateDB

EVENT_LOG_SIZE = 10_000
"""How many past events a watch can resume from before it is told its resourceVersion is too old (410)."""

CRD_KEY = "customresourcedefinitions.apiextensions.k8s.io"


def rfc3339(ts: float) -> str:
    """Seconds since the epoch as Kubernetes' `metav1.Time` (second precision, UTC, `Z`)."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> float | None:
    """Inverse of `rfc3339`; None for a missing or malformed value."""
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


@dataclass(frozen=True)
class WatchEvent:
    """One change in the store. `old` is the previous state for MODIFIED/DELETED (selector transitions)."""

    rv: int
    rkey: str
    type: str
    obj: dict
    old: dict | None = None


@dataclass(eq=False)
class Watcher:
    """A subscriber to one resource's events, delivering into an asyncio queue from any thread."""

    rkey: str
    namespace: str | None
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    closed: bool = False

    def offer(self, event: WatchEvent) -> None:
        if self.closed or event.rkey != self.rkey:
            return
        if self.namespace is not None and meta(event.obj).get("namespace") != self.namespace:
            return
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except RuntimeError:
            # The event loop is gone (server shutting down): nobody is listening any more.
            self.closed = True


def _gc_relevant(new: dict | None, old: dict | None) -> bool:
    """Whether writing `new` over `old` (None: created / removed) can give the garbage collector work."""
    if new is None:
        return True
    m = meta(new)
    if m.get("deletionTimestamp"):
        return True
    refs = m.get("ownerReferences")
    return bool(refs) if old is None else refs != meta(old).get("ownerReferences")


class ClusterStore:
    """Objects of one virtual cluster, persisted through `db`, observable through watchers."""

    def __init__(self, cluster_id: str, db: StateDB, *, clock: Callable[[], float]):
        self.cluster_id = cluster_id
        self.db = db
        self.clock = clock
        self.lock = threading.RLock()
        self.rv = 1
        self.dirty: set[str] = set()
        """Resource keys written since the controllers last ran."""
        self.gc_pending = True
        """Whether a write since the garbage collector last looked could give it work: a removal, an object
        with owner references created or its references changed, or a write of an object being deleted.
        Other writes cannot, so the collector skips its scan of every object (O(n) per write otherwise)."""
        self._objects: dict[str, dict[tuple[str, str], dict]] = {}
        self._log: deque[WatchEvent] = deque(maxlen=EVENT_LOG_SIZE)
        self._watchers: set[Watcher] = set()
        self.registry: Registry = BUILTIN_REGISTRY

    # -- loading -------------------------------------------------------------------------------------

    def load(self) -> None:
        """Fill the store from the database after a restart."""
        with self.lock:
            stored_rv = self.db.get_meta(f"rv:{self.cluster_id}")
            self.rv = int(stored_rv) if stored_rv else 1
            for rkey, obj in self.db.objects(self.cluster_id):
                m = meta(obj)
                self._objects.setdefault(rkey, {})[(m.get("namespace", ""), m["name"])] = obj
                self.rv = max(self.rv, int(m.get("resourceVersion", "0")))
            self._refresh_registry()

    # -- reads ---------------------------------------------------------------------------------------

    def get(self, rkey: str, namespace: str, name: str) -> dict | None:
        return self._objects.get(rkey, {}).get((namespace, name))

    def list(self, rkey: str, namespace: str | None = None) -> list[dict]:
        """Objects of one resource, optionally in one namespace, sorted by (namespace, name)."""
        bucket = self._objects.get(rkey, {})
        keys = sorted(k for k in bucket if namespace is None or k[0] == namespace)
        return [bucket[k] for k in keys]

    def count(self, rkey: str) -> int:
        return len(self._objects.get(rkey, {}))

    def resource_keys(self) -> list[str]:
        return [k for k, v in self._objects.items() if v]

    def rfc3339_now(self) -> str:
        return rfc3339(self.clock())

    # -- writes --------------------------------------------------------------------------------------

    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def create(self, rt: ResourceType, obj: dict) -> dict:
        """Store a new object, assigning uid, resourceVersion, creationTimestamp and generation."""
        m = dict(meta(obj))
        namespace = m.get("namespace", "") if rt.namespaced else ""
        if self.get(rt.key, namespace, m["name"]) is not None:
            raise errors.already_exists(rt.group, rt.plural, m["name"])
        rv = self._next_rv()
        m.update(
            uid=str(uuid.uuid4()),
            resourceVersion=str(rv),
            creationTimestamp=rfc3339(self.clock()),
        )
        m.setdefault("generation", 1)
        if not rt.namespaced:
            m.pop("namespace", None)
        stored = {"apiVersion": rt.group_version, "kind": rt.kind, **obj, "metadata": m}
        self._commit(rt.key, namespace, m["name"], stored, "ADDED", None, rv)
        return stored

    def replace(self, rt: ResourceType, obj: dict) -> dict:
        """Store a new state of an existing object (the caller has checked preconditions)."""
        m = dict(meta(obj))
        namespace = m.get("namespace", "") if rt.namespaced else ""
        old = self.get(rt.key, namespace, m["name"])
        if old is None:
            raise errors.not_found(rt.group, rt.plural, m["name"])
        rv = self._next_rv()
        m["resourceVersion"] = str(rv)
        stored = {**obj, "metadata": m}
        self._commit(rt.key, namespace, m["name"], stored, "MODIFIED", old, rv)
        return stored

    def remove(self, rt: ResourceType, namespace: str, name: str) -> dict:
        """Delete an object now; watchers see it with a fresh resourceVersion."""
        old = self.get(rt.key, namespace, name)
        if old is None:
            raise errors.not_found(rt.group, rt.plural, name)
        rv = self._next_rv()
        gone = {**old, "metadata": {**meta(old), "resourceVersion": str(rv)}}
        self._commit(rt.key, namespace, name, None, "DELETED", gone, rv)
        return gone

    def _commit(
        self, rkey: str, namespace: str, name: str, new: dict | None, kind: str, old: dict | None, rv: int
    ) -> None:
        with self.db.transaction():
            if new is None:
                self.db.delete_object(self.cluster_id, rkey, namespace, name)
            else:
                self.db.put_object(self.cluster_id, rkey, namespace, name, new)
            self.db.set_meta(f"rv:{self.cluster_id}", str(rv))
        if not self.gc_pending and _gc_relevant(new, old):
            self.gc_pending = True
        bucket = self._objects.setdefault(rkey, {})
        if new is None:
            bucket.pop((namespace, name), None)
        else:
            bucket[(namespace, name)] = new
        self.dirty.add(rkey)
        if rkey == CRD_KEY:
            self._refresh_registry()
        event = WatchEvent(rv, rkey, kind, new if new is not None else old, old)
        self._log.append(event)
        for watcher in list(self._watchers):
            watcher.offer(event)

    def _refresh_registry(self) -> None:
        self.registry = BUILTIN_REGISTRY.with_crds(self._objects.get(CRD_KEY, {}).values())

    # -- watching ------------------------------------------------------------------------------------

    def subscribe(self, watcher: Watcher, since: int | None) -> list[WatchEvent]:
        """Register `watcher`; return the logged events after resourceVersion `since` to replay first.

        Raises `Gone` when `since` is older than the event log remembers, which makes clients relist.
        """
        with self.lock:
            backlog: list[WatchEvent] = []
            if since is not None and since < self.rv:
                oldest = self._log[0].rv if self._log else self.rv + 1
                if since < oldest - 1:
                    raise errors.Gone(f"too old resource version: {since} ({oldest - 1})")
                backlog = [
                    e
                    for e in self._log
                    if e.rv > since
                    and e.rkey == watcher.rkey
                    and (watcher.namespace is None or meta(e.obj).get("namespace") == watcher.namespace)
                ]
            self._watchers.add(watcher)
            return backlog

    def unsubscribe(self, watcher: Watcher) -> None:
        with self.lock:
            watcher.closed = True
            self._watchers.discard(watcher)

    def close_watchers(self) -> None:
        """Close every watch (cluster deleted or server stopping)."""
        with self.lock:
            for watcher in self._watchers:
                watcher.closed = True
                watcher.loop.call_soon_threadsafe(watcher.queue.put_nowait, None)
            self._watchers.clear()

    def events_since(self, rv: int) -> list[WatchEvent] | None:
        """Every change after resourceVersion `rv`, oldest first; None when the log no longer reaches back."""
        with self.lock:
            if rv >= self.rv:
                return []
            if not self._log or self._log[0].rv > rv + 1:
                return None
            found = []
            for event in reversed(self._log):
                if event.rv <= rv:
                    break
                found.append(event)
            found.reverse()
            return found

    def drain_dirty(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        return dirty

    def all_objects(self) -> Iterable[tuple[str, dict]]:
        for rkey, bucket in self._objects.items():
            for obj in bucket.values():
                yield rkey, obj
