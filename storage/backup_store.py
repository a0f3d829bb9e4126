"""Blob storage for backup archives: a private local directory today, an object store tomorrow.

Callers only see `BackupStore`: write a blob through a context manager (it appears atomically, whole or not at
all), read it back as a binary stream, ask its size, delete it. Keys look like object-store keys
(`team/cluster/2025-01-01T12-00-00.tar.gz`) and are validated before they touch the file system, so a key can
never name a file outside the store.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from storage.errors import StorageError

KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9._/-]{0,200}")
"""Keys an object store and every file system accept alike: lower case, digits, `.`, `_`, `-`, `/`."""

_DIR_MODE = 0o700
_FILE_MODE = 0o600
# `~` is outside the key alphabet, so a temporary file can never be mistaken for (or collide with) a blob.
_TEMP_SUFFIX = ".partial~"


class BackupNotFound(StorageError):
    """No blob is stored under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no backup archive is stored under {key!r}")
        self.key = key


@runtime_checkable
class BackupStore(Protocol):
    """Where backup archives live; keys are validated by `validate_key`."""

    def open_write(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A stream to write the blob `key`; it appears (replacing any old one) only if the block succeeds."""
        ...

    def open_read(self, key: str) -> BinaryIO:
        """The blob `key` as a binary stream the caller closes; raises `BackupNotFound`."""
        ...

    def size(self, key: str) -> int:
        """The blob's size in bytes; raises `BackupNotFound`."""
        ...

    def delete(self, key: str) -> bool:
        """Remove the blob; False when there was none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under `key`."""
        ...


def validate_key(key: object) -> str:
    """`key` if it is a well-formed store key, else ValueError (no `..`/`.`/empty segment, no leading `/`)."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise ValueError(
            f"invalid backup key {key!r}: use 1-201 characters of a-z, 0-9, '.', '_', '-' and '/', "
            "starting with a letter or digit"
        )
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise ValueError(f"invalid backup key {key!r}: empty, '.' and '..' path segments are not allowed")
    return key


class LocalBackupStore:
    """Blobs as files under `root` (created 0700); every blob file is 0600."""

    def __init__(self, root: Path) -> None:
        root = Path(root)
        root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        # mkdir's mode is filtered by the umask, and an existing directory keeps its mode: set it explicitly,
        # since archives hold Secrets.
        os.chmod(root, _DIR_MODE)
        self.root = root.resolve()

    def __repr__(self) -> str:
        return f"LocalBackupStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        validate_key(key)
        path = (self.root / key).resolve()
        # The key alphabet already rules out escapes; this also catches a symlink planted inside the store.
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"invalid backup key {key!r}: it resolves outside the backup store")
        return path

    def _make_parents(self, path: Path) -> None:
        missing = []
        parent = path.parent
        while parent != self.root and not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another writer created it meanwhile
                directory.mkdir(mode=_DIR_MODE)
                os.chmod(directory, _DIR_MODE)

    @contextlib.contextmanager
    def _write(self, path: Path) -> Iterator[BinaryIO]:
        self._make_parents(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=_TEMP_SUFFIX)  # mkstemp makes it 0600
        try:
            with os.fdopen(fd, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # The rename is durable only once the directory entry is on disk too.
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def open_write(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Write the blob `key` atomically: a temporary file, fsync, rename; on error nothing appears."""
        return self._write(self._path(key))

    def open_read(self, key: str) -> BinaryIO:
        """The blob `key`, opened for reading; raises `BackupNotFound`."""
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BackupNotFound(key) from None

    def size(self, key: str) -> int:
        """The blob's size in bytes; raises `BackupNotFound`."""
        path = self._path(key)
        if not path.is_file():
            raise BackupNotFound(key)
        return path.stat().st_size

    def delete(self, key: str) -> bool:
        """Remove the blob; False when there was none."""
        path = self._path(key)
        if not path.is_file():
            return False
        try:
            path.unlink()
        except FileNotFoundError:  # removed concurrently
            return False
        return True

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under `key`."""
        return self._path(key).is_file()
