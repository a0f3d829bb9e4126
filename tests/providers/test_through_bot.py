"""Cloud profiles end to end through the core: providers.yml → handlers → runner → adapter → emulator."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.runtime import Core, build_core
from bot.settings import Settings
from handlers.actors import Actor
from handlers.apps import DeployRequest
from handlers.profiles import ProfileError
from handlers.reconcile import VANISHED
from handlers.replies import OperationUpdate
from providers.sandbox.sandbox import Sandbox, SandboxSettings
from tests.emulators.aks.server import AksEmulator
from tests.emulators.gke.server import GkeEmulator
from tests.emulators.jenkins.server import JenkinsEmulator
from tests.kubectl import node_names
from tests.manifests import deployment

pytestmark = pytest.mark.e2e

ALICE = Actor(user_id="UALICE", team_id="T1")
ARM_TOKEN = "arm-test-token"
GCP_TOKEN = "gcp-test-token"


class Finals:
    def __init__(self) -> None:
        self.updates: dict[int, OperationUpdate] = {}
        self.cond = threading.Condition()

    def publish(self, update: OperationUpdate) -> None:
        if update.final:
            with self.cond:
                self.updates[update.operation_id] = update
                self.cond.notify_all()

    def wait(self, op_id: int, timeout: float = 60) -> OperationUpdate:
        with self.cond:
            assert self.cond.wait_for(lambda: op_id in self.updates, timeout=timeout), (
                f"op {op_id} never ended"
            )
            return self.updates[op_id]


@pytest.fixture(scope="module")
def backing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = Sandbox(
        SandboxSettings(state_dir=tmp_path_factory.mktemp("cloud-data-plane"), tick_seconds=0.05)
    )
    sandbox.start()
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="module")
def aks(backing: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AksEmulator]:
    emulator = AksEmulator(backing, tmp_path_factory.mktemp("arm"), token=ARM_TOKEN, op_seconds=0.2).start()
    yield emulator
    emulator.close()


@pytest.fixture(scope="module")
def gke(backing: Sandbox) -> Iterator[GkeEmulator]:
    with GkeEmulator(backing, access_tokens=(GCP_TOKEN,), op_seconds=0.2) as emulator:
        yield emulator


def gke_profile(emulator: GkeEmulator) -> dict:
    return {
        "kind": "gke",
        "nodes": {"min": 1, "max": 5, "default": 1},
        "project": "kaas-test",
        "location": "europe-west1",
        "api_endpoint": emulator.url,
        "token_env": "KAAS_TEST_GCP_TOKEN",
        "kubeconfig_auth": "token",
        "machine_type": "e2-standard-2",
    }


@pytest.fixture(scope="module")
def jenkins(backing: Sandbox) -> Iterator[JenkinsEmulator]:
    with JenkinsEmulator(backing, queue_seconds=0.05, build_seconds=0.2) as emulator:
        yield emulator


def jenkins_profile(emulator: JenkinsEmulator) -> dict:
    return {
        "kind": "jenkins",
        "nodes": {"min": 1, "max": 5, "default": 1},
        "url": emulator.url,
        "user": "kaas",
        "token_env": "KAAS_TEST_JENKINS_TOKEN",
        "create_job": "create-cluster",
        "delete_job": "delete-cluster",
        "scale_job": "scale-cluster",
        "versions": ["1.31", "1.32"],
        "machine_types": ["e2-standard-4"],
        "allow_private_networks": True,
    }


def aks_profile(emulator: AksEmulator) -> dict:
    return {
        "kind": "aks",
        "nodes": {"min": 1, "max": 5, "default": 1},
        "subscription_id": "00000000-0000-0000-0000-000000000001",
        "resource_group": "kaas-rg",
        "location": "westeurope",
        "arm_endpoint": emulator.url,
        "ca_file": str(emulator.ca_file),
        "token_env": "KAAS_TEST_ARM_TOKEN",
        "max_retries": 0,
    }


@contextlib.contextmanager
def running_core(tmp_path: Path, profiles: dict, finals: Finals) -> Iterator[Core]:
    """A core built from these profiles with its runner started; closed afterwards."""
    core = _core(tmp_path, profiles, finals)
    core.start()
    try:
        yield core
    finally:
        core.close()


def _core(tmp_path: Path, profiles: dict, finals: Finals) -> Core:
    path = tmp_path / "providers.yml"
    path.write_text(yaml.safe_dump({"profiles": profiles, "default": next(iter(profiles))}))
    settings = Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path / 'k.db'}",
        providers_file=path,
        poll_seconds=0.05,
    )
    return build_core(settings, sink=finals)


@pytest.mark.parametrize("kind", ["aks", "gke", "jenkins"])
def test_cloud_lifecycle_through_the_bot(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setenv("KAAS_TEST_ARM_TOKEN", ARM_TOKEN)
    monkeypatch.setenv("KAAS_TEST_GCP_TOKEN", GCP_TOKEN)
    emulator = request.getfixturevalue(kind)
    monkeypatch.setenv("KAAS_TEST_JENKINS_TOKEN", getattr(emulator, "token", ""))
    profile = {"aks": aks_profile, "gke": gke_profile, "jenkins": jenkins_profile}[kind](emulator)
    finals = Finals()
    with running_core(tmp_path, {kind: profile}, finals) as core:
        created = core.clusters.create(
            ALICE, name="shop", nodes=2, version="1.31", idempotency_key=f"{kind}-1"
        )
        final = finals.wait(created.operation_id)
        assert final.status == "succeeded", final.text
        info = core.clusters.info(ALICE, "shop")
        assert (info.provider_kind, info.state, info.version) == (kind, "ready", "1.31")
        assert len(node_names(core.clusters.kubeconfig(ALICE, "shop").content, tmp_path)) == 2
        scaled = core.clusters.scale(ALICE, "shop", nodes=3, idempotency_key=f"{kind}-scale")
        assert finals.wait(scaled.operation_id).status == "succeeded"
        # Apps, checks and backups work through the cloud's own kubeconfig (GKE: its auth plugin).
        deployed = core.apps.deploy(
            ALICE,
            DeployRequest(cluster="shop", app="web", version="v1", manifest=deployment("web")),
            idempotency_key=f"{kind}-d",
        )
        assert finals.wait(deployed.operation_id).status == "succeeded"
        assert core.checks.check(ALICE, "shop").report.totals.nodes_ready == 3
        backed = core.backups.backup(ALICE, "shop", namespace="web-v1", idempotency_key=f"{kind}-b")
        assert finals.wait(backed.operation_id).status == "succeeded"
        deleted = core.clusters.delete(ALICE, "shop", idempotency_key=f"{kind}-del")
        gone = finals.wait(deleted.operation_id)
        assert gone.status == "succeeded", gone.text


def test_aks_failure_reaches_the_user_with_azures_message(
    tmp_path: Path, aks: AksEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAAS_TEST_ARM_TOKEN", ARM_TOKEN)
    finals = Finals()
    with running_core(tmp_path, {"aks": aks_profile(aks)}, finals) as core:
        aks.fail_next_operation(
            "QuotaExceeded",
            "Operation could not be completed as it results in exceeding "
            "approved standardDSv3Family Cores quota.",
        )
        created = core.clusters.create(ALICE, name="big", nodes=1, idempotency_key="aks-quota")
        final = finals.wait(created.operation_id)
        assert final.status == "failed" and "standardDSv3Family Cores quota" in final.text
        assert core.clusters.info(ALICE, "big").state == "failed"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"token_env": "KAAS_TEST_MISSING_TOKEN"}, "KAAS_TEST_MISSING_TOKEN"),
        ({"subscription_id": "not-a-uuid"}, "subscription_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_cloud_profiles_stop_the_start_naming_profile_and_field(
    tmp_path: Path, aks: AksEmulator, monkeypatch: pytest.MonkeyPatch, change: dict, fragment: str
) -> None:
    monkeypatch.setenv("KAAS_TEST_ARM_TOKEN", ARM_TOKEN)
    with pytest.raises(ProfileError) as e:
        _core(tmp_path, {"azure-prod": {**aks_profile(aks), **change}}, Finals())
    assert "azure-prod" in str(e.value) and fragment in str(e.value)


class AllUpdates(Finals):
    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []

    def publish(self, update: OperationUpdate) -> None:
        self.steps.append(update.step)
        super().publish(update)


def test_transient_provider_errors_are_retried_and_shown(
    tmp_path: Path, aks: AksEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAAS_TEST_ARM_TOKEN", ARM_TOKEN)
    updates = AllUpdates()
    with running_core(tmp_path, {"aks": aks_profile(aks)}, updates) as core:
        aks.inject(
            503, "ServiceUnavailable", "The service is temporarily unavailable.", method="PUT", times=2
        )
        created = core.clusters.create(ALICE, name="flaky", nodes=1, idempotency_key="aks-flaky")
        assert updates.wait(created.operation_id).status == "succeeded"
        assert any(
            step.startswith("retrying:") and "temporarily unavailable" in step for step in updates.steps
        )


def test_reconcile_marks_a_cloud_cluster_deleted_out_of_band(
    tmp_path: Path, aks: AksEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAAS_TEST_ARM_TOKEN", ARM_TOKEN)
    finals = Finals()
    with running_core(tmp_path, {"aks": aks_profile(aks)}, finals) as core:
        created = core.clusters.create(ALICE, name="gone", nodes=1, idempotency_key="aks-gone")
        assert finals.wait(created.operation_id).status == "succeeded"
        ref = core.clusters.info(ALICE, "gone")
        name = next(n for n in aks.clusters if n.startswith("gone-"))
        aks.delete_out_of_band(name)
        drifts = core.reconciler.run_once()
        assert [d.cluster for d in drifts] == ["gone"] and drifts[0].change == VANISHED
        assert core.clusters.info(ALICE, "gone").state == "failed" and ref.state == "ready"


@pytest.mark.parametrize("kind", ["aks", "gke", "jenkins"])
@pytest.mark.parametrize("fault", ["unreachable", "bad-token"])
def test_unreachable_or_unauthorised_clouds_stop_the_start(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, kind: str, fault: str
) -> None:
    emulator = request.getfixturevalue(kind)
    token = "not-the-token" if fault == "bad-token" else None
    monkeypatch.setenv("KAAS_TEST_ARM_TOKEN", token or ARM_TOKEN)
    monkeypatch.setenv("KAAS_TEST_GCP_TOKEN", token or GCP_TOKEN)
    monkeypatch.setenv("KAAS_TEST_JENKINS_TOKEN", token or getattr(emulator, "token", ""))
    profile = {"aks": aks_profile, "gke": gke_profile, "jenkins": jenkins_profile}[kind](emulator)
    if fault == "unreachable":
        field = {"aks": "arm_endpoint", "gke": "api_endpoint", "jenkins": "url"}[kind]
        scheme = "https" if kind == "aks" else "http"
        profile[field] = f"{scheme}://127.0.0.1:9/"  # the discard port: nothing listens there
    with pytest.raises(ProfileError) as e:
        _core(tmp_path, {"cloud-x": profile}, Finals())
    assert "cloud-x" in str(e.value) and "endpoint or credentials" in str(e.value)
