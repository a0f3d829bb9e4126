"""Errors of the cluster-side client, fitted into the provider error tree so the runner knows what to retry.

PermanentProviderError
 ├─ KubeError            the API server refused a request; `message` is its own `Status` message
 │   └─ UnknownKind      the cluster does not serve that apiVersion/kind (a CRD is missing)
 ├─ InvalidManifest      YAML that can't be deployed as written; says which document, line and column
 └─ FetchRefused         a URL kaas will not fetch (scheme, address, size) or that failed to download
TransientProviderError
 └─ ClusterUnreachable   connection refused, timeout, 429/5xx from the API server
"""

from __future__ import annotations

from providers.errors import PermanentProviderError, TransientProviderError


class KubeError(PermanentProviderError):
    """The API server answered with an error that retrying will not fix."""

    def __init__(self, message: str, *, status: int = 0, reason: str = ""):
        super().__init__(message, provider="kubernetes")
        self.status = status
        self.reason = reason


class UnknownKind(KubeError):
    """No served resource has this apiVersion and kind."""


class ClusterUnreachable(TransientProviderError):
    """The cluster did not answer (or answered 429/5xx); the same call may work later."""


class InvalidManifest(PermanentProviderError):
    """A manifest problem the user must fix; `hint` says how."""

    def __init__(self, message: str, *, hint: str = ""):
        super().__init__(message, provider="kubernetes")
        self.hint = hint


class FetchRefused(PermanentProviderError):
    """A URL that is refused (not http(s), private address, too large) or could not be downloaded."""

    def __init__(self, message: str, *, hint: str = ""):
        super().__init__(message, provider="fetch")
        self.hint = hint
