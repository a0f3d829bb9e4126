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
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN"))
    """Bot token (xoxb-…) for the Web API."""
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET")
    )
    """Verifies that HTTP requests come from Slack."""
    slack_app_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN"))
    """App-level token (xapp-…): when set, `kaas serve` uses Socket Mode instead of HTTP events."""
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("KAAS_SLACK_API_URL")
    )
    """Base URL of the Slack Web API (tests point it at a loopback fake)."""
    sandbox_create_seconds: float = Field(
        default=3.0, ge=0, le=3600, validation_alias=AliasChoices("KAAS_SANDBOX_CREATE_SECONDS")
    )
    """Simulated provisioning time of a sandbox cluster, so progress can be seen (seconds)."""
    sandbox_delete_seconds: float = Field(
        default=1.0, ge=0, le=3600, validation_alias=AliasChoices("KAAS_SANDBOX_DELETE_SECONDS")
    )
    runner_workers: int = Field(default=8, ge=1, le=64, validation_alias=AliasChoices("KAAS_RUNNER_WORKERS"))
    """Threads running operation steps; waiting operations hold no thread, so a few serve hundreds."""
    lease_seconds: float = Field(
        default=30.0, gt=0, le=3600, validation_alias=AliasChoices("KAAS_LEASE_SECONDS")
    )
    """How long a crashed process's operations stay claimed before another process resumes them."""
    reconcile_seconds: float = Field(
        default=300.0, ge=0, le=86400, validation_alias=AliasChoices("KAAS_RECONCILE_SECONDS")
    )
    """How often ready clusters are compared with their providers (0 turns the check off)."""
    poll_seconds: float = Field(default=0.5, gt=0, le=60, validation_alias=AliasChoices("KAAS_POLL_SECONDS"))
    """How often a running operation polls its provider."""
    helm: Path | None = Field(default=None, validation_alias=AliasChoices("KAAS_HELM"))
    """The helm binary for chart deploys; default `helm` on PATH, else the one `make install` extracted."""
    fetch_allow_hosts: str = Field(default="", validation_alias=AliasChoices("KAAS_FETCH_ALLOW_HOSTS"))
    """Comma-separated hosts (or host:port) whose manifests may be fetched although they resolve to private
    or loopback addresses; every other private, loopback, link-local or metadata address is refused."""
    rollout_seconds: int = Field(
        default=300, ge=10, le=3600, validation_alias=AliasChoices("KAAS_ROLLOUT_SECONDS")
    )
    """How long a deploy waits for its workloads to be ready unless `--timeout` says otherwise."""
    backup_dir: Path | None = Field(default=None, validation_alias=AliasChoices("KAAS_BACKUP_DIR"))
    """Where backup archives are kept; default `backups/` under KAAS_HOME."""

    @field_validator("encryption_key", "slack_bot_token", "slack_signing_secret", "slack_app_token")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None, info) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDERS:
            raise ValueError(f"{info.field_name} is a placeholder; unset it or set the real value")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("KAAS_SLACK_API_URL must be https:// (or a loopback http:// URL for tests)")
        return value if value.endswith("/") else value + "/"

    def slack_problems(self) -> list[str]:
        """What `kaas serve` is missing to talk to Slack (empty when it can start)."""
        problems = []
        if self.slack_bot_token is None:
            problems.append("SLACK_BOT_TOKEN is not set")
        elif not self.slack_bot_token.get_secret_value().startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN must be a bot token (xoxb-…)")
        if self.slack_app_token is None and self.slack_signing_secret is None:
            problems.append("SLACK_SIGNING_SECRET is not set (or set SLACK_APP_TOKEN for Socket Mode)")
        if self.slack_app_token is not None and not self.slack_app_token.get_secret_value().startswith(
            "xapp-"
        ):
            problems.append("SLACK_APP_TOKEN must be an app-level token (xapp-…)")
        if self.shared_database() and self.encryption_key is None:
            # Replicas share the database; a key generated by each could not read what another stored.
            problems.append(
                "KAAS_ENCRYPTION_KEY is not set; with PostgreSQL every replica must use the same key"
            )
        return problems

    def shared_database(self) -> bool:
        """Whether the database is one several processes may share (PostgreSQL)."""
        return (self.database_url or "").startswith(("postgresql", "postgres:"))

    @property
    def state_dir(self) -> Path:
        return self.home.expanduser()

    def allowed_fetch_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.fetch_allow_hosts.split(",") if h.strip())

    def admin_ids(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.admins.split(",") if a.strip())
