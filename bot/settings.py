"""kaas configuration: one typed object, read from the environment once at start and passed down.

Names are the stable ones DESIGN.md lists. Secrets are `SecretStr` so they never appear in a repr or log.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDERS = {"changeme", "change-me", "xxx", "todo", "secret", "placeholder", "your-token-here"}


class Settings(BaseSettings):
    """Every setting kaas reads, with its environment variable."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path("~/.kaas"), validation_alias=AliasChoices("KAAS_HOME"))
    """State directory: SQLite database, sandbox state, generated encryption key, shell history."""
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("KAAS_DATABASE_URL"))
    """SQLAlchemy URL; default a SQLite file under `home`. `postgresql://…` selects PostgreSQL."""
    encryption_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KAAS_ENCRYPTION_KEY")
    )
    """Fernet key for secrets at rest; generated once under `home` (with a warning) when unset."""
    providers_file: Path | None = Field(default=None, validation_alias=AliasChoices("KAAS_PROVIDERS_FILE"))
    """providers.yml with the provider profiles; the built-in sandbox and manual profiles when unset."""
    admins: str = Field(default="", validation_alias=AliasChoices("KAAS_ADMINS"))
    """Comma-separated Slack user ids of KaaS admins."""
    sandbox_create_seconds: float = Field(
        default=3.0, ge=0, le=3600, validation_alias=AliasChoices("KAAS_SANDBOX_CREATE_SECONDS")
    )
    """Simulated provisioning time of a sandbox cluster, so progress can be seen (seconds)."""
    sandbox_delete_seconds: float = Field(
        default=1.0, ge=0, le=3600, validation_alias=AliasChoices("KAAS_SANDBOX_DELETE_SECONDS")
    )
    runner_workers: int = Field(default=8, ge=1, le=64, validation_alias=AliasChoices("KAAS_RUNNER_WORKERS"))
    """Operations run at once by this process (threads)."""
    lease_seconds: float = Field(
        default=30.0, gt=0, le=3600, validation_alias=AliasChoices("KAAS_LEASE_SECONDS")
    )
    """How long a crashed process's operations stay claimed before another process resumes them."""
    poll_seconds: float = Field(default=0.5, gt=0, le=60, validation_alias=AliasChoices("KAAS_POLL_SECONDS"))
    """How often a running operation polls its provider."""

    @field_validator("encryption_key")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDERS:
            raise ValueError("KAAS_ENCRYPTION_KEY is a placeholder; unset it or set a real Fernet key")
        return value

    @property
    def state_dir(self) -> Path:
        return self.home.expanduser()

    def admin_ids(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.admins.split(",") if a.strip())
