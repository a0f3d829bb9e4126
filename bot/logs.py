"""Logging set-up: plain lines for a terminal, or one JSON object per line (`KAAS_LOG_FORMAT=json`) for a
log pipeline, carrying the operation and request a line is about."""

from __future__ import annotations

import datetime as dt
import json
import logging

from handlers import observe

PLAIN = "%(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, operation and request ids, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        operation, request = observe.operation_id.get(), observe.request_id.get()
        if operation is not None:
            entry["operation_id"] = operation
        if request is not None:
            entry["request_id"] = request
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str) -> None:
    """Log warnings and worse to stderr, as `text` (the default) or `json`."""
    if log_format not in ("text", "json"):
        raise SystemExit(f"kaas: KAAS_LOG_FORMAT must be text or json, not {log_format!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
