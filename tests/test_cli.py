"""`kaas sandbox` (what `make run` starts): a demo cluster reachable with the printed kubeconfig."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser

pytestmark = pytest.mark.e2e


def _start(home: Path, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    env = {**os.environ, "KAAS_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("press Ctrl-C"):
            break
    return proc, lines


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)  # also closes the pipes
    return proc.returncode


def test_sandbox_command_prints_a_working_private_kubeconfig(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc, lines = _start(home, "--nodes", "2")
    try:
        kubeconfig = Path(lines[lines.index("kubeconfig (mode 0600):") + 1])
        assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
        out = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "get", "nodes", "--no-headers"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        ).stdout
        assert len(out.splitlines()) == 2
    finally:
        assert _stop(proc) == 0
    # A second start finds the same cluster (state under KAAS_HOME) instead of making another.
    proc, again = _start(home)
    try:
        assert again[1] == lines[1]
    finally:
        assert _stop(proc) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["sandbox", "--nodes", "many"],
        ["sandbox", "--version", "1.12"],
        ["sandbox", "--port", "-x"],
        ["launch"],
        [],
    ],
)
def test_bad_arguments_are_refused_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2
    assert "usage: kaas" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--cluster", "Bad_Name"], "invalid cluster name"),
        (["--nodes", "1000"], "node count"),
    ],
)
def test_invalid_cluster_requests_exit_2_with_a_reason(
    tmp_path: Path, args: list[str], fragment: str
) -> None:
    env = {**os.environ, "KAAS_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "sandbox", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert fragment in proc.stderr


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    env = {**os.environ, "KAAS_HOME": str(tmp_path)}
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-m", "bot.cli", "db", "upgrade"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("database at revision ")
    assert (tmp_path / "kaas.db").exists()
