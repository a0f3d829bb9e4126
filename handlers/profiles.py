"""Provider profiles: named, validated configurations of provider adapters, from `providers.yml`.

```yaml
profiles:
  sandbox:                 # the profile name users pass as --provider
    kind: sandbox          # which adapter
    nodes: {min: 1, max: 10, default: 3}
    default_version: "1.32"
default: sandbox
```

Secrets never live in this file: a profile names the environment variable or file that holds them. When no
file is configured, kaas runs with the built-in `sandbox` and `manual` profiles.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from handlers.errors import InvalidRequest
from providers.base import Provider
from providers.errors import ProviderConfigError, ProviderError

MAX_PROFILES_BYTES = 256 * 1024


class ProfileError(Exception):
    """providers.yml is missing, unreadable or invalid; the message says where and how to fix it."""


class NodeRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: int = Field(default=1, ge=0, le=1000)
    max: int = Field(default=10, ge=1, le=1000)
    default: int = Field(default=3, ge=0, le=1000)

    @model_validator(mode="after")
    def _ordered(self) -> NodeRange:
        if not self.min <= self.default <= self.max:
            raise ValueError(f"need min <= default <= max, got {self.min} <= {self.default} <= {self.max}")
        return self


class ProfileSpec(BaseModel):
    """One profile as written in providers.yml."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(pattern=r"^(sandbox|manual|gke|aks|jenkins)$")
    nodes: NodeRange = NodeRange()
    default_version: str | None = None
    default_machine_type: str | None = None


class ProfilesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profiles: dict[str, ProfileSpec]
    default: str | None = None

    @model_validator(mode="after")
    def _default_exists(self) -> ProfilesFile:
        if not self.profiles:
            raise ValueError("at least one profile is required")
        if self.default is not None and self.default not in self.profiles:
            raise ValueError(f"default profile {self.default!r} is not defined under profiles")
        return self


@dataclass(frozen=True)
class ProviderProfile:
    """A validated profile: its adapter kind, node range, defaults and adapter-specific settings."""

    name: str
    kind: str
    min_nodes: int = 1
    max_nodes: int = 10
    default_nodes: int = 3
    default_version: str | None = None
    default_machine_type: str | None = None
    settings: Mapping[str, object] = field(default_factory=dict)


BUILTIN_PROFILES = (
    ProviderProfile(name="sandbox", kind="sandbox", min_nodes=1, max_nodes=10, default_nodes=3),
    ProviderProfile(name="manual", kind="manual", min_nodes=0, max_nodes=1000, default_nodes=0),
)


def parse_profiles(text: str, *, source: str = "providers.yml") -> tuple[list[ProviderProfile], str]:
    """Profiles and the default profile name from YAML text; raises ProfileError with a precise reason."""
    if len(text.encode()) > MAX_PROFILES_BYTES:
        raise ProfileError(f"{source} is larger than {MAX_PROFILES_BYTES // 1024} KiB")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ProfileError(f"{source} is not valid YAML: {e}") from e
    try:
        parsed = ProfilesFile.model_validate(doc)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in e.errors()
        )
        raise ProfileError(f"{source} is invalid: {problems}") from e
    profiles = []
    for name, spec in parsed.profiles.items():
        if not _is_label(name):
            raise ProfileError(f"{source}: profile name {name!r} must be a DNS-1123 label (e.g. gke-prod)")
        extra = dict(spec.model_extra or {})
        profiles.append(
            ProviderProfile(
                name=name,
                kind=spec.kind,
                min_nodes=spec.nodes.min,
                max_nodes=spec.nodes.max,
                default_nodes=spec.nodes.default,
                default_version=spec.default_version,
                default_machine_type=spec.default_machine_type,
                settings=extra,
            )
        )
    return profiles, parsed.default or profiles[0].name


def load_profiles(path: Path | None) -> tuple[list[ProviderProfile], str]:
    """Profiles from `path`, or the built-in ones when no path is configured."""
    if path is None:
        return list(BUILTIN_PROFILES), "sandbox"
    try:
        text = path.read_text()
    except OSError as e:
        raise ProfileError(f"cannot read providers file {path}: {e.strerror}") from e
    return parse_profiles(text, source=str(path))


def _is_label(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name))


ProviderFactory = Callable[[ProviderProfile], Provider]


class ProfileRegistry:
    """Profile name → profile and (lazily built, cached) provider adapter."""

    def __init__(
        self, profiles: list[ProviderProfile], default: str, factories: Mapping[str, ProviderFactory]
    ):
        missing = sorted({p.kind for p in profiles} - set(factories))
        if missing:
            raise ProfileError(f"no adapter available for provider kind(s): {', '.join(missing)}")
        self._profiles = {p.name: p for p in profiles}
        self.default = default
        self._factories = factories
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self._profiles)

    def profiles(self) -> list[ProviderProfile]:
        return list(self._profiles.values())

    def get(self, name: str | None) -> ProviderProfile:
        """The named profile (default when None); InvalidRequest naming the choices otherwise."""
        profile = self._profiles.get(name or self.default)
        if profile is None:
            raise InvalidRequest(
                f"There is no provider profile called `{name}`.",
                hint=f"Choose one of: {', '.join(sorted(self._profiles))}.",
            )
        return profile

    def build_all(self) -> None:
        """Build every profile's adapter now, so bad settings or missing secrets stop the start."""
        for name in self._profiles:
            try:
                self.provider(name).probe()
            except ProviderConfigError as e:
                raise ProfileError(f"provider profile `{name}`: {e.message}") from e
            except ProviderError as e:
                raise ProfileError(
                    f"provider profile `{name}`: its endpoint or credentials do not work: {e.message}"
                ) from e

    def provider(self, name: str) -> Provider:
        profile = self.get(name)
        with self._lock:
            if name not in self._providers:
                self._providers[name] = self._factories[profile.kind](profile)
            return self._providers[name]
