"""kill -9 of kaas during a cloud create and delete: the restarted process resumes from the saved handle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from providers.sandbox.sandbox import Sandbox, SandboxSettings
from tests.bot.test_shell import _wait_for
from tests.emulators.aks.server import AksEmulator
from tests.emulators.gke.server import GkeEmulator
from tests.emulators.jenkins.server import JenkinsEmulator
from tests.providers.test_through_bot import (
    ARM_TOKEN,
    GCP_TOKEN,
    aks_profile,
    gke_profile,
    jenkins_profile,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def backing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = Sandbox(
        SandboxSettings(state_dir=tmp_path_factory.mktemp("restart-data-plane"), tick_seconds=0.05)
    )
    sandbox.start()
    yield sandbox
    sandbox.close()


def _emulator(kind: str, backing: Sandbox, workdir: Path):
    # Slow operations, so the kill lands while the provider is still working.
    if kind == "aks":
        return AksEmulator(backing, workdir, token=ARM_TOKEN, op_seconds=4).start()
    if kind == "gke":
        return GkeEmulator(backing, access_tokens=(GCP_TOKEN,), op_seconds=4).start()
    return JenkinsEmulator(backing, queue_seconds=0.5, build_seconds=4).start()


def _stop(kind: str, emulator) -> None:
    if kind == "aks":
        emulator.close()
    else:
        emulator.stop()


@pytest.mark.parametrize("kind", ["aks", "gke", "jenkins"])
def test_kill_during_create_and_delete_resumes_without_duplicates(
    tmp_path: Path, backing: Sandbox, kind: str
) -> None:
    emulator = _emulator(kind, backing, tmp_path)
    try:
        profile = {"aks": aks_profile, "gke": gke_profile, "jenkins": jenkins_profile}[kind](emulator)
        providers = tmp_path / "providers.yml"
        providers.write_text(yaml.safe_dump({"profiles": {kind: profile}}))
        database = f"sqlite:///{tmp_path / 'kaas.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAAS_")}
        env.update(
            KAAS_HOME=str(tmp_path / "home"),
            KAAS_DATABASE_URL=database,
            KAAS_PROVIDERS_FILE=str(providers),
            KAAS_LEASE_SECONDS="1",
            KAAS_POLL_SECONDS="0.1",
            KAAS_TEST_ARM_TOKEN=ARM_TOKEN,
            KAAS_TEST_GCP_TOKEN=GCP_TOKEN,
            KAAS_TEST_JENKINS_TOKEN=getattr(emulator, "token", ""),
        )
        before = len(backing.list_clusters())

        def killed_while(script: str, kind_of_op: str) -> None:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "shell"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
            assert proc.stdin is not None
            proc.stdin.write(script)
            proc.stdin.flush()
            _wait_for(
                database,
                f"SELECT count(*) FROM operations WHERE kind = '{kind_of_op}' AND provider_state IS NOT NULL",
            )
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            # Restarted with nothing to type: it resumes the operation and waits for it to end.
            done = subprocess.run(
                [sys.executable, "-m", "bot.cli", "shell"],
                input="",
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr

        killed_while("/kaas create shop --nodes 1\n", "create")
        _wait_for(database, "SELECT count(*) FROM clusters WHERE name = 'shop' AND state = 'ready'", 5)
        assert len(backing.list_clusters()) == before + 1, "the resumed create made no second cluster"

        killed_while("/kaas delete shop\n1\n", "delete")
        _wait_for(database, "SELECT count(*) FROM clusters WHERE name = 'shop' AND state = 'deleted'", 5)
        assert len(backing.list_clusters()) == before
    finally:
        _stop(kind, emulator)
