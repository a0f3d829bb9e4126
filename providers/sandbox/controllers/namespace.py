"""Namespace controller: per-namespace defaults, and the cascade that empties a terminating namespace.

Every active namespace gets the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap (the
service-account and root-CA publisher controllers). A namespace with a deletionTimestamp has every
namespaced object in it deleted — built-in kinds and custom resources alike — and then disappears.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from providers.sandbox.controllers import common as c
from providers.sandbox.resources import ResourceType

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "namespace"
INPUTS = {c.NAMESPACE.key, c.SERVICEACCOUNT.key, c.CONFIGMAP.key}

ROOT_CA = "kube-root-ca.crt"
ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such "
    "as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions "
    "of Kubernetes clusters."
)


def run(ctx: ControllerContext) -> None:
    for ns in ctx.store.list(c.NAMESPACE.key):
        if c.deleting(ns):
            _terminate(ctx, ns)
        else:
            _populate(ctx, c.name_of(ns))


def _populate(ctx: ControllerContext, namespace: str) -> None:
    store = ctx.store
    if store.get(c.SERVICEACCOUNT.key, namespace, "default") is None:
        c.create(
            store,
            c.SERVICEACCOUNT,
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": namespace},
            },
        )
    current = store.get(c.CONFIGMAP.key, namespace, ROOT_CA)
    if current is None:
        c.create(
            store,
            c.CONFIGMAP,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": ROOT_CA,
                    "namespace": namespace,
                    "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION},
                },
                "data": {"ca.crt": ctx.ca_pem},
            },
        )
    elif (current.get("data") or {}).get("ca.crt") != ctx.ca_pem:
        new = copy.deepcopy(current)
        new["data"] = {**(current.get("data") or {}), "ca.crt": ctx.ca_pem}
        store.replace(c.CONFIGMAP, new)


def type_for_key(ctx: ControllerContext, rkey: str, sample: dict) -> ResourceType | None:
    """The resource type stored under `rkey`, also for custom resources whose CRD is already gone."""
    for rt in ctx.store.registry:
        if rt.key == rkey:
            return rt
    plural, _, group = rkey.partition(".")
    api_version = sample.get("apiVersion", "")
    version = api_version.rpartition("/")[2] or "v1"
    if not plural or not sample.get("kind"):
        return None
    return ResourceType(
        group=group, version=version, kind=sample["kind"], plural=plural, namespaced=bool(c.ns_of(sample))
    )


def _terminate(ctx: ControllerContext, ns: dict) -> None:
    store = ctx.store
    namespace = c.name_of(ns)
    held = False
    for rkey in store.resource_keys():
        if rkey == c.NAMESPACE.key:
            continue
        objs = store.list(rkey, namespace)
        if not objs:
            continue
        rt = type_for_key(ctx, rkey, objs[0])
        if rt is None or not rt.namespaced:
            continue
        for obj in objs:
            if c.meta(obj).get("finalizers"):
                # Finalized objects linger (marked for deletion) until their finalizers are removed.
                held = True
                if not c.deleting(obj):
                    marked = copy.deepcopy(obj)
                    marked["metadata"]["deletionTimestamp"] = store.rfc3339_now()
                    store.replace(rt, marked)
            else:
                c.remove(store, rt, namespace, c.name_of(obj))
    if not held:
        c.remove(store, c.NAMESPACE, "", namespace)
