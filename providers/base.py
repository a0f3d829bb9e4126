"""The provider protocol: how kaas drives anything that can create and run Kubernetes clusters.

Long work is split into resumable steps. A `start_*` call returns a small JSON-serialisable *handle* that the
caller saves before doing anything else; `poll(handle)` reports progress from the handle alone. A process
that dies between two polls resumes by polling the saved handle, never by starting again. `start_create`
is also idempotent per `ClusterSpec.request_id`, for a crash between starting and saving the handle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ClusterSpec:
    """What a user asked for."""

    name: str
    node_count: int
    version: str
    machine_type: str | None = None
    request_id: str = ""
    """Idempotency key: starting the same request twice yields the same cluster."""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """Where a started operation stands."""

    done: bool
    percent: int
    step: str
    cluster_ref: str | None = None
    """The provider's identifier of the cluster, once known."""


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ready: bool
    version: str
    machine_type: str


@dataclass(frozen=True)
class ClusterDescription:
    """A provider's current view of one cluster."""

    ref: str
    name: str
    state: str
    """One of: provisioning, running, deleting, error."""
    version: str
    endpoint: str
    node_count: int
    machine_type: str
    nodes: tuple[NodeInfo, ...] = ()


@runtime_checkable
class Provider(Protocol):
    """One adapter per kind of provider (sandbox, manual, gke, aks, jenkins)."""

    kind: str

    def versions(self) -> list[str]:
        """Kubernetes minors a new cluster may run, oldest first."""
        ...

    def machine_types(self) -> list[str]: ...

    def start_create(self, spec: ClusterSpec) -> dict: ...

    def start_delete(self, ref: str, *, request_id: str | None = None) -> dict:
        """Begin deleting. `request_id` is the operation's: a retried call with the same id (after a timeout
        whose request the provider did receive) must not start a second deletion."""
        ...

    def start_scale(self, ref: str, node_count: int, *, request_id: str | None = None) -> dict:
        """Begin changing the node count; idempotent per `request_id` like `start_delete`."""
        ...

    def start_upgrade(self, ref: str, version: str) -> dict: ...

    def start_replace_node(self, ref: str, node: str) -> dict: ...

    def poll(self, handle: dict) -> Progress:
        """Progress of the operation a `start_*` call began."""
        ...

    def kubeconfig(self, ref: str) -> str:
        """Credentials for the cluster, as kubeconfig YAML (a secret: never log it)."""
        ...

    def describe(self, ref: str) -> ClusterDescription: ...

    def probe(self) -> None:
        """One cheap authenticated call proving the profile's endpoint and credentials work (at start)."""
        ...
