"""Block Kit for apps and backups: the app list, the backup list, and the deploy form with its submission.

Same safety rules as bot/views.py (escaped values, Slack's limits, ≤ 50 blocks), with its helpers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bot import grammar, text
from bot.views import (
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    MAX_TEXT_INPUT,
    _code,
    _context,
    _field,
    _input,
    _message,
    _modal,
    _mrkdwn,
    _name_error,
    _plain,
    _section,
    _submitted,
    _text_input,
    _value,
)
from handlers.replies import AppList, AppRow, BackupList, BackupRow

T = TypeVar("T")
DEPLOY_CALLBACK = "deploy_app"
MAX_ROWS = 40
"""Rows per list message: a header, one section per row and a context line stay under 50 blocks."""


def _readiness(row: AppRow) -> str:
    if row.status != "ready":
        return {"failed": ":x:", "deploying": ":hourglass_flowing_sand:", "removing": ":wastebasket:"}.get(
            row.status, ":grey_question:"
        ) + f" {_value(row.status)}"
    if row.ready is None:
        return ":grey_question: unknown"
    return ":white_check_mark: ready" if row.ready else ":warning: not ready"


def _app_section(row: AppRow, now: dt.datetime) -> dict:
    name = row.app + (f"@{row.version}" if row.version else "")
    fields = [
        _field("Status", _readiness(row)),
        _field("Namespace", _code(row.namespace)),
        _field("Source", f"{_value(row.kind)}: {_value(row.source)}"),
        _field("Objects", str(row.objects)),
        _field("Updated", text.age(row.updated_at, now) + " ago"),
    ]
    section = {"type": "section", "text": _mrkdwn(_code(name), MAX_SECTION_TEXT), "fields": fields}
    return section


def app_list(reply: AppList, now: dt.datetime) -> dict:
    """`/kaas apps CLUSTER`: one section per app version, problems in a context line under it."""
    header = f"Apps on {reply.cluster}"
    blocks: list[dict] = [{"type": "header", "text": _plain(header, MAX_HEADER_TEXT)}]
    if not reply.rows:
        blocks.append(_section(f"Nothing deployed by kaas on {_code(reply.cluster)} yet."))
    budget = 48 - len(blocks)
    for row in reply.rows:
        needed = 2 if row.detail else 1
        if budget - needed < 1:
            break
        blocks.append(_app_section(row, now))
        if row.detail:
            blocks.append(_context(_value(row.detail, 1500)))
        budget -= needed
    shown = sum(1 for b in blocks if b.get("type") == "section" and "fields" in b)
    if shown < len(reply.rows):
        blocks.append(_context(f"… and {len(reply.rows) - shown} more; the shell shows them all."))
    if not reply.reachable:
        blocks.append(_context(":warning: The cluster did not answer, so readiness is unknown."))
    return _message(f"{len(reply.rows)} app versions on {reply.cluster}", blocks)


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def backup_kinds(row: BackupRow, limit: int = 6) -> str:
    """The biggest kinds of a backup, e.g. `12 ConfigMap, 5 Deployment, … (+3 kinds)`."""
    top = sorted(row.kinds, key=lambda kc: (-kc[1], kc[0]))
    shown = ", ".join(f"{count} {kind}" for kind, count in top[:limit])
    return shown + (f", … (+{len(top) - limit} kinds)" if len(top) > limit else "")


def _backup_section(row: BackupRow, now: dt.datetime) -> dict:
    fields = [
        _field("Taken", text.age(row.created_at, now) + " ago"),
        _field("Size", _size(row.size_bytes)),
        _field("Objects", str(row.object_count)),
        _field("Scope", _code(row.namespace) if row.namespace else "whole cluster"),
        _field("Contents", _value(backup_kinds(row)) or "—"),
        _field("Volumes", f"{row.pvcs} PVCs (data not included)" if row.pvcs else "no PVCs"),
    ]
    return {"type": "section", "text": _mrkdwn(_code(row.name), MAX_SECTION_TEXT), "fields": fields}


def backup_list(reply: BackupList, now: dt.datetime) -> dict:
    """`/kaas backups CLUSTER`: newest first, with the restore command to copy."""
    blocks: list[dict] = [{"type": "header", "text": _plain(f"Backups of {reply.cluster}", MAX_HEADER_TEXT)}]
    if not reply.rows:
        blocks.append(
            _section(f"No backups of {_code(reply.cluster)} yet; `/kaas backup {reply.cluster}` takes one.")
        )
    blocks.extend(_backup_section(row, now) for row in reply.rows[:MAX_ROWS])
    if reply.rows:
        blocks.append(
            _context(f"Restore one with `/kaas restore {reply.cluster} NAME` (add `--overwrite` to replace).")
        )
    return _message(f"{len(reply.rows)} backups of {reply.cluster}", blocks)


# --- the deploy form --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployInput:
    cluster: str
    app: str
    version: str | None
    namespace: str | None
    manifest: str = field(repr=False)


def deploy_modal(*, private_metadata: str, cluster: str = "", app: str = "") -> dict:
    """The deploy form: cluster, APP[@VERSION], optional namespace and the pasted manifest."""
    blocks = [
        _input(
            "cluster",
            "Cluster",
            _text_input(max_length=grammar.MAX_NAME_CHARS, placeholder="my-cluster", initial=cluster),
        ),
        _input(
            "app",
            "App and version",
            _text_input(max_length=120, placeholder="web@v1", initial=app),
            hint="Each version gets its own namespace (web-v1), so versions run side by side.",
        ),
        _input(
            "namespace",
            "Namespace",
            _text_input(max_length=63, placeholder="default: APP-VERSION"),
            optional=True,
        ),
        _input(
            "manifest",
            "Manifest (YAML)",
            _text_input(
                max_length=MAX_TEXT_INPUT,
                placeholder="apiVersion: apps/v1\nkind: Deployment…",
                multiline=True,
            ),
            hint=(
                f"Slack takes up to {MAX_TEXT_INPUT} characters here; for a bigger manifest share the file "
                "and run `/kaas deploy CLUSTER APP@VERSION FILE_ID`, or give a URL."
            ),
        ),
    ]
    return _modal(
        DEPLOY_CALLBACK, "Deploy an app", blocks, submit="Deploy", private_metadata=private_metadata
    )


def _checked(convert: Callable[[str], T], value: str) -> tuple[T | None, str | None]:
    """(value, None) when the grammar accepts it, else (None, its message)."""
    try:
        return convert(value), None
    except grammar._Invalid as e:  # the grammar's user-facing refusal, as `views._name_error` uses it
        return None, str(e)[:2000]


def parse_deploy_submission(state_values: dict) -> DeployInput | dict[str, str]:
    """The deploy form's values, or block_id → message; the manifest itself is the handler's to check."""
    problems: dict[str, str] = {}
    cluster, problem = _name_error(_submitted(state_values, "cluster"))
    if problem:
        problems["cluster"] = problem
    app_ref, problem = _checked(grammar._app_ref, (_submitted(state_values, "app") or "").strip())
    if problem:
        problems["app"] = problem
    namespace = None
    raw_namespace = (_submitted(state_values, "namespace") or "").strip()
    if raw_namespace:
        namespace, problem = _checked(grammar._namespace, raw_namespace)
        if problem:
            problems["namespace"] = problem
    manifest = _submitted(state_values, "manifest")
    if manifest is None or not manifest.strip():
        problems["manifest"] = "Paste the manifest (one or more YAML documents)."
    if problems:
        return problems
    assert cluster and app_ref and manifest is not None
    app, version = app_ref
    return DeployInput(cluster=cluster, app=app, version=version, namespace=namespace, manifest=manifest)
