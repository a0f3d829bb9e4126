"""Decoding request bodies the way the API server does: JSON, YAML or Kubernetes protobuf, with limits.

YAML bodies may not use anchors and aliases: a few hundred bytes of nested aliases expand to gigabytes once
serialised (the "billion laughs" bomb), and no Kubernetes client sends them.
"""

from __future__ import annotations

import json

import yaml

from providers.sandbox import errors, protobuf

MAX_BODY_BYTES = 3 * 1024 * 1024
"""etcd's default request size limit; the real API server rejects larger bodies too."""


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` → `application/json`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            raise errors.BadRequest("YAML anchors and aliases are not allowed in request bodies")
        return super().compose_node(parent, index)


def _parse_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except RecursionError as e:
        raise errors.BadRequest("the request body is nested too deeply") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise errors.BadRequest(f"couldn't get version/kind; json parse error: {e}") from e


def _parse_yaml(body: bytes) -> object:
    try:
        return yaml.load(body, Loader=_NoAliasLoader)
    except RecursionError as e:
        raise errors.BadRequest("the request body is nested too deeply") from e
    except yaml.YAMLError as e:
        raise errors.BadRequest(f"error converting YAML to JSON: {e}") from e


def decode_document(body: bytes, content_type: str | None) -> object:
    """Any JSON value from a JSON or YAML body (patches may be lists)."""
    if len(body) > MAX_BODY_BYTES:
        raise errors.RequestEntityTooLarge("Request entity too large: limit is 3145728")
    kind = media_type(content_type)
    if kind in ("application/yaml", "application/apply-patch+yaml", "text/yaml"):
        # Apply patches are YAML by declaration but JSON in practice; JSON is valid YAML, parse it fast.
        stripped = body.lstrip()
        if stripped[:1] in (b"{", b"["):
            return _parse_json(body)
        return _parse_yaml(body)
    return _parse_json(body)


def decode_object(body: bytes, content_type: str | None) -> dict:
    """A Kubernetes object from a JSON, YAML or protobuf body."""
    if len(body) > MAX_BODY_BYTES:
        raise errors.RequestEntityTooLarge("Request entity too large: limit is 3145728")
    if not body.strip():
        raise errors.BadRequest("the request body is empty; send a JSON object")
    if protobuf.is_protobuf(media_type(content_type)):
        return protobuf.decode(body)
    doc = decode_document(body, content_type)
    if not isinstance(doc, dict):
        raise errors.BadRequest(f"the request body must be a JSON object, not {type(doc).__name__}")
    return doc


def decode_delete_options(body: bytes, content_type: str | None) -> dict:
    """DeleteOptions from a DELETE body; an empty body means defaults."""
    if not body.strip():
        return {}
    return decode_object(body, content_type)
