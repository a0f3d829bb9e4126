"""Errors every provider adapter raises, so nothing above providers/ catches an SDK's own exceptions.

ProviderError                   the provider refused or failed; `message` is the provider's own words
 ├─ TransientProviderError      worth retrying (timeouts, 429, 5xx, a cluster still settling)
 ├─ PermanentProviderError      retrying cannot help; the operation fails with the message
 │   ├─ ClusterNotFound         the provider has no such cluster (any more)
 │   └─ InvalidClusterRequest   the provider rejects the request's parameters
 └─ ProviderConfigError         a profile's settings or secrets are wrong (found at start)
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base of provider failures."""

    def __init__(self, message: str, *, provider: str = ""):
        super().__init__(message)
        self.message = message
        self.provider = provider


class TransientProviderError(ProviderError):
    """The same call may succeed later; `retry_after` is the provider's own hint, in seconds."""

    def __init__(self, message: str, *, provider: str = "", retry_after: float | None = None):
        super().__init__(message, provider=provider)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """The call cannot succeed as made."""


class ClusterNotFound(PermanentProviderError):
    """The provider does not know the cluster."""


class InvalidClusterRequest(PermanentProviderError):
    """Parameters the provider rejects (version, machine type, node count, name)."""


class ProviderConfigError(ProviderError):
    """A provider profile's settings are invalid or its secrets are missing (raised at start)."""
