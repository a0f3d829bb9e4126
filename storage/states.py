"""The cluster state machine: which lifecycle moves are legal."""

from __future__ import annotations

from storage.errors import InvalidTransition
from storage.models import ClusterState

S = ClusterState

ALLOWED: dict[ClusterState, set[ClusterState]] = {
    # A create cancelled before the provider was asked leaves nothing to delete.
    S.REQUESTED: {S.PROVISIONING, S.FAILED, S.DELETING, S.DELETED},
    S.PROVISIONING: {S.READY, S.FAILED, S.DELETING},
    S.READY: {S.DELETING, S.FAILED},
    # A failed cluster may be retried (back to provisioning), cleaned up, or found running again by
    # reconcile (the provider is the truth).
    S.FAILED: {S.DELETING, S.PROVISIONING, S.READY},
    # A delete the provider refused leaves a cluster that still runs.
    S.DELETING: {S.DELETED, S.FAILED, S.READY},
    # Deleted is final: the name is free again, the row is history.
    S.DELETED: set(),
}


def _parse(value: str) -> ClusterState | None:
    try:
        return ClusterState(value)
    except ValueError:
        return None


def can_transition(old: str, new: str) -> bool:
    """Whether a cluster in state `old` may move to state `new`."""
    old_state, new_state = _parse(old), _parse(new)
    if old_state is None or new_state is None:
        return False
    return new_state in ALLOWED[old_state]


def check_transition(old: str, new: str) -> None:
    """Raise `InvalidTransition` (naming both states) unless `old` → `new` is a legal move."""
    old_state, new_state = _parse(old), _parse(new)
    if old_state is None or new_state is None:
        unknown = old if old_state is None else new
        raise InvalidTransition(str(old), str(new), f"unknown state {unknown!r}")
    if new_state not in ALLOWED[old_state]:
        allowed = ", ".join(sorted(ALLOWED[old_state])) or "none, it is final"
        raise InvalidTransition(old_state.value, new_state.value, f"allowed next states: {allowed}")
