"""`kaas shell` on a terminal (a pseudo-terminal here): progress arrives while the user is at the prompt."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bot.test_shell import _env

pytestmark = pytest.mark.e2e


def _drain(fd: int, seen: bytearray) -> None:
    ready, _, _ = select.select([fd], [], [], 0.2)
    if ready:
        with contextlib.suppress(OSError):  # the child closed the terminal
            seen.extend(os.read(fd, 65536))


def _read_until(fd: int, needle: bytes, seen: bytearray, *, start: int = 0, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while seen.find(needle, start) < 0:
        assert time.monotonic() < deadline, f"{needle!r} never came; got {bytes(seen)[-800:]!r}"
        _drain(fd, seen)


def test_progress_lines_keep_the_prompt_and_what_was_typed(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    env = _env(tmp_path / "home", f"sqlite:///{tmp_path / 'k.db'}", KAAS_SANDBOX_CREATE_SECONDS="1.5")
    env["TERM"] = "dumb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "shell"], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    seen = bytearray()
    try:
        _read_until(master, b"kaas> ", seen)
        os.write(master, b"/kaas create demo --nodes 1\n")
        _read_until(master, b"Creating cluster `demo`", seen)
        # Half a command typed while the cluster is being created: it must still be on screen after.
        os.write(master, b"/kaas li")
        _read_until(master, b"Cluster `demo` is ready.", seen)
        start = seen.index(b"Cluster `demo` is ready.")
        _read_until(master, b"kaas> /kaas li", seen, start=start)
        os.write(master, b"st\n")
        _read_until(master, b"demo  ready", seen, start=seen.rindex(b"kaas> /kaas li"))
        # That line ran the completed command: the list shows the new cluster.
        assert b"demo  ready" in seen[seen.rindex(b"kaas> /kaas list") :]
    finally:
        proc.kill()
        proc.wait(timeout=30)
        os.close(master)
