"""Object-name rules of the Kubernetes API (DNS-1123 labels and subdomains, path segments).

The messages are the API server's own, so a user reading a `kubectl` error from the sandbox learns the same
rule a real cluster would teach them.
"""

from __future__ import annotations

import re

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

LABEL_MAX = 63
SUBDOMAIN_MAX = 253

LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)

# Kinds whose names must be DNS-1123 labels (they become DNS names or label values); most others accept
# subdomains, and RBAC kinds accept any path segment (e.g. "system:controller:foo").
_LABEL_KINDS = {"Namespace", "Service"}
_PATH_SEGMENT_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


def label_errors(value: str) -> list[str]:
    """Why `value` is not a DNS-1123 label (empty list when it is one)."""
    problems = []
    if len(value) > LABEL_MAX:
        problems.append(f"must be no more than {LABEL_MAX} characters")
    if not _LABEL.match(value):
        problems.append(LABEL_MESSAGE)
    return problems


def subdomain_errors(value: str) -> list[str]:
    """Why `value` is not a DNS-1123 subdomain (empty list when it is one)."""
    problems = []
    if len(value) > SUBDOMAIN_MAX:
        problems.append(f"must be no more than {SUBDOMAIN_MAX} characters")
    if not _SUBDOMAIN.match(value):
        problems.append(SUBDOMAIN_MESSAGE)
    return problems


def path_segment_errors(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def name_errors(kind: str, name: str) -> list[str]:
    """Why `name` is not a valid name for an object of `kind`."""
    if kind in _LABEL_KINDS:
        return label_errors(name)
    if kind in _PATH_SEGMENT_KINDS:
        return path_segment_errors(name)
    return subdomain_errors(name)
