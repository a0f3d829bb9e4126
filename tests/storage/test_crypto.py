"""Encryption of secrets and the handling of the key that protects them."""

from __future__ import annotations

import base64
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pytest
from cryptography.fernet import Fernet

from storage.crypto import Crypto, load_or_create_key
from storage.errors import DecryptionError, InvalidEncryptionKey


def test_round_trip() -> None:
    crypto = Crypto(Fernet.generate_key())
    for text in ["", "apiVersion: v1\nkind: Config\n", "ünïcödé ☸ 🚀", "x" * 100_000]:
        token = crypto.encrypt(text)
        assert text[:20] not in token or not text
        assert crypto.decrypt(token) == text


def test_tokens_are_randomised() -> None:
    crypto = Crypto(Fernet.generate_key())
    assert crypto.encrypt("same") != crypto.encrypt("same")


def test_wrong_key_gives_actionable_error() -> None:
    token = Crypto(Fernet.generate_key()).encrypt("secret kubeconfig")
    with pytest.raises(DecryptionError) as info:
        Crypto(Fernet.generate_key()).decrypt(token)
    message = str(info.value)
    assert "KAAS_ENCRYPTION_KEY" in message and "encryption.key" in message
    assert token not in message


def _flip(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("index", [0, 5, 20, 40, -1])  # version, timestamp, iv, ciphertext, hmac
def test_tampered_token_is_rejected(index: int) -> None:
    crypto = Crypto(Fernet.generate_key())
    token = crypto.encrypt("apiVersion: v1")
    with pytest.raises(DecryptionError):
        crypto.decrypt(_flip(token, index))


@pytest.mark.parametrize(
    "token", ["", "not a token", "gAAAAA", "🚀🚀🚀", "\x00\x01", "A" * 10_000, "gAAAAAB" + "=" * 60]
)
def test_garbage_tokens_are_rejected(token: str) -> None:
    with pytest.raises(DecryptionError):
        Crypto(Fernet.generate_key()).decrypt(token)


def test_multiple_keys_allow_rotation() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    token = Crypto(old).encrypt("kubeconfig")
    rotating = Crypto([new, old])
    assert rotating.decrypt(token) == "kubeconfig"
    rotated = rotating.rotate(token)
    assert Crypto(new).decrypt(rotated) == "kubeconfig"
    with pytest.raises(DecryptionError):
        Crypto(old).decrypt(rotated)


def test_repr_hides_keys() -> None:
    key = Fernet.generate_key()
    assert key.decode() not in repr(Crypto(key))


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    home = tmp_path / "kaas-home"
    key, generated = load_or_create_key(env_key=None, home=home)
    assert generated
    path = home / "encryption.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().strip() == key
    again, generated_again = load_or_create_key(env_key=None, home=home)
    assert (again, generated_again) == (key, False)
    assert [p.name for p in home.iterdir()] == ["encryption.key"]  # no temporary files left
    token = Crypto(key).encrypt("x")
    assert Crypto(again).decrypt(token) == "x"


def test_key_file_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        load_or_create_key(env_key=None, home=tmp_path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "encryption.key").stat().st_mode) == 0o600


def test_loose_key_file_permissions_are_tightened(tmp_path: Path) -> None:
    key, _ = load_or_create_key(env_key=None, home=tmp_path)
    path = tmp_path / "encryption.key"
    path.chmod(0o644)
    assert load_or_create_key(env_key=None, home=tmp_path) == (key, False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    racers = 8
    barrier = Barrier(racers)

    def race(_: int) -> tuple[bytes, bool]:
        barrier.wait()
        return load_or_create_key(env_key=None, home=tmp_path)

    with ThreadPoolExecutor(racers) as pool:
        results = list(pool.map(race, range(racers)))
    assert len({key for key, _ in results}) == 1
    assert sum(generated for _, generated in results) == 1


@pytest.mark.parametrize("content", ["", "changeme\n", "short", "\x00\xff garbage"])
def test_corrupt_key_file_is_reported_with_its_path(tmp_path: Path, content: str) -> None:
    path = tmp_path / "encryption.key"
    path.write_text(content, encoding="latin-1")
    path.chmod(0o600)
    with pytest.raises(InvalidEncryptionKey) as info:
        load_or_create_key(env_key=None, home=tmp_path)
    assert str(path) in str(info.value)


def test_the_well_formed_sample_key_is_accepted(tmp_path: Path) -> None:
    assert load_or_create_key(env_key=_VALID, home=tmp_path) == (_VALID.encode(), False)


def test_env_key_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    assert load_or_create_key(env_key=key.decode(), home=tmp_path) == (key, False)
    assert load_or_create_key(env_key=f"  {key.decode()}\n", home=tmp_path) == (key, False)
    assert not (tmp_path / "encryption.key").exists()


# Fixed values: xdist workers must collect identical parameter ids.
_VALID = base64.urlsafe_b64encode(bytes(range(100, 132))).decode()

HOSTILE_ENV_KEYS = [
    "",
    "   ",
    "\n",
    "changeme",
    "CHANGEME",
    "change-me",
    "secret",
    "password",
    "your-key-here",
    "<your key>",
    "${KAAS_ENCRYPTION_KEY}",
    "xxx",
    "todo",
    "null",
    "none",
    "a",
    "short-key",
    _VALID[:-1],  # one character missing
    _VALID[:-1] + "A",  # no padding
    _VALID + "A",  # one too many
    _VALID[:20] + "+/" + _VALID[22:],  # standard, not URL-safe, base64
    _VALID[:20] + "!!" + _VALID[22:],  # characters outside the alphabet
    _VALID[:20] + "  " + _VALID[22:],  # embedded whitespace
    base64.urlsafe_b64encode(b"\x00" * 32).decode(),  # all zero bytes
    base64.urlsafe_b64encode(b"changeme" * 4).decode(),  # well-formed but made up
    base64.urlsafe_b64encode(b"k" * 31).decode(),  # 31 bytes
    base64.urlsafe_b64encode(bytes(range(24))).decode(),  # 24 bytes (an AES-192 key)
    "changemechangemechangemechangemechangemecha=",  # right shape, placeholder text
    "é" * 44,
    "\x00" * 44,
]


@pytest.mark.parametrize("value", HOSTILE_ENV_KEYS)
def test_hostile_env_keys_are_refused_without_echoing_them(value: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidEncryptionKey) as info:
        load_or_create_key(env_key=value, home=tmp_path)
    message = str(info.value)
    assert "KAAS_ENCRYPTION_KEY" in message
    assert "Fernet.generate_key" in message  # tells the operator how to make a good one
    if len(value.strip()) >= 8:  # shorter strings occur in any English sentence
        assert value.strip() not in message
    assert not (tmp_path / "encryption.key").exists()


@pytest.mark.parametrize("keys", [b"", [], [b"not-a-key"], "changeme"])
def test_crypto_refuses_bad_keys(keys: object) -> None:
    with pytest.raises(InvalidEncryptionKey):
        Crypto(keys)  # type: ignore[arg-type]
