"""The local backup store: atomic writes, private permissions, and keys that can't escape the store."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from storage.backup_store import BackupNotFound, BackupStore, LocalBackupStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> LocalBackupStore:
    return LocalBackupStore(tmp_path / "backups")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_round_trip(store: LocalBackupStore) -> None:
    assert isinstance(store, BackupStore)
    key = "t1/prod/2025-01-01t12-00-00.tar.gz"
    assert not store.exists(key)
    with store.open_write(key) as f:
        f.write(b"first ")
        f.write(b"archive")
    assert store.exists(key)
    assert store.size(key) == len(b"first archive")
    with store.open_read(key) as f:
        assert f.read() == b"first archive"

    with store.open_write(key) as f:
        f.write(b"second")
    with store.open_read(key) as f:
        assert f.read() == b"second"

    assert store.delete(key) is True
    assert not store.exists(key)
    assert store.delete(key) is False


def test_failed_write_leaves_nothing(store: LocalBackupStore) -> None:
    with pytest.raises(RuntimeError, match="export broke"), store.open_write("t1/c/new.tar.gz") as f:
        f.write(b"half an archive")
        raise RuntimeError("export broke")
    assert not store.exists("t1/c/new.tar.gz")
    assert _files(store.root) == []


def test_failed_overwrite_keeps_the_old_blob(store: LocalBackupStore) -> None:
    with store.open_write("b.tar.gz") as f:
        f.write(b"good")
    with pytest.raises(KeyboardInterrupt), store.open_write("b.tar.gz") as f:
        f.write(b"partial")
        raise KeyboardInterrupt
    with store.open_read("b.tar.gz") as f:
        assert f.read() == b"good"
    assert _files(store.root) == [store.root / "b.tar.gz"]


def test_directories_0700_and_files_0600(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # a permissive umask must not leak into the store's modes
    try:
        existing = tmp_path / "wide-open"
        existing.mkdir(mode=0o777)
        store = LocalBackupStore(existing)
        with store.open_write("team/cluster/x.tar.gz") as f:
            f.write(b"data")
    finally:
        os.umask(old_umask)
    assert _mode(store.root) == 0o700
    assert _mode(store.root / "team") == 0o700
    assert _mode(store.root / "team" / "cluster") == 0o700
    assert _mode(store.root / "team" / "cluster" / "x.tar.gz") == 0o600


def test_missing_blob(store: LocalBackupStore) -> None:
    with pytest.raises(BackupNotFound, match=r"nope\.tar\.gz"):
        store.open_read("nope.tar.gz")
    with pytest.raises(BackupNotFound):
        store.size("nope.tar.gz")
    assert store.exists("nope.tar.gz") is False
    assert store.delete("nope.tar.gz") is False


def test_directory_is_not_a_blob(store: LocalBackupStore) -> None:
    with store.open_write("team/a.tar.gz") as f:
        f.write(b"x")
    with pytest.raises(BackupNotFound):
        store.open_read("team")
    with pytest.raises(BackupNotFound):
        store.size("team")
    assert store.exists("team") is False
    assert store.delete("team") is False


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "a/../../x",
        "a/..",
        "/abs",
        "a//b",
        "a/",
        "a/./b",
        "A",
        "Team/x",
        "caf\u00e9",
        "\u0430bc",  # Cyrillic a
        "a\x00b",
        "a b",
        "a\\b",
        "",
        ".hidden",
        "-dash",
        "a" * 202,
        "a/" + "b" * 200,
    ],
)
def test_hostile_keys_are_refused(store: LocalBackupStore, key: str) -> None:
    for call in (store.open_read, store.size, store.delete, store.exists, store.open_write):
        with pytest.raises(ValueError, match="invalid backup key"):
            call(key)
    assert _files(store.root) == []


def test_non_string_key_is_refused(store: LocalBackupStore) -> None:
    with pytest.raises(ValueError, match="invalid backup key"):
        store.exists(None)  # type: ignore[arg-type]


def test_longest_valid_key(store: LocalBackupStore) -> None:
    key = "a" * 201
    with store.open_write(key) as f:
        f.write(b"ok")
    assert store.size(key) == 2


def test_symlink_out_of_the_store_is_refused(store: LocalBackupStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "link").symlink_to(outside)
    with pytest.raises(ValueError, match="outside the backup store"):
        store.open_write("link/x.tar.gz")
    with pytest.raises(ValueError, match="outside the backup store"):
        store.exists("link/x.tar.gz")
    assert list(outside.iterdir()) == []
