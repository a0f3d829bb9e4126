"""`kaas shell` as a user runs it: a real subprocess reading piped `/kaas` lines, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from providers.sandbox.sandbox import Sandbox, SandboxSettings

pytestmark = pytest.mark.e2e


def _env(home: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAAS_")}
    env.update(
        KAAS_HOME=str(home),
        KAAS_DATABASE_URL=database_url,
        KAAS_SANDBOX_CREATE_SECONDS="0.5",
        KAAS_SANDBOX_DELETE_SECONDS="0.2",
        KAAS_POLL_SECONDS="0.05",
    )
    env.update(extra)
    return env


def _shell(home: Path, database_url: str, script: str, **extra: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "shell"],
        input=script,
        capture_output=True,
        text=True,
        env=_env(home, database_url, **extra),
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_full_lifecycle_through_piped_shell(tmp_path: Path, database_url: str) -> None:
    home = tmp_path / "home"
    out = _shell(
        home,
        database_url,
        "\n".join(
            [
                "/kaas help",
                "/kaas create demo --nodes 2",
                "/kaas list",
                "/kaas info demo",
                "/kaas kubeconfig demo",
                f"/kaas register adopted --kubeconfig {home / 'kubeconfigs' / 'demo.kubeconfig.yaml'}",
                "/kaas info adopted",
                "/kaas delete demo",
                "2",  # Cancel
                "/kaas list --all",
            ]
        )
        + "\n",
    )
    assert "/kaas create" in out  # help
    assert "Creating cluster `demo`" in out and "Cluster `demo` is ready." in out
    assert "[1] Kubeconfig  [2] Info  [3] Delete" in out
    assert any(line.split()[:2] == ["demo", "ready"] for line in out.splitlines() if line.strip())
    lines = out.splitlines()
    kubeconfig = Path(lines[lines.index("Kubeconfig for `demo` written (mode 0600):") + 1])
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    # The sandbox lives in the kaas process; bring its state back up to use the kubeconfig with kubectl.
    with Sandbox(SandboxSettings(state_dir=home / "sandbox" / "sandbox")):
        nodes = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={"HOME": str(tmp_path), "PATH": os.environ["PATH"]},
        )
    assert len(nodes.stdout.split()) == 2
    assert "Cluster `adopted` is registered and reachable." in out
    assert "provider    manual (manual)" in out
    assert "Delete cluster `demo`" in out and "Cancelled." in out
    assert "OWNER" in out  # list --all shows owners to the local admin

    # A second session against the same state: delete for real, picking the numbered choice.
    out = _shell(home, database_url, "/kaas delete demo\n1\n/kaas delete adopted\n1\n/kaas list\n")
    assert "Cluster `demo` was deleted." in out
    assert "No clusters yet" in out


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("/kaas crate demo", "Did you mean `create`?"),
        ("/kaas create Bad_Name", "usage: /kaas create"),
        ("/kaas create demo --nodes 0", "usage: /kaas create"),
        ("/kaas create demo --nodes 11", "outside what profile `sandbox` allows"),
        ("/kaas info ghost", "There is no cluster called `ghost`"),
        ("/kaas kubeconfig ghost", "There is no cluster called `ghost`"),
        ("/kaas register x", "give the kubeconfig as a file"),
        ("/kaas register x --kubeconfig /nonexistent/kc", "cannot read"),
        ("/kaas register x --kubeconfig /dev/zero", "not a regular file"),
        ("/kaas register x --kubeconfig /etc", "not a regular file"),
        ("7", "nothing to choose"),
        ("/kaas scale ghost 3", "There is no cluster called `ghost`"),
        ("/kaas scale ghost", "needs NODES"),
        ("/kaas scale ghost 1000", "whole number from 1 to 100"),
        ("/kaas create 'unterminated", "error:"),
        ("/kaas cancel ghost", "There is no cluster called `ghost`"),
        ("/kaas cancel", "needs a cluster name"),
        ("/kaas cancel a b", "is extra"),
    ],
)
def test_hostile_lines_get_clear_errors_and_the_shell_goes_on(
    tmp_path: Path, line: str, fragment: str
) -> None:
    out = _shell(tmp_path / "home", f"sqlite:///{tmp_path / 'k.db'}", f"{line}\n/kaas list\n")
    assert fragment in out
    assert "No clusters yet" in out  # the next line was still answered


def _wait_for(database_url: str, sql: str, timeout: float = 60) -> None:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with engine.connect() as conn:
                    if conn.execute(text(sql)).scalar():
                        return
            except DBAPIError:
                pass  # the process under test has not created the tables yet

            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for: {sql}")
    finally:
        engine.dispose()


@pytest.mark.parametrize("phase", ["create", "delete"])
def test_killed_mid_operation_resumes_without_duplicates(
    tmp_path: Path, database_url: str, phase: str
) -> None:
    home = tmp_path / "home"
    extra = {
        "KAAS_SANDBOX_CREATE_SECONDS": "3",
        "KAAS_SANDBOX_DELETE_SECONDS": "3",
        "KAAS_LEASE_SECONDS": "1",
    }
    if phase == "delete":
        _shell(home, database_url, "/kaas create demo --nodes 1\n", KAAS_SANDBOX_CREATE_SECONDS="0.2")
    script = "/kaas create demo --nodes 1\n" if phase == "create" else "/kaas delete demo\n1\n"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "shell"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(home, database_url, **extra),
    )
    assert proc.stdin is not None
    proc.stdin.write(script)
    proc.stdin.flush()
    # Kill once the provider handle is saved: the provider is working and only polling remains.
    _wait_for(
        database_url, f"SELECT count(*) FROM operations WHERE kind = '{phase}' AND provider_state IS NOT NULL"
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)

    # Restart with nothing to type: the shell resumes the leased operation and waits for it at EOF.
    _shell(home, database_url, "", **extra)
    _wait_for(
        database_url, f"SELECT count(*) FROM operations WHERE kind = '{phase}' AND status = 'succeeded'", 5
    )
    expected = "ready" if phase == "create" else "deleted"
    _wait_for(database_url, f"SELECT count(*) FROM clusters WHERE name = 'demo' AND state = '{expected}'", 5)
    sandbox = Sandbox(SandboxSettings(state_dir=home / "sandbox" / "sandbox"))
    try:
        assert len(sandbox.list_clusters()) == (1 if phase == "create" else 0)
    finally:
        sandbox.close()
