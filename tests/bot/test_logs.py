"""KAAS_LOG_FORMAT=json: one JSON object per line, carrying the operation a line is about."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.logs import JsonFormatter
from handlers import observe


def test_json_lines_carry_operation_and_request_ids() -> None:
    record = logging.LogRecord(
        "kaas.test", logging.WARNING, __file__, 1, "step of %s failed", ("create",), None
    )
    op, req = observe.operation_id.set(42), observe.request_id.set("trigger-1")
    try:
        line = JsonFormatter().format(record)
    finally:
        observe.operation_id.reset(op)
        observe.request_id.reset(req)
    entry = json.loads(line)
    assert entry["message"] == "step of create failed" and entry["level"] == "WARNING"
    assert (entry["operation_id"], entry["request_id"]) == (42, "trigger-1")
    assert "operation_id" not in json.loads(JsonFormatter().format(record))  # outside any operation


@pytest.mark.parametrize(("value", "ok"), [("json", True), ("text", True), ("xml", False)])
def test_the_format_is_checked_at_start(tmp_path: Path, value: str, ok: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAAS_", "SLACK_"))}
    env.update(KAAS_HOME=str(tmp_path), KAAS_LOG_FORMAT=value)
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0  # no Slack settings: refused either way, but how it says so differs
    assert ("KAAS_LOG_FORMAT must be text or json" in proc.stderr) is not ok
