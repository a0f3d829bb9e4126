"""Garbage collector: owner references, cascading deletion and finalizers.

- Background: an object whose owners are all gone is deleted; owner references to vanished owners are
  dropped from objects that still have a live owner.
- Foreground: an object with a deletionTimestamp and the `foregroundDeletion` finalizer first has its
  dependents deleted (those with dependents of their own in the foreground too) and disappears once no
  dependent with `blockOwnerDeletion` is left.
- An object with a deletionTimestamp and no finalizers left is removed (e.g. after a client removed the
  last custom finalizer).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import TYPE_CHECKING

from providers.sandbox.controllers import common as c
from providers.sandbox.controllers.namespace import type_for_key
from providers.sandbox.resources import ResourceType
from providers.sandbox.store import rfc3339

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "garbagecollector"
INPUTS = {"*"}

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


def run(ctx: ControllerContext) -> None:
    store = ctx.store
    if not store.gc_pending:
        return  # nothing written since the last scan could orphan an object or finish a deletion
    store.gc_pending = False  # before any write of ours, which sets it again for the next round
    try:
        _collect(ctx)
    except BaseException:
        store.gc_pending = True  # a failed scan is tried again after the next write, as before
        raise


def _collect(ctx: ControllerContext) -> None:
    store = ctx.store
    owners: dict[str, str] = {}
    """uid → namespace of every object ("" for cluster-scoped ones)."""
    dependents: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    finishing: list[tuple[str, dict]] = []
    everything = list(store.all_objects())
    for rkey, obj in everything:
        uid = c.uid_of(obj)
        if uid:
            owners[uid] = c.ns_of(obj)
        for ref in c.meta(obj).get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("uid"):
                dependents[ref["uid"]].append((rkey, obj))
        if c.deleting(obj) and rkey != c.NAMESPACE.key:
            finishing.append((rkey, obj))
    if finishing:
        store.gc_pending = True  # they may wait for finalizers or dependents: look again after every write

    def alive(ref: dict, dependent_ns: str) -> bool:
        ns = owners.get(ref.get("uid", ""))
        return ns is not None and (ns == "" or ns == dependent_ns)

    for rkey, obj in everything:
        refs = [r for r in c.meta(obj).get("ownerReferences") or [] if isinstance(r, dict)]
        if not refs or c.deleting(obj):
            continue
        live = [r for r in refs if alive(r, c.ns_of(obj))]
        if len(live) == len(refs):
            continue
        rt = type_for_key(ctx, rkey, obj)
        if rt is None:
            continue
        if not live:
            c.remove(store, rt, c.ns_of(obj), c.name_of(obj))
        else:
            current = store.get(rkey, c.ns_of(obj), c.name_of(obj))
            if current is not None:
                new = copy.deepcopy(current)
                new["metadata"]["ownerReferences"] = live
                store.replace(rt, new)

    for rkey, obj in finishing:
        current = store.get(rkey, c.ns_of(obj), c.name_of(obj))
        if current is None:
            continue
        rt = type_for_key(ctx, rkey, current)
        if rt is None:
            continue
        finalizers = list(c.meta(current).get("finalizers") or [])
        if FOREGROUND in finalizers:
            _foreground(ctx, rt, current, dependents.get(c.uid_of(current), []), finalizers, dependents)
        elif ORPHAN in finalizers:
            _orphan(ctx, rt, current, dependents.get(c.uid_of(current), []), finalizers)
        elif not finalizers:
            c.remove(store, rt, c.ns_of(current), c.name_of(current))


def _foreground(
    ctx: ControllerContext,
    rt: ResourceType,
    owner: dict,
    deps: list[tuple[str, dict]],
    finalizers: list[str],
    index: dict[str, list[tuple[str, dict]]],
) -> None:
    store = ctx.store
    stamp = rfc3339(ctx.now())
    owner_uid = c.uid_of(owner)
    for rkey, dep in deps:
        current = store.get(rkey, c.ns_of(dep), c.name_of(dep))
        if current is None or c.deleting(current):
            continue
        dep_rt = type_for_key(ctx, rkey, current)
        if dep_rt is None:
            continue
        if index.get(c.uid_of(current)):
            new = copy.deepcopy(current)
            new["metadata"]["deletionTimestamp"] = stamp
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            fins = new["metadata"].setdefault("finalizers", [])
            if FOREGROUND not in fins:
                fins.append(FOREGROUND)
            store.replace(dep_rt, new)
        else:
            c.remove(store, dep_rt, c.ns_of(current), c.name_of(current))
    for rkey, dep in deps:
        current = store.get(rkey, c.ns_of(dep), c.name_of(dep))
        if current is not None and any(
            isinstance(r, dict) and r.get("uid") == owner_uid and r.get("blockOwnerDeletion")
            for r in c.meta(current).get("ownerReferences") or []
        ):
            return
    _finish(ctx, rt, owner, [f for f in finalizers if f != FOREGROUND])


def _orphan(
    ctx: ControllerContext, rt: ResourceType, owner: dict, deps: list[tuple[str, dict]], finalizers: list[str]
) -> None:
    store = ctx.store
    for rkey, dep in deps:
        current = store.get(rkey, c.ns_of(dep), c.name_of(dep))
        dep_rt = type_for_key(ctx, rkey, current) if current is not None else None
        if current is None or dep_rt is None:
            continue
        new = copy.deepcopy(current)
        new["metadata"]["ownerReferences"] = [
            r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != c.uid_of(owner)
        ]
        if not new["metadata"]["ownerReferences"]:
            del new["metadata"]["ownerReferences"]
        store.replace(dep_rt, new)
    _finish(ctx, rt, owner, [f for f in finalizers if f != ORPHAN])


def _finish(ctx: ControllerContext, rt: ResourceType, owner: dict, remaining: list[str]) -> None:
    if remaining:
        new = copy.deepcopy(owner)
        new["metadata"]["finalizers"] = remaining
        c.write(ctx.store, rt, owner, new)
    else:
        c.remove(ctx.store, rt, c.ns_of(owner), c.name_of(owner))
