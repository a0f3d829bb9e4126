"""Kubernetes versions a sandbox cluster can run, and what its `/version` endpoint answers for each.

These are exactly the minors the machine's kubectl dispatcher bundles a client for (1.30, 1.31, 1.33 run
their own kubectl; 1.32 runs the built-in one), so every offered version is testable with a matching client.
"""

from __future__ import annotations

PATCH_RELEASES = {
    "1.30": "v1.30.14",
    "1.31": "v1.31.10",
    "1.32": "v1.32.5",
    "1.33": "v1.33.2",
}
DEFAULT_VERSION = "1.32"


def supported() -> list[str]:
    """Offered minors, oldest first."""
    return sorted(PATCH_RELEASES, key=lambda v: tuple(int(p) for p in v.split(".")))


def normalize(version: str) -> str | None:
    """`1.32`, `v1.32`, `1.32.5` or `v1.32.5` → `1.32`; None when the minor is not offered."""
    text = version.strip().lstrip("v")
    parts = text.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:3]):
        return None
    minor = f"{int(parts[0])}.{int(parts[1])}"
    return minor if minor in PATCH_RELEASES else None


def version_info(minor: str) -> dict:
    """The body of `GET /version` for a cluster at `minor`."""
    git_version = PATCH_RELEASES[minor]
    major, minor_number = minor.split(".")
    return {
        "major": major,
        "minor": minor_number,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-06-01T00:00:00Z",
        "goVersion": "go1.23.9",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
