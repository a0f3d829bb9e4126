"""Deployment controller: one ReplicaSet per pod template, rolled out by RollingUpdate or Recreate.

The ReplicaSet of a template is `<deployment>-<pod-template-hash>`. A rolling update scales the new
ReplicaSet up within maxSurge and the old ones down within maxUnavailable, one step per pass, so each pass
waits for the pods of the previous step to become available — as `kubectl rollout status` expects to see.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from providers.sandbox.controllers import common as c
from providers.sandbox.store import parse_time, rfc3339

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "deployment"
INPUTS = {c.DEPLOYMENT.key, c.REPLICASET.key, c.NAMESPACE.key}

REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
_NOT_COPIED = {
    REVISION,
    DESIRED,
    MAX_REPLICAS,
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision-history",
}


def run(ctx: ControllerContext) -> None:
    store = ctx.store
    owned = c.by_controller(store.list(c.REPLICASET.key))
    for d in store.list(c.DEPLOYMENT.key):
        if c.deleting(d) and "foregroundDeletion" in (c.meta(d).get("finalizers") or []):
            continue
        _sync(ctx, d, owned.get(c.uid_of(d), []))


def _replicas(obj: dict) -> int:
    return c.int_field(c.spec_of(obj).get("replicas"), 1)


def _revision(rs: dict) -> int:
    try:
        return int((c.meta(rs).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _strip_hash(template: dict) -> dict:
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return t


def _limits(d: dict) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas; Recreate has neither."""
    spec = c.spec_of(d)
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    replicas = _replicas(d)
    surge = c.resolve_int_or_percent(rolling.get("maxSurge"), replicas, round_up=True)
    unavailable = c.resolve_int_or_percent(rolling.get("maxUnavailable"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


class _Pass:
    """The state of one deployment during one controller pass."""

    def __init__(self, ctx: ControllerContext, d: dict, rss: list[dict]):
        self.ctx = ctx
        self.store = ctx.store
        self.d = d
        self.template = c.spec_of(d).get("template") or {}
        self.hash = c.template_hash(self.template)
        self.rss = sorted(rss, key=lambda r: (c.meta(r).get("creationTimestamp", ""), c.name_of(r)))
        self.new_rs: dict | None = None
        for rs in self.rss:
            if _strip_hash(c.spec_of(rs).get("template") or {}) == _strip_hash(self.template):
                self.new_rs = rs
                break
        self.created = False
        self.found_old = False

    @property
    def old(self) -> list[dict]:
        return [r for r in self.rss if self.new_rs is None or c.uid_of(r) != c.uid_of(self.new_rs)]

    def _refresh(self, rs: dict) -> dict:
        self.rss = [rs if c.uid_of(r) == c.uid_of(rs) else r for r in self.rss]
        if self.new_rs is not None and c.uid_of(self.new_rs) == c.uid_of(rs):
            self.new_rs = rs
        return rs

    def scale(self, rs: dict, replicas: int) -> dict:
        surge, _ = _limits(self.d)
        new = copy.deepcopy(rs)
        new.setdefault("spec", {})["replicas"] = replicas
        annotations = new["metadata"].setdefault("annotations", {})
        annotations[DESIRED] = str(_replicas(self.d))
        annotations[MAX_REPLICAS] = str(_replicas(self.d) + surge)
        if new == rs:
            return rs
        if c.spec_of(new) != c.spec_of(rs):
            new["metadata"]["generation"] = int(c.meta(rs).get("generation", 1)) + 1
        return self._refresh(self.store.replace(c.REPLICASET, new))

    def ensure_new(self, initial: int) -> dict | None:
        """Find or create the ReplicaSet of the current template, with the next revision number."""
        max_old = max((_revision(r) for r in self.old), default=0)
        if self.new_rs is not None:
            rs = self.new_rs
            wanted_revision = _revision(rs) if _revision(rs) > max_old else max_old + 1
            new = copy.deepcopy(rs)
            annotations = new["metadata"].setdefault("annotations", {})
            annotations.update(self._copied_annotations())
            annotations[REVISION] = str(wanted_revision)
            if new != rs:
                if _revision(rs) <= max_old:
                    self.found_old = True
                rs = self._refresh(self.store.replace(c.REPLICASET, new))
            return rs
        surge, _ = _limits(self.d)
        template = copy.deepcopy(self.template)
        tmeta = template.setdefault("metadata", {})
        labels = dict(tmeta.get("labels") or {})
        labels[HASH_LABEL] = self.hash
        tmeta["labels"] = labels
        selector = copy.deepcopy(c.spec_of(self.d).get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = self.hash
        annotations = self._copied_annotations()
        annotations.update(
            {
                DESIRED: str(_replicas(self.d)),
                MAX_REPLICAS: str(_replicas(self.d) + surge),
                REVISION: str(max_old + 1),
            }
        )
        spec = c.spec_of(self.d)
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{c.name_of(self.d)}-{self.hash}",
                "namespace": c.ns_of(self.d),
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [c.owner_ref(self.d)],
            },
            "spec": {
                "replicas": initial,
                "minReadySeconds": c.int_field(spec.get("minReadySeconds")),
                "selector": selector,
                "template": template,
            },
        }
        if not rs["spec"]["minReadySeconds"]:
            del rs["spec"]["minReadySeconds"]
        created = c.create(self.store, c.REPLICASET, rs)
        if created is None:
            return None
        self.created = True
        self.rss.append(created)
        self.new_rs = created
        return created

    def _copied_annotations(self) -> dict[str, str]:
        return {k: v for k, v in (c.meta(self.d).get("annotations") or {}).items() if k not in _NOT_COPIED}


def _sync(ctx: ControllerContext, d: dict, rss: list[dict]) -> None:
    spec = c.spec_of(d)
    selector = spec.get("selector")
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not c.selector_matches(selector, template_labels):
        return  # invalid: the API would have rejected it; nothing sensible to do
    p = _Pass(ctx, d, rss)
    if spec.get("paused"):
        _sync_paused(p)
    elif (spec.get("strategy") or {}).get("type") == "Recreate":
        _recreate(p)
    else:
        _rolling(p)
    _cleanup(p)
    _status(p)


def _sync_paused(p: _Pass) -> None:
    """Paused: no rollout, but a scale change still reaches the active ReplicaSet."""
    active = [r for r in p.rss if c.int_field(c.spec_of(r).get("replicas")) > 0]
    target = p.new_rs if p.new_rs is not None else (active[-1] if active else None)
    if target is None:
        return
    if len(active) <= 1 and c.int_field(c.spec_of(target).get("replicas")) != _replicas(p.d):
        p.scale(target, _replicas(p.d))


def _new_rs_replicas(p: _Pass) -> int:
    replicas = _replicas(p.d)
    current = c.int_field(c.spec_of(p.new_rs).get("replicas")) if p.new_rs is not None else 0
    surge, _ = _limits(p.d)
    total = sum(c.int_field(c.spec_of(r).get("replicas")) for r in p.rss)
    max_total = replicas + surge
    if total >= max_total:
        return current
    return current + max(0, min(max_total - total, replicas - current))


def _rolling(p: _Pass) -> None:
    if p.new_rs is None:
        if p.ensure_new(_new_rs_replicas(p)) is None:
            return
    else:
        p.ensure_new(0)
    new_rs = p.new_rs
    assert new_rs is not None
    replicas = _replicas(p.d)
    current = c.int_field(c.spec_of(new_rs).get("replicas"))
    if current > replicas:
        p.scale(new_rs, replicas)
        return
    if current < replicas:
        wanted = _new_rs_replicas(p)
        if wanted != current:
            p.scale(new_rs, wanted)
            return
    _scale_down_old(p)


def _scale_down_old(p: _Pass) -> None:
    new_rs = p.new_rs
    assert new_rs is not None
    old = [r for r in p.old if c.int_field(c.spec_of(r).get("replicas")) > 0]
    if not old:
        return
    replicas = _replicas(p.d)
    _, max_unavailable = _limits(p.d)
    min_available = replicas - max_unavailable
    all_pods = sum(c.int_field(c.spec_of(r).get("replicas")) for r in p.rss)
    new_unavailable = c.int_field(c.spec_of(new_rs).get("replicas")) - c.int_field(
        c.status_of(new_rs).get("availableReplicas")
    )
    budget = all_pods - min_available - new_unavailable
    if budget <= 0:
        return
    # First drop old replicas that are not available anyway: removing them costs no availability.
    cleaned = 0
    for rs in old:
        if cleaned >= budget:
            break
        want = c.int_field(c.spec_of(rs).get("replicas"))
        unhealthy = want - c.int_field(c.status_of(rs).get("availableReplicas"))
        if unhealthy <= 0:
            continue
        drop = min(budget - cleaned, unhealthy)
        p.scale(rs, want - drop)
        cleaned += drop
    available = sum(c.int_field(c.status_of(r).get("availableReplicas")) for r in p.rss)
    allowed = available - min_available
    done = 0
    for rs in [r for r in p.old if c.int_field(c.spec_of(r).get("replicas")) > 0]:
        if done >= allowed:
            break
        want = c.int_field(c.spec_of(rs).get("replicas"))
        drop = min(want, allowed - done)
        p.scale(rs, want - drop)
        done += drop


def _recreate(p: _Pass) -> None:
    scaled = False
    for rs in p.old:
        if c.int_field(c.spec_of(rs).get("replicas")) != 0:
            p.scale(rs, 0)
            scaled = True
    if scaled:
        return
    if any(c.int_field(c.status_of(rs).get("replicas")) > 0 for rs in p.old):
        return  # wait until every old pod is gone
    if p.new_rs is None:
        if p.ensure_new(_replicas(p.d)) is None:
            return
    else:
        p.ensure_new(0)
    assert p.new_rs is not None
    if c.int_field(c.spec_of(p.new_rs).get("replicas")) != _replicas(p.d):
        p.scale(p.new_rs, _replicas(p.d))


def _cleanup(p: _Pass) -> None:
    limit = c.spec_of(p.d).get("revisionHistoryLimit")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        return
    cleanable = [
        r
        for r in p.old
        if c.int_field(c.spec_of(r).get("replicas")) == 0
        and c.int_field(c.status_of(r).get("replicas")) == 0
        and not c.deleting(r)
        and c.int_field(c.status_of(r).get("observedGeneration")) >= int(c.meta(r).get("generation", 1))
    ]
    excess = len(cleanable) - limit
    if excess <= 0:
        return
    for rs in sorted(cleanable, key=_revision)[:excess]:
        c.remove_obj(p.store, c.REPLICASET, rs)
        p.rss = [r for r in p.rss if c.uid_of(r) != c.uid_of(rs)]


def _status(p: _Pass) -> None:
    d = p.d
    now = p.ctx.now()
    stamp = rfc3339(now)
    spec = c.spec_of(d)
    replicas = _replicas(d)
    old_status = c.status_of(d)
    total_spec = sum(c.int_field(c.spec_of(r).get("replicas")) for r in p.rss)
    actual = sum(c.int_field(c.status_of(r).get("replicas")) for r in p.rss)
    updated = c.int_field(c.status_of(p.new_rs).get("replicas")) if p.new_rs is not None else 0
    ready = sum(c.int_field(c.status_of(r).get("readyReplicas")) for r in p.rss)
    available = sum(c.int_field(c.status_of(r).get("availableReplicas")) for r in p.rss)
    status: dict = {"observedGeneration": int(c.meta(d).get("generation", 1))}
    for key, value in (
        ("replicas", actual),
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        ("unavailableReplicas", max(total_spec - available, 0)),
    ):
        if value:
            status[key] = value
    if "collisionCount" in old_status:
        status["collisionCount"] = old_status["collisionCount"]

    conditions = [dict(x) for x in old_status.get("conditions") or [] if isinstance(x, dict)]
    _, max_unavailable = _limits(d)
    if available >= replicas - max_unavailable:
        avail = _cond(
            "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", stamp
        )
    else:
        avail = _cond(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            stamp,
        )
    conditions = _set(conditions, avail)

    rs_name = c.name_of(p.new_rs) if p.new_rs is not None else ""
    progressing = c.condition({"status": {"conditions": conditions}}, "Progressing")
    deadline = spec.get("progressDeadlineSeconds")
    if not isinstance(deadline, int) or isinstance(deadline, bool):
        conditions = [x for x in conditions if x.get("type") != "Progressing"]
    elif spec.get("paused"):
        if not progressing or progressing.get("reason") != "DeploymentPaused":
            conditions = _set(
                conditions, _cond("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", stamp)
            )
    else:
        was_paused = progressing is not None and progressing.get("reason") == "DeploymentPaused"
        complete = (
            updated == replicas
            and actual == replicas
            and available == replicas
            and c.int_field(c.spec_of(p.new_rs).get("replicas") if p.new_rs else 0) == replicas
            and not any(c.int_field(c.spec_of(r).get("replicas")) for r in p.old)
        )
        old_old = c.int_field(old_status.get("replicas")) - c.int_field(old_status.get("updatedReplicas"))
        moved = (
            updated > c.int_field(old_status.get("updatedReplicas"))
            or actual - updated < old_old
            or ready > c.int_field(old_status.get("readyReplicas"))
            or available > c.int_field(old_status.get("availableReplicas"))
        )
        if was_paused:
            conditions = _set(
                conditions,
                _cond("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", stamp),
            )
        elif complete and p.new_rs is not None:
            conditions = _progress(
                conditions,
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                stamp,
            )
        elif p.created:
            conditions = _progress(
                conditions, "True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"', stamp
            )
        elif p.found_old:
            conditions = _progress(
                conditions, "True", "FoundNewReplicaSet", f'Found new replica set "{rs_name}"', stamp
            )
        elif moved and p.new_rs is not None:
            conditions = _progress(
                conditions,
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
                stamp,
                touch=True,
            )
        elif (
            progressing is not None
            and progressing.get("reason") not in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded")
            and p.new_rs is not None
        ):
            last = parse_time(progressing.get("lastUpdateTime")) or now
            if last + deadline <= now:
                conditions = _progress(
                    conditions,
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                    stamp,
                )
            else:
                p.ctx.wake(NAME, last + deadline)
        elif progressing is None and p.new_rs is not None:
            conditions = _progress(
                conditions, "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.', stamp
            )
    order = {"Available": 0, "Progressing": 1}
    conditions.sort(key=lambda x: order.get(x.get("type", ""), 2))
    if conditions:
        status["conditions"] = conditions
    new = {**d, "status": status}
    if p.new_rs is not None:
        revision = str(_revision(p.new_rs))
        annotations = c.meta(d).get("annotations") or {}
        if annotations.get(REVISION) != revision:
            new["metadata"] = {**c.meta(d), "annotations": {**annotations, REVISION: revision}}
    c.write(p.store, c.DEPLOYMENT, d, new)


def _cond(type_: str, status: str, reason: str, message: str, stamp: str) -> dict:
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def _set(conditions: list[dict], new: dict) -> list[dict]:
    """Set a condition; an identical status+reason+message keeps both timestamps (no write)."""
    for i, old in enumerate(conditions):
        if old.get("type") != new["type"]:
            continue
        if all(old.get(k) == new[k] for k in ("status", "reason", "message")):
            return conditions
        if old.get("status") == new["status"]:
            new = {**new, "lastTransitionTime": old.get("lastTransitionTime", new["lastTransitionTime"])}
        out = list(conditions)
        out[i] = new
        return out
    return [*conditions, new]


def _progress(
    conditions: list[dict], status: str, reason: str, message: str, stamp: str, *, touch: bool = False
) -> list[dict]:
    """The Progressing condition; `touch` refreshes lastUpdateTime even when nothing else changed."""
    new = _cond("Progressing", status, reason, message, stamp)
    if not touch:
        return _set(conditions, new)
    for i, old in enumerate(conditions):
        if old.get("type") == "Progressing":
            if old.get("status") == status:
                new["lastTransitionTime"] = old.get("lastTransitionTime", stamp)
            out = list(conditions)
            out[i] = new
            return out
    return [*conditions, new]
