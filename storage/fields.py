"""Column-length checks in Python: SQLite ignores VARCHAR lengths, PostgreSQL enforces them."""

from __future__ import annotations

import datetime as dt
from typing import overload

from sqlmodel import SQLModel


def _max_length(model: type[SQLModel], field: str) -> int | None:
    column = model.__table__.c[field]  # type: ignore[attr-defined]
    return getattr(column.type, "length", None)


def require_fits(model: type[SQLModel], **values: str | None) -> None:
    """Raise ValueError naming the field if a value is longer than its column allows or holds NUL."""
    for field, value in values.items():
        if value is not None and "\x00" in value:
            # PostgreSQL text cannot hold NUL; refuse it everywhere so SQLite behaves the same.
            raise ValueError(f"{field} contains a NUL character")
        limit = _max_length(model, field)
        if value is not None and limit is not None and len(value) > limit:
            raise ValueError(f"{field} is too long ({len(value)} characters, at most {limit})")


@overload
def clip(model: type[SQLModel], field: str, value: str) -> str: ...
@overload
def clip(model: type[SQLModel], field: str, value: None) -> None: ...
@overload
def clip(model: type[SQLModel], field: str, value: str | None) -> str | None: ...
def clip(model: type[SQLModel], field: str, value: str | None) -> str | None:
    """Fit free text (reasons, errors, details) into its column rather than fail.

    Over-long text is shortened, and NUL characters (which PostgreSQL text refuses) are replaced.
    """
    if value is None:
        return None
    value = value.replace("\x00", "\ufffd")
    limit = _max_length(model, field)
    if limit is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def aware(now: dt.datetime) -> dt.datetime:
    """`now` in UTC; a naive datetime is a bug (whose clock?), so it is refused."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(dt.UTC)
