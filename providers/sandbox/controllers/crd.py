"""CRD controller: accepts names, establishes CRDs, and removes the custom resources of deleted ones."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from providers.sandbox.controllers import common as c
from providers.sandbox.controllers.namespace import type_for_key
from providers.sandbox.store import rfc3339

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "crd"
INPUTS = {c.CRD.key}


def run(ctx: ControllerContext) -> None:
    store = ctx.store
    stamp = rfc3339(ctx.now())
    for crd in store.list(c.CRD.key):
        if not c.deleting(crd):
            _establish(ctx, crd, stamp)
    served = {rt.key for rt in store.registry}
    for rkey in store.resource_keys():
        if rkey in served:
            continue
        # A resource without a type: its CRD was deleted, and custom resources go with it.
        for obj in store.list(rkey):
            rt = type_for_key(ctx, rkey, obj)
            if rt is not None:
                c.remove(store, rt, c.ns_of(obj), c.name_of(obj))


def _establish(ctx: ControllerContext, crd: dict, stamp: str) -> None:
    spec = c.spec_of(crd)
    names = copy.deepcopy(spec.get("names") or {})
    if isinstance(names.get("kind"), str):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", f"{names['kind']}List")
    status = copy.deepcopy(c.status_of(crd))
    conditions = [x for x in status.get("conditions") or [] if isinstance(x, dict)]
    for cond in (
        {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "message": "no conflicts found",
            "lastTransitionTime": stamp,
        },
        {
            "type": "Established",
            "status": "True",
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
            "lastTransitionTime": stamp,
        },
    ):
        conditions = c.put_condition(conditions, cond)
    storage = [v.get("name") for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("storage")]
    stored = list(status.get("storedVersions") or [])
    for version in storage:
        if version and version not in stored:
            stored.append(version)
    status.update(acceptedNames=names, conditions=conditions, storedVersions=stored)
    c.write_status(ctx.store, c.CRD, crd, status)
