"""Backups in a local folder. Every object is written to a hidden temp file, flushed to disk and
renamed into place, so a reader never sees half an object; a crash leaves only temp files,
which listings ignore."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import BinaryIO

from ..core.errors import ConfigError, TenantBackupError
from ..core.files import temp_folder
from .base import ObjectInfo


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _io_error(err: OSError, root: Path) -> TenantBackupError:
    if err.errno == errno.ENOSPC:
        return TenantBackupError(f"the backup folder {root} is full; free space there or choose another "
                                 f"folder (TENANT_BACKUP_STORE), then run the backup again")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ConfigError(f"the backup folder {root} is not writable ({err.strerror}); fix its permissions "
                           f"or choose another folder (TENANT_BACKUP_STORE)")
    where = f" ({err.filename})" if err.filename else ""
    return TenantBackupError(f"writing to the backup folder {root} failed{where}: {err.strerror or err}; "
                             f"check that the folder and what is in it can be written")


class _FileWriter:
    def __init__(self, store: "FolderStore", key: str):
        self._store = store
        self._final = store.path_of(key)
        folder = temp_folder(key)  # a tenant's file copies: one .tmp/ folder per tenant (core/files.py)
        tmp_dir = store.path_of(folder) if folder else self._final.parent
        self._tmp = tmp_dir / f".{self._final.name}.tmp-{os.getpid()}"
        try:
            self._final.parent.mkdir(parents=True, exist_ok=True)
            tmp_dir.mkdir(parents=True, exist_ok=True)
            self._fh = open(self._tmp, "wb")
        except OSError as err:
            raise _io_error(err, store.root) from None

    def write(self, data: bytes) -> None:
        try:
            self._fh.write(data)
        except OSError as err:
            self.abort()
            raise _io_error(err, self._store.root) from None

    def commit(self) -> None:
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self._tmp, self._final)
            _fsync_dir(self._final.parent)
        except OSError as err:
            self.abort()
            raise _io_error(err, self._store.root) from None

    def abort(self) -> None:
        try:
            self._fh.close()
        except OSError:
            pass
        try:
            self._tmp.unlink()
        except OSError:
            pass


class FolderStore:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()

    def describe(self) -> str:
        return f"folder {self.root}"

    def path_of(self, key: str) -> Path:
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"bad object key {key!r}")
        return self.root.joinpath(*parts)

    def problems(self) -> list[str]:
        """Side-effect free: can a backup be written here?"""
        probe = self.root
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            return [f"the backup folder {self.root} is not a folder ({probe} is a file); choose another (TENANT_BACKUP_STORE)"]
        if not os.access(probe, os.W_OK | os.X_OK):
            return [f"the backup folder {self.root} is not writable; fix its permissions or choose another (TENANT_BACKUP_STORE)"]
        return []

    def open_writer(self, key: str) -> _FileWriter:
        return _FileWriter(self, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        w = self.open_writer(key)
        w.write(data)
        w.commit()

    def open_reader(self, key: str) -> BinaryIO:
        try:
            return open(self.path_of(key), "rb")
        except FileNotFoundError:
            raise TenantBackupError(f"backup file {key} is missing from {self.root}") from None

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self.path_of(prefix.rstrip("/")) if prefix.strip("/") else self.root
        out = []
        if not base.is_dir():
            return out
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for f in filenames:
                if f.startswith("."):
                    continue
                p = Path(dirpath, f)
                try:
                    size = p.stat().st_size
                except FileNotFoundError:
                    continue
                out.append(ObjectInfo(p.relative_to(self.root).as_posix(), size))
        out.sort(key=lambda o: o.key)
        return out

    def list_dirs(self, prefix: str) -> list[str]:
        base = self.path_of(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        return sorted(d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))

    def sweep_temp(self, prefix: str, count_only: bool = False) -> tuple[int, int]:
        """Remove the hidden temp files (`.name.tmp-PID`) a killed writer left under prefix; only
        called while holding the tenant's lock, so no live writer owns one. (files, bytes) removed
        (with count_only: found, and left alone)."""
        base = self.path_of(prefix.rstrip("/"))
        files = size = 0
        if not base.is_dir():
            return 0, 0
        for dirpath, _dirs, filenames in os.walk(base):
            for f in filenames:
                if f.startswith(".") and ".tmp-" in f:
                    p = Path(dirpath, f)
                    try:
                        n = p.stat().st_size
                        if not count_only:
                            p.unlink()
                    except FileNotFoundError:
                        continue
                    files, size = files + 1, size + n
        return files, size

    def delete(self, keys: list[str]) -> None:
        parents = set()
        for key in keys:
            p = self.path_of(key)
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            parents.add(p.parent)
        for d in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            # Remove emptied date and tenant folders, never the root.
            while d != self.root and d.is_relative_to(self.root):
                try:
                    d.rmdir()
                except OSError:
                    break
                d = d.parent
