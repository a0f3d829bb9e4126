"""Errors the storage layer raises; handlers turn them into user-facing replies."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error raised on purpose by `storage`."""


class NameTaken(StorageError):
    """A live (not deleted) cluster of the same team already has this name."""

    def __init__(self, *, team_id: str, name: str) -> None:
        super().__init__(f"a cluster named {name!r} already exists in this workspace")
        self.team_id = team_id
        self.name = name


class InvalidTransition(StorageError):
    """A cluster state change that the state machine forbids."""

    def __init__(self, old: str, new: str, detail: str = "") -> None:
        message = f"cluster cannot go from {old!r} to {new!r}"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.old = old
        self.new = new


class DecryptionError(StorageError):
    """A stored secret could not be decrypted: wrong key, or the value was altered."""


class InvalidEncryptionKey(StorageError):
    """The configured encryption key is unusable (malformed, a placeholder, or too weak)."""
