"""Kubernetes API errors raised inside the sandbox and rendered as `Status` objects.

Every failure a client can cause is an `ApiError` carrying the HTTP code and the `reason` a real API server
uses, so kubectl, helm and the Python client react to it exactly as they would against a real cluster::

    ApiError
     ├─ BadRequest (400)        malformed body, invalid selector, strict-decoding error
     ├─ Unauthorized (401)      missing or wrong bearer token
     ├─ Forbidden (403)         e.g. creating in a terminating namespace
     ├─ NotFound (404)          object, resource or namespace missing
     ├─ MethodNotAllowed (405)  verb not served by the resource
     ├─ AlreadyExists (409)
     ├─ Conflict (409)          stale resourceVersion, apply conflicts
     ├─ Gone (410)              watch from a compacted resourceVersion
     ├─ RequestEntityTooLarge (413)
     ├─ UnsupportedMediaType (415)
     └─ Invalid (422)           field validation failures
"""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to the client as a `Status` with `code` and `reason`."""

    code = 500
    reason = "InternalError"

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details

    def status(self) -> dict:
        """The `metav1.Status` body for this error."""
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(ApiError):
    code, reason = 400, "BadRequest"


class Unauthorized(ApiError):
    code, reason = 401, "Unauthorized"


class Forbidden(ApiError):
    code, reason = 403, "Forbidden"


class NotFound(ApiError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(ApiError):
    code, reason = 405, "MethodNotAllowed"


class AlreadyExists(ApiError):
    code, reason = 409, "AlreadyExists"


class Conflict(ApiError):
    code, reason = 409, "Conflict"


class Gone(ApiError):
    code, reason = 410, "Expired"


class RequestEntityTooLarge(ApiError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(ApiError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(ApiError):
    code, reason = 422, "Invalid"


def object_details(resource_group: str, plural: str, name: str) -> dict:
    """The `details` block real servers attach to NotFound/AlreadyExists/Conflict/Invalid errors."""
    details = {"name": name, "kind": plural}
    if resource_group:
        details["group"] = resource_group
    return details


def not_found(group: str, plural: str, name: str) -> NotFound:
    """`<plural>.<group> "<name>" not found`, as the API server words it."""
    what = f"{plural}.{group}" if group else plural
    return NotFound(f'{what} "{name}" not found', details=object_details(group, plural, name))


def already_exists(group: str, plural: str, name: str) -> AlreadyExists:
    what = f"{plural}.{group}" if group else plural
    return AlreadyExists(f'{what} "{name}" already exists', details=object_details(group, plural, name))


def stale(group: str, plural: str, name: str) -> Conflict:
    what = f"{plural}.{group}" if group else plural
    return Conflict(
        f'Operation cannot be fulfilled on {what} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        details=object_details(group, plural, name),
    )


def invalid(kind: str, name: str, causes: list[tuple[str, str]], group: str = "") -> Invalid:
    """422 with one cause per (field, message), in the `Kind "name" is invalid: field: message` shape."""
    text = "; ".join(f"{f}: {m}" for f, m in causes)
    details = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes],
    }
    if group:
        details["group"] = group
    return Invalid(f'{kind} "{name}" is invalid: {text}', details=details)
