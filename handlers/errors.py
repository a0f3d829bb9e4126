"""Errors handlers raise for the faces to show. Provider and storage errors never cross this layer raw.

HandlerError
 └─ UserError            the request can't be done as asked; `message` + `hint` are shown to the user
     ├─ NotFound         no such cluster (or not visible to the actor)
     ├─ Forbidden        the actor may not do this to that cluster
     ├─ Conflict         name taken, cluster busy, wrong state
     ├─ InvalidRequest   bad parameter (out of range, unknown profile/version)
     └─ Unavailable      kaas cannot do it in its present state (a stored secret it cannot decrypt)
"""

from __future__ import annotations


class HandlerError(Exception):
    """Base of errors raised by handlers."""


class UserError(HandlerError):
    """Shown to the requester as is, with a hint saying what to do next."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotFound(UserError):
    pass


class Forbidden(UserError):
    pass


class Conflict(UserError):
    pass


class InvalidRequest(UserError):
    pass


class Unavailable(UserError):
    pass
