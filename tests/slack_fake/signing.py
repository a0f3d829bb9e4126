"""Slack request signing (v0): what Slack puts on every request it sends to our app.

The signature is ``v0=`` + hex HMAC-SHA256, keyed with the app's signing secret, of
``v0:{timestamp}:{raw body}``; the timestamp travels in ``X-Slack-Request-Timestamp``.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["sign"]


def sign(secret: str, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack would send with ``body``: form-encoded, signed now or at ``timestamp``."""
    raw = body.encode() if isinstance(body, str) else body
    ts = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), b"v0:%d:%s" % (ts, raw), hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": f"v0={digest}",
    }
