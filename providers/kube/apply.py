"""Applying a set of objects to a cluster in dependency order, and removing them again.

Order matters: CRDs first (then waiting until their kinds are served), namespaces next, then everything in
`manifests.in_apply_order`. Before anything but CRDs and namespaces is written, every object is checked
with a server-side dry run, so a manifest with one bad object changes nothing beyond the namespace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from providers.kube.client import KubeClient
from providers.kube.errors import KubeError, UnknownKind
from providers.kube.manifests import in_apply_order, is_crd, is_namespace

Progress = Callable[[str, int], None]
CRD_WAIT_SECONDS = 60.0


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Which object: enough to find it again and to name it to a person."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    @classmethod
    def of(cls, obj: dict) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            str(obj.get("apiVersion", "")),
            str(obj.get("kind", "")),
            str(meta.get("name", "")),
            meta.get("namespace"),
        )

    def to_dict(self) -> dict:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ObjectRef:
        return cls(str(data["apiVersion"]), str(data["kind"]), str(data["name"]), data.get("namespace"))

    def __str__(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        return f"{self.kind} {self.name}{where}"


def _describe_failure(ref: ObjectRef, error: KubeError) -> KubeError:
    kind = type(error) if isinstance(error, UnknownKind) else KubeError
    return kind(f"{ref}: {error.message}", status=error.status, reason=error.reason)


def wait_until_served(
    client: KubeClient,
    crds: Iterable[dict],
    *,
    timeout: float = CRD_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait until every CRD is Established and its kind appears in discovery."""
    pending = list(crds)
    deadline = time.monotonic() + timeout
    crd_resource = client.resource_for("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    while pending:
        client.refresh_discovery()
        still = []
        for crd in pending:
            current = client.get(crd_resource, crd["metadata"]["name"]) or {}
            conditions = (current.get("status") or {}).get("conditions") or []
            established = any(
                c.get("type") == "Established" and c.get("status") == "True" for c in conditions
            )
            spec = crd.get("spec") or {}
            versions = [v.get("name") for v in spec.get("versions") or [] if v.get("served", True)]
            kind = (spec.get("names") or {}).get("kind", "")
            served = established and all(
                _served(client, f"{spec.get('group')}/{version}", kind) for version in versions
            )
            if not served:
                still.append(crd)
        pending = still
        if pending and time.monotonic() > deadline:
            names = ", ".join(c["metadata"]["name"] for c in pending)
            raise KubeError(f"CustomResourceDefinitions were not served within {timeout:.0f} s: {names}")
        if pending:
            sleep(0.2)


def _served(client: KubeClient, api_version: str, kind: str) -> bool:
    group, _, version = api_version.rpartition("/")
    return any(r.kind == kind and r.group == group and r.version == version for r in client.resources())


def apply_objects(
    client: KubeClient, objects: list[dict], *, on_progress: Progress | None = None
) -> list[ObjectRef]:
    """Server-side apply `objects` in dependency order; the refs of what was applied, in that order.

    Kinds that only a CRD in the same set defines are accepted; any other kind the cluster does not serve
    stops the apply before anything is written.
    """
    report = on_progress or (lambda step, percent: None)
    ordered = in_apply_order(objects)
    crds = [o for o in ordered if is_crd(o)]
    defined = {
        ((c.get("spec") or {}).get("group"), ((c.get("spec") or {}).get("names") or {}).get("kind"))
        for c in crds
    }
    for obj in ordered:
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        if obj in crds or (group, obj.get("kind")) in defined:
            continue
        try:
            client.resource_of(obj)
        except KubeError as e:
            raise _describe_failure(ObjectRef.of(obj), e) from None
    applied: list[ObjectRef] = []
    total = len(ordered)

    def apply_one(obj: dict, *, dry_run: bool = False) -> None:
        ref = ObjectRef.of(obj)
        try:
            client.apply(obj, dry_run=dry_run)
        except KubeError as e:
            raise _describe_failure(ref, e) from None
        if not dry_run:
            applied.append(ref)
            report(f"applied {ref}", 5 + int(60 * len(applied) / max(total, 1)))

    for crd in crds:
        apply_one(crd)
    if crds:
        report(f"waiting for {len(crds)} CustomResourceDefinition(s) to be served", 10)
        wait_until_served(client, crds)
    rest = [o for o in ordered if not is_crd(o)]
    for namespace in (o for o in rest if is_namespace(o)):
        apply_one(namespace)
    others = [o for o in rest if not is_namespace(o)]
    for obj in others:
        apply_one(obj, dry_run=True)
    for obj in others:
        apply_one(obj)
    return applied


def delete_objects(
    client: KubeClient, refs: Iterable[ObjectRef], *, on_progress: Progress | None = None
) -> list[ObjectRef]:
    """Delete `refs` in reverse dependency order (workloads before their config, CRDs last).

    Objects already gone are fine; kinds no longer served are skipped (their CRD went first).
    """
    report = on_progress or (lambda step, percent: None)
    as_objects = [
        {"apiVersion": r.api_version, "kind": r.kind, "metadata": {"name": r.name, "namespace": r.namespace}}
        for r in refs
    ]
    ordered = list(reversed(in_apply_order(as_objects)))
    deleted: list[ObjectRef] = []
    for index, obj in enumerate(ordered, start=1):
        ref = ObjectRef.of(obj)
        try:
            resource = client.resource_of(obj)
        except UnknownKind:
            continue
        try:
            if client.delete(resource, ref.name, ref.namespace if resource.namespaced else None):
                deleted.append(ref)
        except KubeError as e:
            raise _describe_failure(ref, e) from None
        report(f"deleted {ref}", 10 + int(80 * index / max(len(ordered), 1)))
    return deleted
