"""Settings of a `jenkins` provider profile, and reading its API token from the environment or a file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from providers.errors import ProviderConfigError

KIND = "jenkins"


class ParameterNames(BaseModel):
    """Names of the Jenkins job parameters kaas fills in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster_name: str = "CLUSTER_NAME"
    node_count: str = "NODE_COUNT"
    version: str = "K8S_VERSION"
    machine_type: str = "MACHINE_TYPE"
    build_id: str = "KAAS_BUILD_ID"

    @field_validator("*")
    @classmethod
    def _nonempty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a parameter name cannot be empty")
        return v


class JenkinsSettings(BaseModel):
    """A profile's `settings:` mapping. The API token comes from `token_env` or `token_file`, never inline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    user: str = Field(min_length=1)
    token_env: str | None = None
    token_file: str | None = None
    create_job: str = Field(min_length=1)
    delete_job: str = Field(min_length=1)
    scale_job: str | None = None
    parameters: ParameterNames = ParameterNames()
    kubeconfig_artifact: str = "kubeconfig.yaml"
    describe_artifact: str = "cluster.json"
    versions: list[str] = []
    machine_types: list[str] = []
    allow_private_networks: bool = False
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    scan_builds: int = Field(default=50, ge=1, le=1000)
    """How many recent builds to search for a request's KAAS_BUILD_ID."""

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL of the Jenkins controller")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("must not carry credentials, a query or a fragment")
        return v if v.endswith("/") else v + "/"

    @field_validator("kubeconfig_artifact", "describe_artifact")
    @classmethod
    def _relative(cls, v: str) -> str:
        p = PurePosixPath(v)
        if not v or p.is_absolute() or ".." in p.parts or "\\" in v:
            raise ValueError("must be a relative artifact path without '..'")
        return v

    @model_validator(mode="after")
    def _one_token_source(self) -> JenkinsSettings:
        if (self.token_env is None) == (self.token_file is None):
            raise ValueError("set exactly one of token_env or token_file (the API token is never inline)")
        return self


def parse_settings(settings: Mapping) -> JenkinsSettings:
    """Validate a profile's settings; every problem names its field."""
    if not isinstance(settings, Mapping):
        raise ProviderConfigError("jenkins settings must be a mapping", provider=KIND)
    if "token" in settings or "password" in settings:
        field = "token" if "token" in settings else "password"
        raise ProviderConfigError(
            f"{field}: the Jenkins API token must not be inline; use token_env or token_file", provider=KIND
        )
    try:
        return JenkinsSettings.model_validate(dict(settings))
    except ValidationError as e:
        problems = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {msg}")
        raise ProviderConfigError("invalid jenkins settings: " + "; ".join(problems), provider=KIND) from e


def read_token(settings: JenkinsSettings, env: Mapping[str, str]) -> str:
    if settings.token_env is not None:
        token = env.get(settings.token_env, "")
        if not token.strip():
            raise ProviderConfigError(
                f"token_env: environment variable {settings.token_env} is not set or empty", provider=KIND
            )
        return token.strip()
    path = Path(settings.token_file or "").expanduser()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ProviderConfigError(f"token_file: cannot read {path}: {type(e).__name__}", provider=KIND) from e
    if not token:
        raise ProviderConfigError(f"token_file: {path} is empty", provider=KIND)
    return token
