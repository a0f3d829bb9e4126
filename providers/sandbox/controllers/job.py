"""Job controller: runs `parallelism` pods until `completions` succeed or `backoffLimit` failures pile up.

The selector and the job-name/controller-uid labels are generated from the Job's uid on its first pass (the
API server does it at admission in a real cluster, before the uid would be known here). The kubelet runs the
pods to completion (see kubelet.py); this controller counts them and sets Complete (with SuccessCriteriaMet
on 1.31+) or Failed. It also honours suspend, activeDeadlineSeconds and ttlSecondsAfterFinished, and
Indexed completion mode (`<job>-<index>-<5 chars>` pods with the completion-index annotation).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from providers.sandbox.controllers import common as c
from providers.sandbox.store import parse_time, rfc3339

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "job"
INPUTS = {c.JOB.key, c.POD.key, c.NAMESPACE.key}

UID_LABEL = "batch.kubernetes.io/controller-uid"
NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_UID_LABEL = "controller-uid"
LEGACY_NAME_LABEL = "job-name"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"


def run(ctx: ControllerContext) -> None:
    store = ctx.store
    owned = c.by_controller(store.list(c.POD.key))
    for job in store.list(c.JOB.key):
        if c.deleting(job):
            continue
        job = _ensure_selector(ctx, job)
        _sync(ctx, job, owned.get(c.uid_of(job), []))


def _ensure_selector(ctx: ControllerContext, job: dict) -> dict:
    spec = c.spec_of(job)
    if spec.get("manualSelector") is True:
        return job
    uid, name = c.uid_of(job), c.name_of(job)
    new = copy.deepcopy(job)
    nspec = new.setdefault("spec", {})
    if not nspec.get("selector"):
        nspec["selector"] = {"matchLabels": {UID_LABEL: uid}}
    tmeta = nspec.setdefault("template", {}).setdefault("metadata", {})
    labels = dict(tmeta.get("labels") or {})
    for key, value in (
        (UID_LABEL, uid),
        (NAME_LABEL, name),
        (LEGACY_UID_LABEL, uid),
        (LEGACY_NAME_LABEL, name),
    ):
        labels.setdefault(key, value)
    tmeta["labels"] = labels
    return c.write(ctx.store, c.JOB, job, new)


def _parse_indexes(text: str) -> set[int]:
    out: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            out.update(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            continue
    return out


def _format_indexes(indexes: set[int]) -> str:
    parts = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _index(pod: dict) -> int | None:
    value = (c.meta(pod).get("annotations") or {}).get(INDEX_ANNOTATION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _finished(job: dict) -> str | None:
    for type_ in ("Complete", "Failed"):
        if c.condition_status(job, type_) == "True":
            return type_
    return None


def _cond(type_: str, status: str, stamp: str, reason: str = "", message: str = "") -> dict:
    out = {"type": type_, "status": status, "lastProbeTime": stamp, "lastTransitionTime": stamp}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def _sync(ctx: ControllerContext, job: dict, pods: list[dict]) -> None:
    store = ctx.store
    now = ctx.now()
    stamp = rfc3339(now)
    spec = c.spec_of(job)
    old_status = c.status_of(job)
    status = copy.deepcopy(old_status)
    indexed = spec.get("completionMode") == "Indexed"
    completions = spec.get("completions")
    completions = c.int_field(completions) if completions is not None else None
    parallelism = c.int_field(spec.get("parallelism"), 1)
    backoff_limit = c.int_field(spec.get("backoffLimit"), 6)

    active = [p for p in pods if c.pod_active(p)]
    succeeded_pods = [p for p in pods if c.pod_phase(p) == "Succeeded"]
    failed = sum(1 for p in pods if c.pod_phase(p) == "Failed")
    completed_indexes = _parse_indexes(old_status.get("completedIndexes", ""))
    if indexed:
        completed_indexes |= {
            i for p in succeeded_pods if (i := _index(p)) is not None and i < (completions or 0)
        }
        succeeded = len(completed_indexes)
    else:
        succeeded = len(succeeded_pods)
    # Pods the kubelet finished are kept (as `kubectl get pods` shows Completed); counts never go down.
    succeeded = max(succeeded, c.int_field(old_status.get("succeeded")))
    failed = max(failed, c.int_field(old_status.get("failed")))

    finished = _finished(job)
    conditions = [x for x in old_status.get("conditions") or [] if isinstance(x, dict)]
    if finished is None:
        failure: tuple[str, str] | None = None
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(old_status.get("startTime"))
        if failed > backoff_limit:
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif isinstance(deadline, int) and started is not None and not spec.get("suspend"):
            if started + deadline <= now:
                failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
            else:
                ctx.wake(NAME, started + deadline)
        complete = (completions is not None and succeeded >= completions) or (
            completions is None and succeeded > 0 and not active
        )
        if failure is not None:
            for pod in active:
                c.remove_obj(store, c.POD, pod)
            active = []
            if ctx.at_least(1, 31):
                conditions = c.put_condition(conditions, _cond("FailureTarget", "True", stamp, *failure))
            conditions = c.put_condition(conditions, _cond("Failed", "True", stamp, *failure))
            finished = "Failed"
        elif complete:
            for pod in active:
                c.remove_obj(store, c.POD, pod)
            active = []
            if ctx.at_least(1, 31):
                conditions = c.put_condition(
                    conditions,
                    _cond(
                        "SuccessCriteriaMet",
                        "True",
                        stamp,
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                    ),
                )
            conditions = c.put_condition(conditions, _cond("Complete", "True", stamp))
            status["completionTime"] = stamp
            finished = "Complete"
        elif spec.get("suspend"):
            for pod in active:
                c.remove_obj(store, c.POD, pod)
            active = []
            if c.condition_status(job, "Suspended") != "True":
                conditions = c.put_condition(
                    conditions, _cond("Suspended", "True", stamp, "JobSuspended", "Job suspended")
                )
                status.pop("startTime", None)
        else:
            if c.condition_status(job, "Suspended") == "True":
                conditions = c.put_condition(
                    conditions, _cond("Suspended", "False", stamp, "JobResumed", "Job resumed")
                )
            status.setdefault("startTime", stamp)
            active = _scale(ctx, job, active, succeeded, completions, parallelism, indexed, completed_indexes)
            if isinstance(deadline, int) and "startTime" not in old_status:
                ctx.wake(NAME, now + deadline)
    elif active:
        for pod in active:
            c.remove_obj(store, c.POD, pod)
        active = []

    if finished is not None:
        _ttl(ctx, job, old_status, now)
    status["active"] = len(active)
    status["succeeded"] = succeeded
    status["failed"] = failed
    status["ready"] = sum(1 for p in active if c.pod_ready(p))
    status["terminating"] = 0
    status["uncountedTerminatedPods"] = {}
    if indexed:
        status["completedIndexes"] = _format_indexes(completed_indexes)
    for key in ("active", "succeeded", "failed"):
        if not status[key]:
            del status[key]
    if conditions:
        status["conditions"] = conditions
    c.write_status(store, c.JOB, job, status)


def _scale(
    ctx: ControllerContext,
    job: dict,
    active: list[dict],
    succeeded: int,
    completions: int | None,
    parallelism: int,
    indexed: bool,
    completed: set[int],
) -> list[dict]:
    store = ctx.store
    remaining = parallelism if completions is None else max(min(parallelism, completions - succeeded), 0)
    if len(active) > remaining:
        doomed = sorted(active, key=lambda p: (c.pod_ready(p), c.meta(p).get("creationTimestamp", "")))
        for pod in doomed[: len(active) - remaining]:
            c.remove_obj(store, c.POD, pod)
        return doomed[len(active) - remaining :]
    template = c.spec_of(job).get("template") or {}
    running_indexes = {_index(p) for p in active}
    free_indexes = [i for i in range(completions or 0) if i not in completed and i not in running_indexes]
    for _ in range(remaining - len(active)):
        labels, annotations = {}, {}
        base = f"{c.name_of(job)}-"
        if indexed:
            if not free_indexes:
                break
            index = free_indexes.pop(0)
            labels[INDEX_LABEL] = str(index)
            annotations[INDEX_ANNOTATION] = str(index)
            base = f"{c.name_of(job)}-{index}-"
        pod = c.pod_from_template(
            ctx,
            template,
            name=c.generated_name(store, c.POD.key, c.ns_of(job), base),
            namespace=c.ns_of(job),
            owner=job,
            extra_labels=labels,
            extra_annotations=annotations,
            generate_name=base[: c.MAX_GENERATED_BASE],
            spec_overrides={"hostname": base.rstrip("-")} if indexed else None,
        )
        created = c.create(store, c.POD, pod)
        if created is None:
            break
        active.append(created)
    return active


def _ttl(ctx: ControllerContext, job: dict, status: dict, now: float) -> None:
    ttl = c.spec_of(job).get("ttlSecondsAfterFinished")
    if not isinstance(ttl, int) or isinstance(ttl, bool):
        return
    finished_at = parse_time(status.get("completionTime"))
    if finished_at is None:
        cond = c.condition(job, "Failed") or c.condition(job, "Complete") or {}
        finished_at = parse_time(cond.get("lastTransitionTime"))
    if finished_at is None:
        ctx.wake(NAME, now + ttl)
        return
    if finished_at + ttl <= now:
        c.remove_obj(ctx.store, c.JOB, job)  # the garbage collector then removes its pods
    else:
        ctx.wake(NAME, finished_at + ttl)
