"""Replies are data: handlers return these, bot/views.py renders them as Block Kit, bot/shell.py as text."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Confirm:
    """A confirmation dialog shown before a button's action runs."""

    title: str
    text: str
    ok: str
    cancel: str = "Cancel"


@dataclass(frozen=True)
class Button:
    """An action the user may take next; `action_id` + `value` come back when it is chosen."""

    label: str
    action_id: str
    value: str
    style: str | None = None
    """None, "primary" or "danger"."""
    confirm: Confirm | None = None


@dataclass(frozen=True)
class Notice:
    """A short message: `level` is info, success, warning or error."""

    text: str
    level: str = "info"
    hint: str = ""


@dataclass(frozen=True)
class OperationSummary:
    id: int
    kind: str
    status: str
    step: str
    progress: int
    error: str | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class ClusterRow:
    name: str
    owner_id: str
    provider: str
    state: str
    nodes: int
    version: str
    created_at: dt.datetime


@dataclass(frozen=True)
class ClusterList:
    rows: tuple[ClusterRow, ...]
    page: int
    pages: int
    total: int
    everyone: bool
    """True for an admin's `list --all` (owners are shown)."""


@dataclass(frozen=True)
class ClusterDetails:
    name: str
    provider_profile: str
    provider_kind: str
    state: str
    state_reason: str | None
    version: str
    endpoint: str | None
    node_count: int
    owner_id: str
    created_at: dt.datetime
    last_operation: OperationSummary | None
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class OperationAccepted:
    """A long operation was recorded; progress follows as `OperationUpdate`s."""

    operation_id: int
    cluster_name: str
    kind: str
    text: str
    duplicate: bool = False
    """True when this request repeated one already recorded (Slack retry, double click)."""


@dataclass(frozen=True)
class OperationUpdate:
    """Progress of an operation, published by the runner to the face that shows it."""

    operation_id: int
    cluster_name: str
    kind: str
    status: str
    step: str
    progress: int
    text: str
    final: bool
    channel_id: str | None = None
    thread_ts: str | None = None
    requester_id: str = ""
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class Credential:
    """A secret for the requester only: the face must deliver it privately (DM or a 0600 file)."""

    cluster_name: str
    filename: str
    content: str = field(repr=False)


@dataclass(frozen=True)
class Confirmation:
    """A question with buttons (e.g. "Delete cluster x?")."""

    text: str
    buttons: tuple[Button, ...]


@dataclass(frozen=True)
class ProfileChoice:
    """One provider profile as the create form offers it."""

    name: str
    kind: str
    min_nodes: int
    max_nodes: int
    default_nodes: int
    versions: tuple[str, ...]
    default_version: str
    machine_types: tuple[str, ...]
    default_machine_type: str | None


@dataclass(frozen=True)
class CreateForm:
    """What the create modal needs: the profiles and their choices."""

    profiles: tuple[ProfileChoice, ...]
    default_profile: str


@dataclass(frozen=True)
class AppRow:
    """One app version on a cluster; `ready` is None when its live state could not be read."""

    app: str
    version: str
    namespace: str
    source: str
    kind: str
    """manifest or helm."""
    status: str
    ready: bool | None
    detail: str
    objects: int
    updated_at: dt.datetime


@dataclass(frozen=True)
class AppList:
    cluster: str
    rows: tuple[AppRow, ...]
    reachable: bool
    """False when the cluster did not answer, so readiness is unknown."""


@dataclass(frozen=True)
class BackupRow:
    name: str
    created_at: dt.datetime
    size_bytes: int
    object_count: int
    namespace: str | None
    kinds: tuple[tuple[str, int], ...]
    pvcs: int
    created_by: str


@dataclass(frozen=True)
class BackupList:
    cluster: str
    rows: tuple[BackupRow, ...]
