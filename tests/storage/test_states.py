"""The cluster state machine, checked against the full table of state pairs."""

from __future__ import annotations

import itertools

import pytest

from storage.errors import InvalidTransition
from storage.models import ClusterState as S
from storage.states import ALLOWED, can_transition, check_transition

# Written out independently of storage.states so that a change there must be deliberate.
LEGAL = {
    (S.REQUESTED, S.PROVISIONING),
    (S.REQUESTED, S.FAILED),
    (S.REQUESTED, S.DELETING),
    (S.REQUESTED, S.DELETED),
    (S.PROVISIONING, S.READY),
    (S.PROVISIONING, S.FAILED),
    (S.PROVISIONING, S.DELETING),
    (S.READY, S.DELETING),
    (S.READY, S.FAILED),
    (S.FAILED, S.DELETING),
    (S.FAILED, S.PROVISIONING),
    (S.FAILED, S.READY),
    (S.DELETING, S.DELETED),
    (S.DELETING, S.FAILED),
    (S.DELETING, S.READY),
}


def test_allowed_covers_every_state() -> None:
    assert set(ALLOWED) == set(S)
    assert ALLOWED[S.DELETED] == set()


@pytest.mark.parametrize(("old", "new"), sorted(LEGAL))
def test_legal_transitions(old: S, new: S) -> None:
    check_transition(old, new)
    check_transition(old.value, new.value)  # plain strings, as read from the database
    assert can_transition(old, new)


ILLEGAL = sorted(set(itertools.product(S, S)) - LEGAL)


@pytest.mark.parametrize(("old", "new"), ILLEGAL)
def test_illegal_transitions_name_both_states(old: S, new: S) -> None:
    with pytest.raises(InvalidTransition) as info:
        check_transition(old, new)
    assert f"'{old.value}'" in str(info.value)
    assert f"'{new.value}'" in str(info.value)
    assert (info.value.old, info.value.new) == (old.value, new.value)
    assert not can_transition(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [("ready", "exploded"), ("bogus", "ready"), ("", "ready"), ("READY", "deleting"), ("ready ", "deleting")],
)
def test_unknown_states_are_invalid(old: str, new: str) -> None:
    with pytest.raises(InvalidTransition, match="unknown state"):
        check_transition(old, new)
    assert not can_transition(old, new)
