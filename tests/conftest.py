"""Test hygiene shared by every test: a clean environment and no stray state directories."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's kaas or kubectl configuration."""
    for name in list(os.environ):
        if name.startswith(("KAAS_", "SLACK_")) or name in ("KUBECONFIG",):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KAAS_HOME", str(tmp_path_factory.mktemp("kaas-home")))
