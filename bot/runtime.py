"""Assembling the core from settings: database, encryption, providers, services and the runner."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from bot.metrics import Metrics
from bot.scheduler import Every
from bot.settings import Settings
from handlers.apps import AppsConfig, AppService, DeployWork, UndeployWork
from handlers.backups import BackupService, BackupWork, RestoreWork
from handlers.checks import CheckService
from handlers.clusters import ClusterService
from handlers.lifecycle import CreateWork, DeleteWork, RegisterWork, ScaleWork
from handlers.outbox import Deliverer, OutboxSender, ProgressSink, SinkDeliverer
from handlers.profiles import ProfileRegistry, ProviderProfile, load_profiles
from handlers.reconcile import Reconciler
from handlers.runner import OperationRunner
from providers import aks, gke
from providers.base import Provider
from providers.jenkins import JenkinsProvider
from providers.kube.fetch import FetchPolicy
from providers.manual.adapter import ManualProvider
from providers.sandbox.adapter import SandboxProvider
from providers.sandbox.sandbox import Sandbox, SandboxSettings
from storage import engine as storage_engine
from storage import migrations
from storage.backup_store import LocalBackupStore
from storage.crypto import Crypto, load_or_create_key
from storage.models import OperationKind

log = logging.getLogger(__name__)

STUCK_AFTER_SECONDS = 120.0


@dataclass
class Core:
    """Everything a face needs; `close()` stops what `build_core` started."""

    settings: Settings
    engine: Engine
    crypto: Crypto
    profiles: ProfileRegistry
    runner: OperationRunner
    clusters: ClusterService
    apps: AppService
    backups: BackupService
    checks: CheckService
    reconciler: Reconciler
    metrics: Metrics
    sandboxes: list[Sandbox] = field(default_factory=list)
    senders: list[OutboxSender] = field(default_factory=list)
    _background: list[Every] = field(default_factory=list)

    def deliver_with(
        self, deliverer: Deliverer, *, audience: str | None, min_interval: float
    ) -> OutboxSender:
        """Add the outbox sender of a face (started with the core); `audience=None` delivers everything."""
        sender = OutboxSender(
            sessions=storage_engine.session_factory(self.engine),
            deliverer=deliverer,
            audience=audience,
            min_interval=min_interval,
        )
        self.senders.append(sender)
        return sender

    def wake(self) -> None:
        """A request was recorded: the runner and the senders look now rather than at their next poll."""
        self.runner.wake()
        self.wake_senders()

    def stuck_loops(self) -> dict[str, float]:
        """Background loops that have not gone round for much longer than they should: name → age (s).

        Each loop is allowed a few of its own intervals, and never less than `STUCK_AFTER_SECONDS`.
        """
        lease = self.settings.lease_seconds
        loops = [(f"runner-{name}", age, lease) for name, age in self.runner.heartbeats().items()]
        loops += [
            (f"outbox-sender-{i}", sender.heartbeat_age(), 0.0) for i, sender in enumerate(self.senders)
        ]
        loops += [(job.name, job.heartbeat_age(), job.seconds) for job in self._background]
        return {
            name: age
            for name, age, interval in loops
            if age is not None and age > max(STUCK_AFTER_SECONDS, 3 * interval)
        }

    def wake_senders(self) -> None:
        for sender in self.senders:
            sender.wake()

    def start(self) -> None:
        """Start the outbox senders, the operations runner and the periodic reconcile."""
        for sender in self.senders:
            sender.start()
        self.runner.start()
        self._background.append(
            Every(self.settings.reconcile_seconds, self.reconciler.run_once, name="kaas-reconcile").start()
        )

    def close(self) -> None:
        for job in self._background:
            job.stop()
        self.runner.stop()
        # After the runner: what its last steps reported is delivered before the process goes.
        for sender in self.senders:
            sender.stop()
        for sandbox in self.sandboxes:
            sandbox.close()
        self.engine.dispose()


def build_core(settings: Settings, *, sink: ProgressSink | None = None) -> Core:
    """Connect, migrate, load profiles and wire the services (nothing is started). A `sink` is shown every
    operation's messages as they are delivered (tests; the faces add their own senders)."""
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
    lifecycle = {"profiles": profiles, "crypto": crypto}
    metrics = Metrics(engine)
    runner = OperationRunner(
        observer=metrics,
        sessions=sessions,
        works={
            OperationKind.CREATE: CreateWork(**lifecycle),
            OperationKind.REGISTER: RegisterWork(**lifecycle),
            OperationKind.DELETE: DeleteWork(**lifecycle),
            OperationKind.SCALE: ScaleWork(**lifecycle),
        },
        workers=settings.runner_workers,
        poll_seconds=settings.poll_seconds,
        lease_seconds=settings.lease_seconds,
    )
    built: list[Core] = []

    def wake() -> None:
        # Bound late: the senders the faces add to the core are woken too.
        for core in built:
            core.wake()

    clusters = ClusterService(
        sessions=sessions,
        profiles=profiles,
        crypto=crypto,
        wake_runner=wake,
        can_cancel=runner.can_cancel,
    )
    apps_config = AppsConfig(
        fetch_policy=FetchPolicy(allow_hosts=settings.allowed_fetch_hosts()),
        helm_binary=find_helm(settings.helm),
        work_dir=home / "helm",
        rollout_seconds=settings.rollout_seconds,
    )
    store = LocalBackupStore(settings.backup_dir or home / "backups")
    runner.add_work(OperationKind.DEPLOY, DeployWork(sessions=sessions, crypto=crypto, config=apps_config))
    runner.add_work(
        OperationKind.UNDEPLOY, UndeployWork(sessions=sessions, crypto=crypto, config=apps_config)
    )
    runner.add_work(OperationKind.BACKUP, BackupWork(sessions=sessions, crypto=crypto, store=store))
    runner.add_work(OperationKind.RESTORE, RestoreWork(sessions=sessions, crypto=crypto, store=store))
    core = Core(
        settings,
        engine,
        crypto,
        profiles,
        runner,
        clusters,
        AppService(sessions=sessions, crypto=crypto, config=apps_config, wake_runner=wake),
        BackupService(sessions=sessions, wake_runner=wake),
        CheckService(sessions=sessions, crypto=crypto),
        Reconciler(sessions=sessions, profiles=profiles, crypto=crypto),
        metrics,
        sandboxes,
    )
    built.append(core)
    runner.on_outbox = core.wake_senders
    if sink is not None:
        core.deliver_with(SinkDeliverer(sink), audience=None, min_interval=0.0)
    return core


REPO_HELM = Path(__file__).resolve().parents[1] / ".tools" / "bin" / "helm"


def find_helm(configured: Path | None) -> str | None:
    """The helm binary to use: the configured one, `helm` on PATH, or the one `make install` extracted."""
    if configured is not None:
        return str(configured.expanduser())
    found = shutil.which("helm")
    if found:
        return found
    return str(REPO_HELM) if REPO_HELM.is_file() else None
