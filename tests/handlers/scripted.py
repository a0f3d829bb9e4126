"""A provider whose every answer the test decides, for runner tests on a fake clock.

It keeps the clusters it "runs" in memory, finishes an operation after `polls_to_finish` polls, can refuse
scales or hold a poll until the test opens a gate, and counts how many copies of one poll run at once.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from providers.base import ClusterDescription, ClusterSpec, Progress
from providers.errors import ClusterNotFound, PermanentProviderError

KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n"


@dataclass
class _Job:
    kind: str
    ref: str
    nodes: int = 0
    polls: int = 0


@dataclass
class ScriptedProvider:
    kind: str = "scripted"
    polls_to_finish: int = 2
    refuse_scale: str | None = None
    gate: threading.Event | None = None
    """While set to an unset Event, polls wait on it: a step that takes as long as the test wants."""
    clusters: dict[str, int] = field(default_factory=dict)
    """ref -> node count of every cluster the provider runs (or is still creating)."""
    describe_state: str | None = None
    """What `describe` reports; by default running once a create finished, provisioning before."""
    calls: list[tuple[str, str]] = field(default_factory=list)
    overlaps: int = 0
    """How often a poll of an operation started while another poll of it was still running."""

    def __post_init__(self) -> None:
        self._jobs: dict[str, _Job] = {}
        self._by_request: dict[str, str] = {}
        self._in_poll: Counter[str] = Counter()
        self._lock = threading.Lock()

    def versions(self) -> list[str]:
        return ["1.32"]

    def machine_types(self) -> list[str]:
        return []

    def probe(self) -> None:
        pass

    def _start(self, kind: str, ref: str, request_id: str | None, nodes: int = 0) -> dict:
        with self._lock:
            key = f"{kind}:{request_id}"
            if request_id and key in self._by_request:
                return {"job": self._by_request[key]}
            job_id = f"job-{len(self._jobs) + 1}"
            self._jobs[job_id] = _Job(kind, ref, nodes)
            if request_id:
                self._by_request[key] = job_id
            self.calls.append((kind, ref))
        return {"job": job_id}

    def start_create(self, spec: ClusterSpec) -> dict:
        ref = f"ref-{spec.name}"
        with self._lock:
            self.clusters.setdefault(ref, spec.node_count)
        return self._start("create", ref, spec.request_id, spec.node_count)

    def start_delete(self, ref: str, *, request_id: str | None = None) -> dict:
        if ref not in self.clusters:
            raise ClusterNotFound(f"cluster {ref} not found")
        return self._start("delete", ref, request_id)

    def start_scale(self, ref: str, node_count: int, *, request_id: str | None = None) -> dict:
        if self.refuse_scale:
            raise PermanentProviderError(self.refuse_scale)
        return self._start("scale", ref, request_id, node_count)

    def poll(self, handle: dict) -> Progress:
        job_id = handle["job"]
        with self._lock:
            self._in_poll[job_id] += 1
            if self._in_poll[job_id] > 1:
                self.overlaps += 1
        try:
            if self.gate is not None:
                self.gate.wait(timeout=30)
            with self._lock:
                job = self._jobs[job_id]
                job.polls += 1
                done = job.polls >= self.polls_to_finish
                if done and job.kind == "delete":
                    self.clusters.pop(job.ref, None)
                elif done and job.kind == "scale":
                    self.clusters[job.ref] = job.nodes
            return Progress(
                done=done, percent=100 if done else 50, step=f"{job.kind} {job.polls}", cluster_ref=job.ref
            )
        finally:
            with self._lock:
                self._in_poll[job_id] -= 1

    def kubeconfig(self, ref: str) -> str:
        return KUBECONFIG

    def describe(self, ref: str) -> ClusterDescription:
        if ref not in self.clusters:
            raise ClusterNotFound(f"cluster {ref} not found")
        with self._lock:
            creating = any(
                j.kind == "create" and j.ref == ref and j.polls < self.polls_to_finish
                for j in self._jobs.values()
            )
        return ClusterDescription(
            ref=ref,
            name=ref,
            state=self.describe_state or ("provisioning" if creating else "running"),
            version="1.32",
            endpoint=f"https://127.0.0.1/{ref}",
            node_count=self.clusters[ref],
            machine_type="small",
        )
