"""Encryption of secrets at rest (kubeconfigs) with Fernet, and the key that protects them.

The key comes from KAAS_ENCRYPTION_KEY or, failing that, from `KAAS_HOME/encryption.key`, generated on
first use. Key material never appears in messages or logs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from storage.errors import DecryptionError, InvalidEncryptionKey

KEY_FILENAME = "encryption.key"
ENV_VAR = "KAAS_ENCRYPTION_KEY"
_GENERATE_HINT = (
    "generate one with: python -c "
    "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)
# A Fernet key is 32 random bytes in URL-safe base64: 43 alphabet characters and one "=" of padding.
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}=")
# Short words are only checked in values too short to be keys (a random key may contain "key");
# long ones are too unlikely to occur by chance to be worth sparing.
_SHORT_PLACEHOLDERS = ("change", "secret", "your", "todo", "xxx", "key", "none", "null", "test")
_LONG_PLACEHOLDERS = ("changeme", "change_me", "change-me", "placeholder", "example", "password", "replace")
# 32 random bytes almost always hold ~30 distinct values; fewer than 16 means a made-up key.
_MIN_DISTINCT_BYTES = 16


class Crypto:
    """Encrypts and decrypts text with Fernet.

    Accepts several keys for rotation: the first encrypts, all are tried when decrypting.
    """

    def __init__(self, keys: bytes | Sequence[bytes]) -> None:
        key_list = [keys] if isinstance(keys, bytes | str) else list(keys)
        if not key_list:
            raise InvalidEncryptionKey("at least one encryption key is required")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in key_list])
        except (ValueError, TypeError, binascii.Error):
            raise InvalidEncryptionKey(f"not a valid Fernet key; {_GENERATE_HINT}") from None

    def __repr__(self) -> str:
        return "Crypto(<keys hidden>)"

    def encrypt(self, text: str) -> str:
        """Encrypt `text` into an opaque, authenticated, URL-safe token."""
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Return the text inside `token`; raise `DecryptionError` if the key is wrong or it was altered."""
        try:
            return self._fernet.decrypt(token.encode("utf-8")).decode("utf-8")
        except (InvalidToken, ValueError, TypeError, UnicodeError):
            # Deliberately no detail from the token itself: it is secret material.
            raise DecryptionError(
                "cannot decrypt a stored secret: it was encrypted with a different key or has been "
                f"altered. Restore the original {ENV_VAR} (or KAAS_HOME/{KEY_FILENAME}) that was in use "
                "when it was saved; if that key is lost, fetch the kubeconfig from the provider again."
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` under the primary (first) key, e.g. after adding a new key."""
        try:
            return self._fernet.rotate(token.encode("utf-8")).decode("ascii")
        except (InvalidToken, ValueError, TypeError):
            raise DecryptionError("cannot re-encrypt a stored secret: no configured key opens it") from None


def validate_key(value: str, *, source: str) -> bytes:
    """Check that `value` is a real Fernet key and return it as bytes.

    `source` names where it came from (an env var or a file path) for the error message; the value
    itself is never echoed.
    """
    candidate = value.strip()
    if not candidate:
        raise InvalidEncryptionKey(f"{source} is empty; {_GENERATE_HINT}")
    lowered = candidate.lower()
    short_placeholder = len(candidate) < 44 and any(word in lowered for word in _SHORT_PLACEHOLDERS)
    if short_placeholder or any(word in lowered for word in _LONG_PLACEHOLDERS):
        raise InvalidEncryptionKey(f"{source} looks like a placeholder, not a key; {_GENERATE_HINT}")
    if not _KEY_SHAPE.fullmatch(candidate):
        raise InvalidEncryptionKey(
            f"{source} is not a Fernet key (expected 44 URL-safe base64 characters, got "
            f"{len(candidate)} characters); {_GENERATE_HINT}"
        )
    raw = base64.urlsafe_b64decode(candidate)
    if len(raw) != 32:
        raise InvalidEncryptionKey(f"{source} does not decode to 32 bytes; {_GENERATE_HINT}")
    if len(set(raw)) < _MIN_DISTINCT_BYTES:
        raise InvalidEncryptionKey(f"{source} is not random enough to be a real key; {_GENERATE_HINT}")
    return candidate.encode("ascii")


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Tighten rather than refuse: the file is ours, and a readable key must not stay readable.
        os.chmod(path, 0o600)
    return validate_key(path.read_text(encoding="ascii", errors="replace"), source=str(path))


def _create_key_file(path: Path) -> bytes | None:
    """Write a fresh key to `path`, or return None if another process created it first."""
    key = Fernet.generate_key()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    # 0600 from creation, before any byte is written; O_EXCL refuses to follow a planted file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask can only remove bits, but be explicit
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # link() never overwrites, so the first of two racing processes wins and readers never see
        # a half-written file.
        os.link(tmp, path)
    except FileExistsError:
        return None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return key


def load_or_create_key(*, env_key: str | None, home: Path) -> tuple[bytes, bool]:
    """Return the encryption key and whether it was just generated.

    Uses `env_key` (the value of KAAS_ENCRYPTION_KEY) when given, else `home/encryption.key`, creating
    it with mode 0600 if missing. The caller should warn when a key was generated: losing that file
    makes every stored kubeconfig unreadable.
    """
    if env_key is not None:
        return validate_key(env_key, source=ENV_VAR), False
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = home / KEY_FILENAME
    if not path.exists():
        key = _create_key_file(path)
        if key is not None:
            return key, True
    return _read_key_file(path), False
