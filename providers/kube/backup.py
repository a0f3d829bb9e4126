"""Backups of a cluster's Kubernetes objects as a `.tar.gz` archive, and restores from one.

What goes in: every namespaced kind the cluster lets kaas list, get and create, plus the cluster-scoped
kinds a restore needs (CRDs, Namespaces, StorageClasses, statically provisioned PersistentVolumes,
ClusterRoles and their bindings, PriorityClasses, IngressClasses) and cluster-scoped custom resources
(a ClusterIssuer is as much the user's as an Issuer). What stays out: whatever the cluster or a controller
makes by itself (ReplicaSets of Deployments, Pods of controllers, Endpoints, Events, Leases, tokens, the
system namespaces, `system:` RBAC) since restoring it would fight the controllers that own it.

Each object is stored cleaned (`clean`): status and server-generated fields are removed, so that it can be
created again in any cluster. Volume *data* is never in the archive; `volume_guidance` says so in plain words.

Layout of the archive (written as a stream, so memory stays flat however many objects there are)::

    resources/<namespace or _cluster>/<group or core>/<Kind>/<name>.yaml   one object each
    kaas-backup.json                                                       the summary, written last

Reading (`read_archive`) never extracts anything to disk and refuses every archive it can't fully vouch for.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import tarfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

import yaml

from providers.kube.client import KubeClient, Resource
from providers.kube.errors import InvalidManifest, KubeError
from providers.kube.manifests import in_apply_order, is_crd, parse_manifests

# libyaml's emitter writes the same safe YAML about four times faster; PyYAML's own is the fallback.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

Progress = Callable[[str, int], None]

FORMAT = 1
"""Version of the archive layout; `read_archive` refuses versions it does not know."""
SUMMARY_NAME = "kaas-backup.json"
RESOURCES_DIR = "resources"
CLUSTER_DIR = "_cluster"
"""Directory of cluster-scoped objects; no namespace can be called this (namespaces can't contain `_`)."""
CORE_DIR = "core"
"""Directory of the core group (apiVersion `v1`); CRD groups need a dot, so none is called `core`."""
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 50_000
CRD_WAIT_SECONDS = 60.0

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
REQUIRED_VERBS = frozenset({"list", "get", "create"})
_RBAC = "rbac.authorization.k8s.io"
_CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
_NAMESPACE = ("", "Namespace")
CLUSTER_KINDS = frozenset(
    {
        _CRD,
        _NAMESPACE,
        ("storage.k8s.io", "StorageClass"),
        ("", "PersistentVolume"),
        (_RBAC, "ClusterRole"),
        (_RBAC, "ClusterRoleBinding"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("networking.k8s.io", "IngressClass"),
    }
)
"""Built-in cluster-scoped (group, kind)s a restore needs; other built-in cluster-scoped kinds stay out."""
EXCLUDED_KINDS = frozenset(
    {
        ("", "Event"),
        ("events.k8s.io", "Event"),
        ("", "Node"),
        ("coordination.k8s.io", "Lease"),
        ("", "Endpoints"),
        ("discovery.k8s.io", "EndpointSlice"),
        ("apps", "ControllerRevision"),
    }
)
"""Kinds that only record what the cluster is doing; controllers and kubelets recreate them."""
EXCLUDED_GROUPS = frozenset({"metrics.k8s.io"})

_GENERATED_METADATA = (
    "uid",
    "resourceVersion",
    "managedFields",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
)
_GENERATED_ANNOTATIONS = (
    # A copy of the whole object as last applied by kubectl: stale after a restore, and it doubles the size.
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
)
# Binding state the PV controller writes on claims; `volume.kubernetes.io/selected-node` would even pin the
# restored claim to a node that may not exist. The legacy storage-class annotation is the user's own choice.
_PVC_BINDING_PREFIXES = ("pv.kubernetes.io/", "volume.kubernetes.io/", "volume.beta.kubernetes.io/")
_PVC_KEPT_ANNOTATIONS = frozenset({"volume.beta.kubernetes.io/storage-class"})
_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
_JOB_GENERATED_LABELS = (
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
)
_POD_TEMPLATE_HASH = "pod-template-hash"

_HINT_ARCHIVE = "Use an archive made by `/kaas backup` (a .tar.gz with kaas-backup.json), unchanged."


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def _kind_of(obj: dict) -> tuple[str, str]:
    """(group, kind) of an object."""
    return _group(str(obj.get("apiVersion", ""))), str(obj.get("kind", ""))


def _meta(obj: dict) -> dict:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _dict_at(obj: dict, *path: str) -> dict | None:
    """The mapping at `path` inside `obj`, or None when any step is missing or not a mapping."""
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, dict) else None


# -- cleaning -------------------------------------------------------------------------------------------


def _restorable(obj: dict) -> bool:
    """Whether a live object belongs in a backup (see the module docstring for the reasons)."""
    key = _kind_of(obj)
    meta = _meta(obj)
    name, namespace = meta.get("name"), meta.get("namespace")
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    if key in EXCLUDED_KINDS or key[0] in EXCLUDED_GROUPS:
        return False
    if meta.get("ownerReferences"):
        # Made by a controller (ReplicaSets, their Pods, Jobs of CronJobs, ...), which will make it again.
        return False
    if namespace in SYSTEM_NAMESPACES or (key == _NAMESPACE and name in SYSTEM_NAMESPACES):
        return False
    if key == ("", "ConfigMap") and name == "kube-root-ca.crt":
        return False
    if key == ("", "ServiceAccount") and name == "default":
        return False
    if key == ("", "Secret") and obj.get("type") == "kubernetes.io/service-account-token":
        return False
    if key == ("", "Service") and namespace == "default" and name == "kubernetes":
        return False
    if key in ((_RBAC, "ClusterRole"), (_RBAC, "ClusterRoleBinding")) and (
        str(name).startswith("system:") or labels.get("kubernetes.io/bootstrapping") == "rbac-defaults"
    ):
        # The API server reconciles its bootstrap roles (system:*, and admin/edit/view/cluster-admin).
        return False
    if key == ("scheduling.k8s.io", "PriorityClass") and str(name).startswith("system-"):
        return False  # the `system-` prefix is reserved for the built-in priority classes
    # A dynamically provisioned volume is made again by its provisioner when the restored claim binds.
    return not (key == ("", "PersistentVolume") and _PROVISIONED_BY in (meta.get("annotations") or {}))


def _drop_labels(holder: dict | None, names: tuple[str, ...]) -> None:
    labels = holder.get("labels") if holder else None
    if isinstance(labels, dict):
        for name in names:
            labels.pop(name, None)
        if not labels:
            del holder["labels"]


def _clean_service(spec: dict) -> None:
    # Cluster IPs are allocated per cluster; "None" is not an address but the user's choice of headless.
    if spec.get("clusterIP") != "None":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    spec.pop("healthCheckNodePort", None)
    # nodePort values are kept: firewalls and external load balancers are often set up for that exact
    # port, and in a fresh cluster it is free. A clash fails that one Service, with the API server's words.


def _clean_pvc(obj: dict, spec: dict) -> None:
    # Without volumeName the claim binds afresh (a new volume, or a static PV pre-bound to it by claimRef).
    spec.pop("volumeName", None)
    annotations = _meta(obj).get("annotations")
    if isinstance(annotations, dict):
        for key in [k for k in annotations if k.startswith(_PVC_BINDING_PREFIXES)]:
            if key not in _PVC_KEPT_ANNOTATIONS:
                del annotations[key]


def _clean_pv(obj: dict, spec: dict) -> None:
    # A claimRef by namespace/name pre-binds the volume to the restored claim; the old claim's uid would not.
    claim_ref = spec.get("claimRef")
    if isinstance(claim_ref, dict):
        for key in ("uid", "resourceVersion"):
            claim_ref.pop(key, None)
    annotations = _meta(obj).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop("pv.kubernetes.io/bound-by-controller", None)


def _clean_job(spec: dict) -> None:
    # The selector and these labels hold the old Job's uid; the API server generates new ones and refuses
    # a selector it did not generate unless the user asked for a manual one.
    if spec.get("manualSelector") is True:
        return
    spec.pop("selector", None)
    _drop_labels(_dict_at(spec, "template", "metadata"), _JOB_GENERATED_LABELS)


def _clean_pod_template_hash(obj: dict, spec: dict) -> None:
    # The Deployment controller stamps this hash on what it makes; an orphaned ReplicaSet (or its template)
    # keeping it would be selected as if it were one of a Deployment's.
    _drop_labels(_meta(obj), (_POD_TEMPLATE_HASH,))
    _drop_labels(_dict_at(spec, "template", "metadata"), (_POD_TEMPLATE_HASH,))
    match_labels = _dict_at(spec, "selector", "matchLabels")
    if match_labels is not None:
        match_labels.pop(_POD_TEMPLATE_HASH, None)


def clean(obj: dict) -> dict | None:
    """A copy of a live object that can be created again in any cluster, or None if it must not be backed up.

    Removed: status, server-set metadata (uid, resourceVersion, managedFields, timestamps, ...), kubectl's
    last-applied annotation and other generated values: Service cluster IPs (except headless "None") and
    healthCheckNodePort, PVC volumeName and binding annotations, a PV claimRef's uid, a Pod's nodeName, a
    Job's generated selector and labels, `pod-template-hash` labels, the rules of aggregated ClusterRoles.
    """
    if not _restorable(obj):
        return None
    # apiVersion, kind and metadata lead, as people write them (list items get apiVersion and kind last).
    head = {key: obj[key] for key in ("apiVersion", "kind", "metadata") if key in obj}
    out = copy.deepcopy({**head, **{k: v for k, v in obj.items() if k not in head and k != "status"}})
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in _GENERATED_METADATA:
            meta.pop(key, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key in _GENERATED_ANNOTATIONS:
                annotations.pop(key, None)
    key = _kind_of(out)
    spec = out.get("spec") if isinstance(out.get("spec"), dict) else {}
    if key == ("", "Service"):
        _clean_service(spec)
    elif key == ("", "PersistentVolumeClaim"):
        _clean_pvc(out, spec)
    elif key == ("", "PersistentVolume"):
        _clean_pv(out, spec)
    elif key == ("", "Pod"):
        spec.pop("nodeName", None)  # set by the scheduler; the node names of another cluster differ
    elif key == ("batch", "Job"):
        _clean_job(spec)
    elif key == (_RBAC, "ClusterRole") and out.get("aggregationRule"):
        out.pop("rules", None)  # filled in by the aggregation controller from the selected roles
    _clean_pod_template_hash(out, spec)
    if isinstance(meta, dict) and meta.get("annotations") == {}:
        del meta["annotations"]
    return out


# -- summary --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PvcInfo:
    """A PersistentVolumeClaim in a backup: its definition is in the archive, its data is not."""

    namespace: str
    name: str
    storage_class: str | None
    size: str | None
    volume_name: str | None
    """The volume it was bound to when backed up (for finding that volume's snapshots)."""


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds; stored as `kaas-backup.json` in the archive and in the backups table."""

    format: int
    cluster: str
    created_at: str
    namespace: str | None
    """The namespace filter of the export; None for a whole-cluster backup."""
    object_count: int
    kinds: tuple[tuple[str, int], ...]
    namespaces: tuple[str, ...]
    pvcs: tuple[PvcInfo, ...]

    def to_dict(self) -> dict:
        """A JSON-ready mapping (`from_dict` reads it back)."""
        return {
            "format": self.format,
            "cluster": self.cluster,
            "created_at": self.created_at,
            "namespace": self.namespace,
            "object_count": self.object_count,
            "kinds": [[kind, count] for kind, count in self.kinds],
            "namespaces": list(self.namespaces),
            "pvcs": [
                {
                    "namespace": p.namespace,
                    "name": p.name,
                    "storage_class": p.storage_class,
                    "size": p.size,
                    "volume_name": p.volume_name,
                }
                for p in self.pvcs
            ],
        }

    @classmethod
    def from_dict(cls, data: object) -> BackupSummary:
        """The summary in `data`, checked field by field; InvalidManifest if anything is missing or wrong."""
        if not isinstance(data, dict):
            raise _bad_summary("it is not a JSON object")
        version = data.get("format")
        if not _is_int(version):
            raise _bad_summary("`format` must be a number")
        if version != FORMAT:
            raise InvalidManifest(
                f"this backup has format version {version}; this kaas reads version {FORMAT} only",
                hint="Restore it with the kaas version that made it, or a newer one.",
            )
        created_at = _field(data, "created_at", str)
        try:
            datetime.fromisoformat(created_at)
        except ValueError:
            raise _bad_summary("`created_at` is not an ISO 8601 time") from None
        object_count = _field(data, "object_count", int)
        if object_count < 0:
            raise _bad_summary("`object_count` is negative")
        kinds = _field(data, "kinds", list)
        if not all(
            isinstance(k, list) and len(k) == 2 and isinstance(k[0], str) and _is_int(k[1]) for k in kinds
        ):
            raise _bad_summary("`kinds` must be a list of [kind, count] pairs")
        namespaces = _field(data, "namespaces", list)
        if not all(isinstance(n, str) for n in namespaces):
            raise _bad_summary("`namespaces` must be a list of names")
        return cls(
            format=version,
            cluster=_field(data, "cluster", str),
            created_at=created_at,
            namespace=_field(data, "namespace", str, optional=True),
            object_count=object_count,
            kinds=tuple((k[0], k[1]) for k in kinds),
            namespaces=tuple(namespaces),
            pvcs=tuple(_pvc_info(p) for p in _field(data, "pvcs", list)),
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad_summary(problem: str) -> InvalidManifest:
    return InvalidManifest(f"not a kaas backup: {SUMMARY_NAME} is invalid ({problem})", hint=_HINT_ARCHIVE)


def _field(data: dict, name: str, kind: type, *, optional: bool = False):
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _bad_summary(f"`{name}` must be a {kind.__name__}" + (" or null" if optional else ""))
    return value


def _pvc_info(data: object) -> PvcInfo:
    if not isinstance(data, dict):
        raise _bad_summary("each of `pvcs` must be an object")
    return PvcInfo(
        namespace=_field(data, "namespace", str),
        name=_field(data, "name", str),
        storage_class=_field(data, "storage_class", str, optional=True),
        size=_field(data, "size", str, optional=True),
        volume_name=_field(data, "volume_name", str, optional=True),
    )


def volume_guidance(summary: BackupSummary) -> str:
    """Plain words on volume data: which claims the backup has, and that their contents are not in it."""
    if not summary.pvcs:
        return "This backup has no PersistentVolumeClaims, so there is no volume data it could miss."
    lines = [
        f"This backup has {len(summary.pvcs)} PersistentVolumeClaim(s). Their definitions are in it, "
        "but the data stored in their volumes is NOT:"
    ]
    for pvc in summary.pvcs:
        storage_class = pvc.storage_class or "the cluster's default storage class"
        size = pvc.size or "no size requested"
        lines.append(f"- {pvc.namespace}/{pvc.name}: {storage_class}, {size}")
    lines.append(
        "A restore creates these claims again, and they get new, empty volumes. To keep the data, protect "
        "the volumes themselves: take CSI VolumeSnapshots of these claims (if their storage driver supports "
        "snapshots) and restore claims from them, or use Velero with file-system backup, which copies the "
        "files inside the volumes."
    )
    return "\n".join(lines)


# -- export ---------------------------------------------------------------------------------------------


def _member_path(obj: dict) -> str:
    meta = _meta(obj)
    group = _group(str(obj["apiVersion"])) or CORE_DIR
    where = meta.get("namespace") or CLUSTER_DIR
    return f"{RESOURCES_DIR}/{where}/{group}/{obj['kind']}/{meta['name']}.yaml"


def _add_member(tar: tarfile.TarFile, path: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mtime = mtime
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _backup_resources(resources: list[Resource]) -> list[Resource]:
    """One resource per (group, kind), in its preferred version, that kaas may list, get and create."""
    seen: set[tuple[str, str]] = set()
    chosen = []
    for resource in resources:  # preferred versions come first
        key = (resource.group, resource.kind)
        if key in seen:
            continue
        seen.add(key)
        if key in EXCLUDED_KINDS or resource.group in EXCLUDED_GROUPS:
            continue
        if resource.verbs >= REQUIRED_VERBS:
            chosen.append(resource)
    return chosen


class _Writer:
    """Cleans objects and adds them to the archive, keeping only the counts the summary needs."""

    def __init__(self, tar: tarfile.TarFile, mtime: int):
        self.tar = tar
        self.mtime = mtime
        self.kinds: Counter[str] = Counter()
        self.group_kinds: set[tuple[str, str]] = set()
        self.namespaces: set[str] = set()
        self.pvcs: list[PvcInfo] = []

    def add(self, live: dict) -> None:
        obj = clean(live)
        if obj is None:
            return
        meta = _meta(obj)
        data = yaml.dump(obj, Dumper=_DUMPER, sort_keys=False, allow_unicode=True).encode("utf-8")
        _add_member(self.tar, _member_path(obj), data, self.mtime)
        key = _kind_of(obj)
        self.kinds[key[1]] += 1
        self.group_kinds.add(key)
        if meta.get("namespace"):
            self.namespaces.add(meta["namespace"])
        elif key == _NAMESPACE:
            self.namespaces.add(meta["name"])
        if key == ("", "PersistentVolumeClaim"):
            self.pvcs.append(_pvc_of(live))


def _pvc_of(pvc: dict) -> PvcInfo:
    meta, spec = _meta(pvc), pvc.get("spec") or {}
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    storage_class = spec.get("storageClassName") or (meta.get("annotations") or {}).get(
        "volume.beta.kubernetes.io/storage-class"
    )
    return PvcInfo(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        storage_class=storage_class,
        size=None if size is None else str(size),
        volume_name=spec.get("volumeName") or None,
    )


def _crd_names(crd: dict) -> tuple[str, str, str]:
    """(group, plural, kind) of the resource a CRD defines."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    return str(spec.get("group", "")), str(names.get("plural", "")), str(names.get("kind", ""))


def _crd_kind(crd: dict) -> tuple[str, str]:
    """(group, kind) of the objects a CRD defines."""
    group, _, kind = _crd_names(crd)
    return group, kind


def export(
    client: KubeClient,
    *,
    cluster: str,
    namespace: str | None,
    out: BinaryIO,
    created_at: datetime,
    on_progress: Progress | None = None,
) -> BackupSummary:
    """Stream a backup archive of the cluster (or of one namespace) to `out`; returns its summary.

    Objects are read page by page and written one at a time, so memory does not grow with the cluster.
    With `namespace`, the archive holds that namespace's objects, the Namespace itself and the CRDs of the
    custom resources found in it. Raises ClusterUnreachable when the API does not answer, KubeError when it
    refuses (or the namespace does not exist).
    """
    report = on_progress or _no_progress
    report("reading which kinds the cluster serves", 0)
    resources = _backup_resources(client.resources())
    by_key = {(r.group, r.kind): r for r in resources}
    if namespace is not None:
        _check_namespace(client, by_key, namespace)
    crd_resource = by_key.get(_CRD)
    mtime = int(created_at.timestamp())
    with tarfile.open(fileobj=out, mode="w|gz") as tar:
        writer = _Writer(tar, mtime)
        custom: set[tuple[str, str]] = set()
        if namespace is None and crd_resource is not None:
            # CRDs first: they tell which cluster-scoped kinds are custom resources (backed up too).
            report("reading CustomResourceDefinitions", 1)
            for crd in client.list(crd_resource):
                writer.add(crd)
                group, plural, _ = _crd_names(crd)
                custom.add((group, plural))
        steps = [r for r in resources if _wanted(r, namespace, custom)]
        for done, resource in enumerate(steps):
            report(f"reading {resource.plural}", 2 + 93 * done // max(len(steps), 1))
            for obj in client.list(resource, namespace if resource.namespaced else None):
                writer.add(obj)
        if namespace is not None:
            report("reading the namespace and its CustomResourceDefinitions", 96)
            namespace_obj = client.get(by_key[_NAMESPACE], namespace)
            if namespace_obj is not None:  # None only if it was deleted while being backed up
                writer.add({"apiVersion": "v1", "kind": "Namespace", **namespace_obj})
            if crd_resource is not None:
                for crd in client.list(crd_resource):
                    if _crd_kind(crd) in writer.group_kinds:
                        writer.add(crd)
        summary = BackupSummary(
            format=FORMAT,
            cluster=cluster,
            created_at=created_at.isoformat(),
            namespace=namespace,
            object_count=sum(writer.kinds.values()),
            kinds=tuple(sorted(writer.kinds.items())),
            namespaces=tuple(sorted(writer.namespaces)),
            pvcs=tuple(sorted(writer.pvcs, key=lambda p: (p.namespace, p.name))),
        )
        report("writing the summary", 99)
        _add_member(tar, SUMMARY_NAME, json.dumps(summary.to_dict(), indent=2).encode("utf-8"), mtime)
    report("backup complete", 100)
    return summary


def _no_progress(step: str, percent: int) -> None:
    """The progress callback used when the caller passes none."""


def _check_namespace(client: KubeClient, by_key: dict, namespace: str) -> None:
    if namespace in SYSTEM_NAMESPACES:
        raise KubeError(
            f"{namespace} belongs to the cluster itself and is not backed up", status=400, reason="BadRequest"
        )
    namespaces = by_key.get(_NAMESPACE)
    if namespaces is None or client.get(namespaces, namespace) is None:
        raise KubeError(
            f"namespace {namespace!r} does not exist in the cluster", status=404, reason="NotFound"
        )


def _wanted(resource: Resource, namespace: str | None, custom: set[tuple[str, str]]) -> bool:
    """Whether to list this resource in the main pass (CRDs, and a namespace's own Namespace, come apart)."""
    key = (resource.group, resource.kind)
    if key == _CRD:
        return False
    if resource.namespaced:
        return True
    if namespace is not None:
        return False
    return key in CLUSTER_KINDS or (resource.group, resource.plural) in custom


# -- reading --------------------------------------------------------------------------------------------


@dataclass
class BackupArchive:
    """A backup read back: its summary and its objects, in the order they are to be created."""

    summary: BackupSummary
    objects: list[dict]


class _TooLarge(Exception):
    """The decompressed archive went over its byte budget."""


class _Prefixed:
    """`stream` with the bytes already read from it put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._stream.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._stream.read(size)


class _Budget:
    """Reads a decompressed stream and counts every byte, header blocks included: never trusts tar headers."""

    CHUNK = 64 * 1024

    def __init__(self, stream: gzip.GzipFile, max_bytes: int):
        self._stream = stream
        self.left = max_bytes

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(self.CHUNK if size is None or size < 0 else size)
        self.left -= len(data)
        if self.left < 0:
            raise _TooLarge
        return data

    def drain(self) -> None:
        """Read to the end: the gzip trailer's checksum is verified only there."""
        while self.read(self.CHUNK):
            pass


def _refuse(problem: str, hint: str = _HINT_ARCHIVE) -> InvalidManifest:
    return InvalidManifest(problem, hint=hint)


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise _refuse(f"the backup archive has a file with an unsafe path: {name!r}")
    if member.issym() or member.islnk():
        link = "symbolic link" if member.issym() else "hard link"
        raise _refuse(f"the backup archive has a {link} ({name!r}); backups hold regular files only")
    if member.ischr() or member.isblk() or member.isfifo():
        raise _refuse(f"the backup archive has a device or pipe ({name!r}); backups hold regular files only")
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        raise _refuse(f"the backup archive has {name!r}, which is not a regular file")


def _object_of(path: str, data: bytes) -> dict:
    """The one object of a `resources/...` member, checked against the member's path."""
    parts = path.split("/")
    if len(parts) != 5 or parts[0] != RESOURCES_DIR or not parts[4].endswith(".yaml"):
        raise _refuse(f"not a kaas backup: it has an unexpected file {path!r}")
    manifests = parse_manifests(data, source=f"backup file {path}")
    if len(manifests) != 1:
        raise _refuse(f"backup file {path} holds {len(manifests)} objects; each file holds exactly one")
    manifest = manifests[0]
    expected = [
        RESOURCES_DIR,
        manifest.namespace or CLUSTER_DIR,
        _group(manifest.api_version) or CORE_DIR,
        manifest.kind,
        f"{manifest.name}.yaml",
    ]
    if parts != expected:
        where = f" in namespace {manifest.namespace}" if manifest.namespace else ""
        raise _refuse(
            f"backup file {path} holds {manifest.kind} {manifest.name}{where}, which belongs at "
            f"{'/'.join(expected)}: the archive was altered"
        )
    return manifest.obj


def _read_members(budget: _Budget, max_members: int) -> tuple[BackupSummary | None, list[dict]]:
    """The summary (if any) and the objects of the tar stream, each member checked before it is read."""
    summary: BackupSummary | None = None
    objects: list[dict] = []
    seen: set[str] = set()
    with tarfile.open(fileobj=budget, mode="r|") as tar:
        for count, member in enumerate(tar, start=1):
            if count > max_members:
                raise _refuse(f"the backup archive has more than {max_members:,} files")
            _check_member(member)
            if member.name in seen:
                raise _refuse(f"the backup archive has {member.name!r} twice")
            seen.add(member.name)
            if member.size > budget.left:  # refused now rather than after reading it
                raise _TooLarge
            data = tar.extractfile(member).read()
            if member.name == SUMMARY_NAME:
                summary = _summary_of(data)
            else:
                objects.append(_object_of(member.name, data))
    return summary, objects


def read_archive(
    stream: BinaryIO, *, max_bytes: int = MAX_ARCHIVE_BYTES, max_members: int = MAX_MEMBERS
) -> BackupArchive:
    """Read and check a backup archive in memory (nothing is extracted to disk).

    Refused with InvalidManifest: anything not a gzip-compressed tar, a corrupt or truncated archive, links,
    devices, directories and unsafe paths, more than `max_members` files or `max_bytes` once decompressed
    (counted while reading), a missing or invalid `kaas-backup.json`, an unknown format, and any file whose
    YAML is not one valid object stored under its own kind, namespace and name.
    """
    head = stream.read(2)
    if not head:
        raise _refuse("the backup file is empty")
    if head != b"\x1f\x8b":
        raise _refuse("not a kaas backup: the file is not gzip-compressed (a .tar.gz is expected)")
    with gzip.GzipFile(fileobj=_Prefixed(head, stream), mode="rb") as decompressed:
        budget = _Budget(decompressed, max_bytes)
        try:
            summary, objects = _read_members(budget, max_members)
            budget.drain()
        except _TooLarge:
            raise _refuse(
                f"the backup archive is larger than {max_bytes:,} bytes once decompressed",
                hint="Back up one namespace at a time to make smaller archives.",
            ) from None
        except EOFError:
            raise _refuse("the backup archive is truncated: it ends in the middle of its data") from None
        except (gzip.BadGzipFile, zlib.error) as e:
            raise _refuse(f"the backup archive is corrupt: its compressed data is damaged ({e})") from None
        except tarfile.TarError as e:
            problem = "truncated" if "unexpected end" in str(e) else "not a tar archive, or a damaged one"
            raise _refuse(f"the backup archive is {problem} ({e})") from None
    if summary is None:
        raise _refuse(f"not a kaas backup: it has no {SUMMARY_NAME}")
    if summary.object_count != len(objects):
        raise _refuse(
            f"the backup archive is incomplete: {SUMMARY_NAME} lists {summary.object_count} objects, "
            f"the archive has {len(objects)}"
        )
    return BackupArchive(summary=summary, objects=in_apply_order(objects))


def _summary_of(data: bytes) -> BackupSummary:
    try:
        parsed = json.loads(data)
    except ValueError:
        raise _bad_summary("it is not JSON") from None
    return BackupSummary.from_dict(parsed)


# -- restore --------------------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    """What a restore did to each object, named like `Deployment shop/web`."""

    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Objects that already existed (a restore without overwrite leaves them as they are)."""
    updated: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(object, the API server's message) of every object that could not be restored."""


def _ref(obj: dict) -> str:
    meta = _meta(obj)
    namespace = meta.get("namespace")
    return (
        f"{obj.get('kind')} {namespace}/{meta.get('name')}"
        if namespace
        else f"{obj.get('kind')} {meta.get('name')}"
    )


def _select(objects: list[dict], namespace: str | None) -> Iterator[dict]:
    """What a restore of `namespace` needs: its objects, the Namespace, the CRDs of its custom resources."""
    if namespace is None:
        yield from objects
        return
    kinds = {_kind_of(o) for o in objects if _in_namespace(o, namespace)}
    for obj in objects:
        if (
            _in_namespace(obj, namespace)
            or (_kind_of(obj) == _NAMESPACE and _meta(obj).get("name") == namespace)
            or (is_crd(obj) and _crd_kind(obj) in kinds)
        ):
            yield obj


def _in_namespace(obj: dict, namespace: str) -> bool:
    return _meta(obj).get("namespace") == namespace


def _for_restore(obj: dict) -> dict:
    """`obj` as it is created: a claim binds afresh even if the archive was edited to name a volume."""
    if _kind_of(obj) != ("", "PersistentVolumeClaim"):
        return obj
    obj = copy.deepcopy(obj)
    (obj.get("spec") or {}).pop("volumeName", None)
    return obj


def _restore_one(client: KubeClient, obj: dict, overwrite: bool, result: RestoreResult) -> bool:
    """Create (or with `overwrite`, apply) one object; records the outcome and says whether it is there."""
    ref = _ref(obj)
    try:
        if overwrite:
            resource = client.resource_of(obj)
            meta = _meta(obj)
            existed = client.get(
                resource, meta["name"], meta.get("namespace") if resource.namespaced else None
            )
            client.apply(obj, force=True)
            (result.created if existed is None else result.updated).append(ref)
        elif client.create(obj) is None:
            result.skipped.append(ref)
        else:
            result.created.append(ref)
    except KubeError as e:
        result.failed.append((ref, e.message))
        return False
    return True


def _established(crd: dict | None) -> bool:
    conditions = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _wait_for_crds(client: KubeClient, crds: list[dict], timeout: float, result: RestoreResult) -> None:
    """Poll until every CRD is Established and its kind is served; record those that never are."""
    crd_resource = client.resource_for("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    pending = {str(_meta(crd)["name"]): crd for crd in crds}
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        client.refresh_discovery()
        served = {(r.group, r.kind) for r in client.resources()}
        for name, crd in list(pending.items()):
            try:
                current = client.get(crd_resource, name)
            except KubeError as e:
                result.failed.append((f"CustomResourceDefinition {name}", e.message))
                del pending[name]
                continue
            if _crd_kind(crd) in served and _established(current):
                del pending[name]
        if not pending:
            return
        if time.monotonic() >= deadline:
            for name in pending:
                result.failed.append(
                    (
                        f"CustomResourceDefinition {name}",
                        f"not established within {timeout:g} s; its custom resources could not be restored",
                    )
                )
            return
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def restore(
    client: KubeClient,
    archive: BackupArchive,
    *,
    namespace: str | None = None,
    overwrite: bool = False,
    on_progress: Progress | None = None,
    crd_timeout: float = CRD_WAIT_SECONDS,
) -> RestoreResult:
    """Create the archive's objects in the cluster, in dependency order; returns what happened to each.

    CRDs go first, and the rest waits until they are established and served. Existing objects are skipped
    (so a restore can simply be run again), or with `overwrite` server-side applied over. With `namespace`,
    only that namespace's objects, the Namespace and the CRDs they need are restored (InvalidManifest if the
    backup has none). An object the API server refuses is recorded in `failed` and the restore goes on;
    ClusterUnreachable is raised, and running the restore again picks up where it stopped.
    """
    report = on_progress or _no_progress
    objects = [_for_restore(o) for o in _select(archive.objects, namespace)]
    if namespace is not None and not objects:
        raise InvalidManifest(
            f"this backup has nothing in namespace {namespace!r}",
            hint="Namespaces in it: " + (", ".join(archive.summary.namespaces) or "none") + ".",
        )
    crds = [o for o in objects if is_crd(o)]
    rest = [o for o in objects if not is_crd(o)]
    result = RestoreResult()
    total = max(len(objects), 1)
    last = -1

    def progress(done: int, step: str) -> None:
        nonlocal last
        percent = 100 * done // total
        if percent != last:  # one report per percent, not one per object of a big backup
            last = percent
            report(step, percent)

    ready = []
    for done, crd in enumerate(crds):
        progress(done, "restoring CustomResourceDefinitions")
        if _restore_one(client, crd, overwrite, result):
            ready.append(crd)
    if ready:
        report(
            f"waiting for {len(ready)} CustomResourceDefinition(s) to be established",
            100 * len(crds) // total,
        )
        _wait_for_crds(client, ready, crd_timeout, result)
    for done, obj in enumerate(rest, start=len(crds)):
        progress(done, f"restoring {obj.get('kind')} objects")
        _restore_one(client, obj, overwrite, result)
    report("restore complete", 100)
    return result
