"""Replies rendered as terminal text for `kaas shell` (bot/views.py does the same for Block Kit)."""

from __future__ import annotations

import datetime as dt
import re

from handlers.replies import (
    AppList,
    BackupList,
    Button,
    ClusterDetails,
    ClusterList,
    Confirmation,
    CreateForm,
    Notice,
    OperationAccepted,
    OperationUpdate,
)

_MENTION = re.compile(r"<@([A-Z0-9a-z_.-]+)>")


def plain(text: str) -> str:
    """Slack-flavoured text as a terminal shows it: `<@U1>` → `@U1`."""
    return _MENTION.sub(r"@\1", text)


def age(created: dt.datetime, now: dt.datetime) -> str:
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    seconds = max(0, int((now - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def notice(reply: Notice) -> str:
    prefix = {"error": "error: ", "warning": "warning: "}.get(reply.level, "")
    text = prefix + plain(reply.text)
    return f"{text}\n  {plain(reply.hint)}" if reply.hint else text


def choices(buttons: tuple[Button, ...]) -> str:
    """Buttons as numbered choices; the next input line may be the bare number."""
    return "  ".join(f"[{i}] {b.label}" for i, b in enumerate(buttons, start=1))


def cluster_list(reply: ClusterList, now: dt.datetime) -> str:
    if not reply.rows:
        return "No clusters yet. Create one with: /kaas create NAME"
    headers = ["NAME", "STATE", "PROVIDER", "NODES", "VERSION", "AGE"]
    if reply.everyone:
        headers.insert(1, "OWNER")
    rows = []
    for r in reply.rows:
        row = [r.name, r.state, r.provider, str(r.nodes), r.version or "-", age(r.created_at, now)]
        if reply.everyone:
            row.insert(1, r.owner_id)
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in [headers, *rows]
    ]
    if reply.pages > 1:
        lines.append(
            f"page {reply.page} of {reply.pages} ({reply.total} clusters); next: /kaas list --page "
            f"{min(reply.page + 1, reply.pages)}"
        )
    return "\n".join(lines)


def details(reply: ClusterDetails, now: dt.datetime) -> str:
    lines = [
        f"cluster     {reply.name}",
        f"state       {reply.state}" + (f" ({reply.state_reason})" if reply.state_reason else ""),
        f"provider    {reply.provider_profile} ({reply.provider_kind})",
        f"version     {reply.version or '-'}",
        f"endpoint    {reply.endpoint or '-'}",
        f"nodes       {reply.node_count}",
        f"owner       {reply.owner_id}",
        f"created     {reply.created_at:%Y-%m-%d %H:%M} UTC ({age(reply.created_at, now)} ago)",
    ]
    op = reply.last_operation
    if op is not None:
        extra = f": {op.error}" if op.error else (f" ({op.step})" if op.step else "")
        lines.append(f"last op     {op.kind} {op.status}{extra}")
    if reply.buttons:
        lines.append(choices(reply.buttons))
    return "\n".join(lines)


def accepted(reply: OperationAccepted) -> str:
    text = plain(reply.text)
    return f"{text} (already requested)" if reply.duplicate else text


def update(reply: OperationUpdate) -> str:
    if reply.final:
        line = plain(reply.text)
        return f"{line}\n{choices(reply.buttons)}" if reply.buttons else line
    return f"[{reply.cluster_name}] {reply.kind}: {reply.step} ({reply.progress}%)"


def confirmation(reply: Confirmation) -> str:
    return f"{plain(reply.text)}\n{choices(reply.buttons)}"


def create_form(reply: CreateForm) -> str:
    lines = [
        "Create a cluster: /kaas create NAME [--provider P] [--nodes N] [--version V] [--machine-type T]"
    ]
    for p in reply.profiles:
        default = " (default)" if p.name == reply.default_profile else ""
        lines.append(
            f"  {p.name}{default}: {p.kind}, nodes {p.min_nodes}-{p.max_nodes} (default {p.default_nodes}), "
            f"versions {', '.join(p.versions)}"
        )
    return "\n".join(lines)


def app_list(reply: AppList, now: dt.datetime) -> str:
    """`/kaas apps`: one line per app version, then its problems indented."""
    if not reply.rows:
        return f"Nothing deployed by kaas on {reply.cluster} yet."
    lines = [f"Apps on {reply.cluster}:"]
    for row in reply.rows:
        name = row.app + (f"@{row.version}" if row.version else "")
        if row.status != "ready":
            state = row.status
        else:
            state = "unknown" if row.ready is None else ("ready" if row.ready else "not ready")
        lines.append(
            f"  {name:<30} {state:<10} ns={row.namespace:<24} {row.kind}: {row.source}  "
            f"({row.objects} objects, {age(row.updated_at, now)} ago)"
        )
        if row.detail:
            lines.append(f"      {plain(row.detail)}")
    if not reply.reachable:
        lines.append("The cluster did not answer, so readiness is unknown.")
    return "\n".join(lines)


def backup_list(reply: BackupList, now: dt.datetime) -> str:
    """`/kaas backups`: newest first, with size, scope and contents."""
    if not reply.rows:
        return f"No backups of {reply.cluster} yet; `/kaas backup {reply.cluster}` takes one."
    lines = [f"Backups of {reply.cluster} (newest first):"]
    for row in reply.rows:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(row.kinds, key=lambda kc: (-kc[1], kc[0]))[:6])
        scope = f"namespace {row.namespace}" if row.namespace else "whole cluster"
        volumes = f", {row.pvcs} PVCs (data not included)" if row.pvcs else ""
        lines.append(
            f"  {row.name:<40} {age(row.created_at, now):>6} ago  {row.size_bytes:>10} bytes  "
            f"{row.object_count} objects ({scope}{volumes}): {kinds}"
        )
    lines.append(f"Restore one with `/kaas restore {reply.cluster} NAME` (add --overwrite to replace).")
    return "\n".join(lines)
