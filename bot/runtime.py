"""Assembling the core from settings: database, encryption, providers, services and the runner."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from bot.scheduler import Every
from bot.settings import Settings
from handlers.clusters import ClusterService
from handlers.operations import OperationRunner, ProgressSink
from handlers.profiles import ProfileRegistry, ProviderProfile, load_profiles
from handlers.reconcile import Reconciler
from providers import aks, gke
from providers.base import Provider
from providers.jenkins import JenkinsProvider
from providers.manual.adapter import ManualProvider
from providers.sandbox.adapter import SandboxProvider
from providers.sandbox.sandbox import Sandbox, SandboxSettings
from storage import engine as storage_engine
from storage import migrations
from storage.crypto import Crypto, load_or_create_key

log = logging.getLogger(__name__)


@dataclass
class Core:
    """Everything a face needs; `close()` stops what `build_core` started."""

    settings: Settings
    engine: Engine
    crypto: Crypto
    profiles: ProfileRegistry
    runner: OperationRunner
    clusters: ClusterService
    reconciler: Reconciler
    sandboxes: list[Sandbox] = field(default_factory=list)
    _background: list[Every] = field(default_factory=list)

    def start(self) -> None:
        """Start the operations runner and the periodic reconcile."""
        self.runner.start()
        self._background.append(
            Every(self.settings.reconcile_seconds, self.reconciler.run_once, name="kaas-reconcile").start()
        )

    def close(self) -> None:
        for job in self._background:
            job.stop()
        self.runner.stop()
        for sandbox in self.sandboxes:
            sandbox.close()
        self.engine.dispose()


def build_core(settings: Settings, *, sink: ProgressSink | None = None) -> Core:
    """Connect, migrate, load profiles and wire the services (the runner is not started)."""
    home = settings.state_dir
    home.mkdir(parents=True, exist_ok=True)
    url = settings.database_url or storage_engine.default_database_url(home)
    engine = storage_engine.make_engine(url)
    migrations.upgrade(engine)
    env_key = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    key, generated = load_or_create_key(env_key=env_key, home=home)
    if generated:
        log.warning(
            "generated an encryption key at %s; set KAAS_ENCRYPTION_KEY to manage it yourself",
            home / "encryption.key",
        )
    crypto = Crypto(key)
    sandboxes: list[Sandbox] = []

    def sandbox_provider(profile: ProviderProfile) -> SandboxProvider:
        sandbox = Sandbox(
            SandboxSettings(
                state_dir=home / "sandbox" / profile.name,
                create_seconds=settings.sandbox_create_seconds,
                delete_seconds=settings.sandbox_delete_seconds,
            )
        ).start()
        sandboxes.append(sandbox)
        return SandboxProvider(sandbox)

    def manual_provider(profile: ProviderProfile) -> ManualProvider:
        # Local installs register clusters on loopback (sandboxes, kind); a shared server should not.
        return ManualProvider(allow_private=bool(profile.settings.get("allow_private_networks", True)))

    def cloud(from_profile) -> Callable[[ProviderProfile], Provider]:
        # Cloud adapters read their secrets from the environment variables or files a profile names.
        return lambda profile: from_profile(dict(profile.settings), env=os.environ)

    profiles_list, default = load_profiles(settings.providers_file)
    profiles = ProfileRegistry(
        profiles_list,
        default,
        {
            "sandbox": sandbox_provider,
            "manual": manual_provider,
            "aks": cloud(aks.from_profile),
            "gke": cloud(gke.from_profile),
            "jenkins": cloud(JenkinsProvider.from_profile),
        },
    )
    profiles.build_all()
    sessions = storage_engine.session_factory(engine)
    runner = OperationRunner(
        sessions=sessions,
        profiles=profiles,
        crypto=crypto,
        sink=sink,
        workers=settings.runner_workers,
        poll_seconds=settings.poll_seconds,
        lease_seconds=settings.lease_seconds,
    )
    clusters = ClusterService(sessions=sessions, profiles=profiles, crypto=crypto, wake_runner=runner.wake)
    reconciler = Reconciler(sessions=sessions, profiles=profiles)
    return Core(settings, engine, crypto, profiles, runner, clusters, reconciler, sandboxes)
