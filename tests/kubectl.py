"""Asking a cluster for its nodes with the real /usr/bin/kubectl, given kubeconfig text."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def node_names(kubeconfig: str, workdir: Path) -> list[str]:
    """`kubectl get nodes -o name` with `kubeconfig` (written 0600 under `workdir`, which is also HOME)."""
    path = workdir / "kubeconfig-under-test"
    path.write_text(kubeconfig)
    path.chmod(0o600)
    proc = subprocess.run(
        ["kubectl", "--kubeconfig", str(path), "get", "nodes", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"HOME": str(workdir), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    return proc.stdout.split()
