"""Backups in a Supabase Storage bucket, through the project's one Storage client
(SupabaseProject, sources/storage_api.py: sync, since the store is called from worker threads),
plus a mirror that keeps a second copy in a local folder.

What the old system got wrong here, and how this store avoids it:
- a listing stops at 100 entries: listings follow Storage's list-v2 cursor to the last page, and keep
  only the exact prefix asked for (the old folder listing matches it case-insensitively);
- the bucket may be public: backups (with secrets in them) are never written to a public bucket;
- an upload cut off halfway must never look complete: a part is spooled locally and uploaded whole
  on commit; the backup's summary is written last by BackupWriter;
- errors were swallowed: every failure is one line, 5xx / timeouts / resets are retried a few times
  and then fail loudly; 4xx are never retried. The key never appears in a message."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from typing import BinaryIO

from ..core.errors import ConfigError, TenantBackupError
from ..sources.storage_api import StorageTooLarge, read_chunks
from ..sources.supabase_http import SupabaseProject
from .base import ObjectInfo

DEFAULT_UPLOAD_LIMIT = 50 * 1024 * 1024  # Supabase's default per-file upload limit (global, per project)
SPOOL_MEMORY = 8 * 1024 * 1024  # a part bigger than this is spooled to a temp file, not held in memory
RECHECK_SECONDS = 60  # how long a "bucket exists and is private" check is trusted
MIB = 1024 * 1024


def check_key_name(key: str) -> None:
    if any(p in ("", ".", "..") for p in key.split("/")):
        raise ValueError(f"bad object key {key!r}")


def spool_body(spool):
    """A body callable for SupabaseProject.storage_upload over a spooled file: each try reads it
    from the start, in chunks (a part past SPOOL_MEMORY is a temp file, never read whole)."""
    def body():
        spool.flush()
        spool.seek(0)
        return read_chunks(spool)
    return body


class _PartWriter:
    """Spools one object (memory, then a temp file past SPOOL_MEMORY) and uploads it whole on
    commit, so a half-written object is never visible. Abort uploads nothing."""

    def __init__(self, store: "SupabaseStorageStore", key: str):
        check_key_name(key)
        self._store, self._key = store, key
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
        self.size = 0

    def write(self, data: bytes) -> None:
        try:
            self._spool.write(data)
        except OSError as err:
            self.abort()
            raise TenantBackupError(f"spooling {self._key} for upload failed: {err.strerror or err}; "
                                    f"free space in the temp folder ({tempfile.gettempdir()})") from None
        self.size += len(data)

    def commit(self) -> None:
        try:
            self._store._upload(self._key, self._spool, self.size)
        finally:
            self._spool.close()

    def abort(self) -> None:
        self._spool.close()


class SupabaseStorageStore:
    """A private Supabase Storage bucket, laid out as the folder store:
    tenant-backups/{org}/{date}/{file}. `url` is the project URL (SUPABASE_URL), `service_key`
    the service role key. `upload_limit` is the project's per-file upload limit when the bucket
    sets none (50 MB unless the project's settings raised or lowered it)."""

    def __init__(self, url: str, service_key: str, bucket: str = "backups", timeout: float = 60,
                 upload_limit: int = DEFAULT_UPLOAD_LIMIT, project: SupabaseProject | None = None):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"SUPABASE_URL {url!r} is not a URL; use the project URL, "
                              f"e.g. https://abcdefgh.supabase.co")
        if not service_key:
            raise ConfigError("no Supabase service role key; set SUPABASE_SERVICE_ROLE_KEY")
        if not bucket or "/" in bucket:
            raise ConfigError(f"{bucket!r} is not a bucket name; choose one without '/' (e.g. backups)")
        self.project = project or SupabaseProject(url, service_key, timeout=timeout)
        self.url = self.project.url
        self.bucket = bucket
        self.upload_limit = upload_limit
        self._role_problem = self.project.storage_key_problem()
        self._lock = threading.Lock()
        self._ready_until = 0.0  # writes allowed until then without asking again
        self._bucket_limit: int | None = None

    @property
    def retry_delays(self) -> tuple[float, ...]:
        return self.project.storage_delays

    @retry_delays.setter
    def retry_delays(self, delays: tuple[float, ...]) -> None:
        self.project.storage_delays = tuple(delays)

    # --- the store protocol ---
    def describe(self) -> str:
        return f"Supabase Storage bucket {self.bucket} at {self.url}"

    def problems(self) -> list[str]:
        """Side-effect free (reads only): can backups be written here and read back?"""
        if self._role_problem:
            return [self._role_problem]
        try:
            info = self.project.storage_bucket(self.bucket)
        except TenantBackupError as err:
            return [str(err)]
        if info is not None and info.get("public"):
            return [self._public_message()]
        return []  # a missing bucket is created, private, on the first write

    def open_writer(self, key: str) -> _PartWriter:
        self._require_key()
        return _PartWriter(self, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        w = self.open_writer(key)
        w.write(data)
        w.commit()

    def open_reader(self, key: str) -> BinaryIO:
        """The object's bytes as a file (spooled to a temp file past SPOOL_MEMORY): downloads
        stream, so memory stays bounded whatever the part's size."""
        self._require_key()
        check_key_name(key)
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)

        def fresh():
            spool.seek(0)
            spool.truncate()
            return spool.write

        try:
            self.project.storage_download(self.bucket, key, fresh, missing=f"backup file {key} is missing from "
                                          f"Supabase Storage bucket {self.bucket}")
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object under `prefix` (a folder), through every sub-folder, sorted by key."""
        self._require_key()
        out: dict[str, ObjectInfo] = {}
        for path, meta in self._list_under(prefix.strip("/"), folders=False):
            out[path] = ObjectInfo(path, int((meta or {}).get("size") or 0))
        return sorted(out.values(), key=lambda o: o.key)

    def list_dirs(self, prefix: str) -> list[str]:
        self._require_key()
        return sorted({path.rsplit("/", 1)[-1] for path, _ in self._list_under(prefix.strip("/"), folders=True)})

    def delete(self, keys: list[str]) -> None:
        """Batches of at most 1000 (the API's limit per call); missing keys are no error."""
        self._require_key()
        for k in keys:
            check_key_name(k)
        self.project.storage_delete(self.bucket, keys)

    # --- Supabase specifics ---
    def ensure_bucket(self) -> None:
        """The bucket exists and is private: created (private) when missing, refused when public."""
        self._require_key()
        with self._lock:
            if time.monotonic() < self._ready_until:
                return
            info = self.project.storage_bucket(self.bucket)
            if info is None:
                try:
                    self.project.storage_create_bucket(self.bucket, public=False)
                except TenantBackupError as err:
                    if "already exists" not in str(err):  # created meanwhile by another run: fine
                        raise ConfigError(f"the Supabase Storage bucket {self.bucket} does not exist and could not "
                                          f"be created ({err}); create it as a private bucket in the dashboard "
                                          f"(Storage → New bucket) or use the service role key") from None
                info = self.project.storage_bucket(self.bucket)
                if info is None:
                    raise ConfigError(f"the Supabase Storage bucket {self.bucket} was created but cannot be read "
                                      f"with this key; use the project's service role key")
            if info.get("public"):
                raise ConfigError(self._public_message())
            self._bucket_limit = info.get("file_size_limit")
            self._ready_until = time.monotonic() + RECHECK_SECONDS

    def max_object_bytes(self) -> int:
        """The largest object an upload may hold: the bucket's file_size_limit, else the project's
        upload limit. Backup parts must be cut below it."""
        if self._bucket_limit is None and time.monotonic() >= self._ready_until:
            info = self.project.storage_bucket(self.bucket)
            if info is not None:
                self._bucket_limit = info.get("file_size_limit")
        limit = self._bucket_limit
        return min(limit, self.upload_limit) if limit else self.upload_limit

    def close(self) -> None:
        self.project.close()

    # --- internals ---
    def _public_message(self) -> str:
        return (f"the Supabase Storage bucket {self.bucket} is public: anyone with a file's address could download "
                f"the backups; make it private (dashboard → Storage → {self.bucket} → Edit bucket → uncheck Public "
                f"bucket) or choose another bucket name")

    def _require_key(self) -> None:
        if self._role_problem:
            raise ConfigError(self._role_problem)

    def _list_under(self, folder: str, folders: bool):
        """(full key, metadata) of every object under `folder` (recursive), or of its sub-folders.
        Hidden names (.emptyFolderPlaceholder, ours) are skipped."""
        prefix = f"{folder}/" if folder else ""
        for e in self.project.storage_list(self.bucket, prefix, folders):
            rest = e["name"][len(prefix):]
            if not any(p.startswith(".") for p in rest.split("/")):
                yield e["name"], e.get("metadata")

    def _upload(self, key: str, spool, size: int) -> None:
        self.ensure_bucket()
        limit = self.max_object_bytes()
        if size > limit:
            raise TenantBackupError(self._too_large(key, size, limit))
        try:
            self.project.storage_upload(self.bucket, key, spool_body(spool), size)  # upsert: a retry is harmless
        except StorageTooLarge:
            raise TenantBackupError(self._too_large(key, size, None)) from None

    def _too_large(self, key: str, size: int, limit: int | None) -> str:
        where = f"the {limit // MIB if limit >= MIB else limit} {'MB' if limit >= MIB else 'byte'} upload limit" \
            if limit else "the upload size limit"
        return (f"{key} ({size} bytes) is over {where} of Supabase Storage bucket {self.bucket}; lower the part size "
                f"([store] part_size_mb in the config) or raise the bucket's file size limit")


class _MirrorWriter:
    def __init__(self, primary_writer, mirror_writer, store: "MirroredStore", key: str):
        self._p, self._m, self._store, self._key = primary_writer, mirror_writer, store, key

    def write(self, data: bytes) -> None:
        try:
            self._m.write(data)
        except BaseException:
            self._p.abort()
            raise
        try:
            self._p.write(data)
        except BaseException:
            self._m.abort()
            raise

    def commit(self) -> None:
        """The mirror first: a primary object then always has its copy. A failure on either side
        fails the write; a mirror copy whose primary failed is removed."""
        try:
            self._m.commit()
        except BaseException as err:
            self._p.abort()
            raise _mirror_error(self._store, err) from None
        try:
            self._p.commit()
        except BaseException:
            try:
                self._store.mirror.delete([self._key])
            except Exception:  # noqa: BLE001 - best effort; BackupWriter.abort deletes it again
                pass
            raise

    def abort(self) -> None:
        for w in (self._p, self._m):
            try:
                w.abort()
            except Exception:  # noqa: BLE001 - aborting is best effort
                pass


def _mirror_error(store: "MirroredStore", err: BaseException) -> TenantBackupError:
    detail = str(err) if isinstance(err, TenantBackupError) else f"{type(err).__name__}: {err}"
    return TenantBackupError(f"the mirror copy ({store.mirror.describe()}) could not be written: {detail}; "
                             f"the backup is not complete without it")


class MirroredStore:
    """Every write goes to both stores (the mirror, a local folder, is the copy outside Supabase:
    the 3-2-1 rule); reads and listings come from the primary; deletes go to both. A mirror that
    cannot be written fails the write: a backup claiming a mirror it lacks is quietly incomplete."""

    def __init__(self, primary, mirror):
        self.primary, self.mirror = primary, mirror

    def describe(self) -> str:
        return f"{self.primary.describe()}, mirrored to {self.mirror.describe()}"

    def problems(self) -> list[str]:
        return list(self.primary.problems()) + [f"mirror: {p}" for p in self.mirror.problems()]

    def open_writer(self, key: str) -> _MirrorWriter:
        p = self.primary.open_writer(key)
        try:
            m = self.mirror.open_writer(key)
        except BaseException as err:
            p.abort()
            raise _mirror_error(self, err) from None
        return _MirrorWriter(p, m, self, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        w = self.open_writer(key)
        w.write(data)
        w.commit()

    def open_reader(self, key: str) -> BinaryIO:
        return self.primary.open_reader(key)

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self.primary.list(prefix)

    def list_dirs(self, prefix: str) -> list[str]:
        return self.primary.list_dirs(prefix)

    def delete(self, keys: list[str]) -> None:
        first: BaseException | None = None
        for store in (self.primary, self.mirror):
            try:
                store.delete(keys)
            except BaseException as err:  # noqa: BLE001 - try both, report the first failure
                first = first or err
        if first is not None:
            raise first

    def max_object_bytes(self) -> int:
        limit = getattr(self.primary, "max_object_bytes", None)
        return limit() if limit else DEFAULT_UPLOAD_LIMIT

    def ensure_bucket(self) -> None:
        ensure = getattr(self.primary, "ensure_bucket", None)
        if ensure:
            ensure()

    def close(self) -> None:
        for store in (self.primary, self.mirror):
            close = getattr(store, "close", None)
            if close:
                close()
