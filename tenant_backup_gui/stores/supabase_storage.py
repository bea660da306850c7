"""Backups in a Supabase Storage bucket, through supabase-py's storage client (sync: the store is
called from worker threads), plus a mirror that keeps a second copy in a local folder.

What the old system got wrong here, and how this store avoids it:
- a listing stops at 100 entries: listings follow Storage's list-v2 cursor to the last page, and keep
  only the exact prefix asked for (the old folder listing matches it case-insensitively);
- the bucket may be public: backups (with secrets in them) are never written to a public bucket;
- an upload cut off halfway must never look complete: a part is spooled locally and uploaded whole
  on commit; the backup's summary is written last by BackupWriter;
- errors were swallowed: every failure is one line, 5xx / timeouts / resets are retried a few times
  and then fail loudly; 4xx are never retried. The key never appears in a message."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from typing import BinaryIO, Callable, Iterator, TypeVar
from urllib.parse import quote

import httpx
from storage3.exceptions import StorageApiError
from supabase import create_client
from supabase.lib.client_options import SyncClientOptions

from ..core.errors import ConfigError, ConnectionFailed, TenantBackupError
from ..core.supabase_keys import key_role
from .base import ObjectInfo

DEFAULT_UPLOAD_LIMIT = 50 * 1024 * 1024  # Supabase's default per-file upload limit (global, per project)
DELETE_BATCH = 1000  # the Storage API refuses more objects per delete call
LIST_PAGE = 1000  # entries per list call
SPOOL_MEMORY = 8 * 1024 * 1024  # a part bigger than this is spooled to a temp file, not held in memory
RECHECK_SECONDS = 60  # how long a "bucket exists and is private" check is trusted
MIB = 1024 * 1024

T = TypeVar("T")


def _key_problem(key: str) -> str | None:
    """The anon (or a user's) key reads an empty private bucket without any error: refuse it up
    front. A key whose role cannot be read is left for the server to judge."""
    role = key_role(key)
    if role in (None, "service_role"):
        return None
    return (f"the Supabase key is the {role} key, which sees nothing in a private bucket; use the project's "
            f"service role key (Project Settings → API) in SUPABASE_SERVICE_ROLE_KEY")


def _status(err: StorageApiError) -> int:
    try:
        return int(err.status)
    except (TypeError, ValueError):
        return 0


def _api_error(response: httpx.Response) -> StorageApiError:
    """What storage3 raises for an error response, for the requests we make ourselves."""
    try:
        doc = response.json()
        return StorageApiError(doc["message"], doc["error"], doc["statusCode"])
    except (KeyError, TypeError, ValueError):
        return StorageApiError(f"HTTP {response.status_code}", "InternalError", response.status_code)


class _PartWriter:
    """Spools one object (memory, then a temp file past SPOOL_MEMORY) and uploads it whole on
    commit, so a half-written object is never visible. Abort uploads nothing."""

    def __init__(self, store: "SupabaseStorageStore", key: str):
        store._check_key_name(key)
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

    retry_delays: tuple[float, ...] = (0.5, 1.5, 4.0)  # seconds between tries: four tries in all

    def __init__(self, url: str, service_key: str, bucket: str = "backups", timeout: float = 60,
                 upload_limit: int = DEFAULT_UPLOAD_LIMIT):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"SUPABASE_URL {url!r} is not a URL; use the project URL, "
                              f"e.g. https://abcdefgh.supabase.co")
        if not service_key:
            raise ConfigError("no Supabase service role key; set SUPABASE_SERVICE_ROLE_KEY")
        if not bucket or "/" in bucket:
            raise ConfigError(f"{bucket!r} is not a bucket name; choose one without '/' (e.g. backups)")
        self.url = url.rstrip("/")
        self.bucket = bucket
        self.upload_limit = upload_limit
        self._key = service_key
        self._role_problem = _key_problem(service_key)
        self._http = httpx.Client(timeout=timeout, follow_redirects=True)
        try:
            self._client = create_client(self.url, service_key, SyncClientOptions(httpx_client=self._http))
        except Exception as err:  # noqa: BLE001 - supabase-py's own URL/key checks
            raise ConfigError(f"cannot use SUPABASE_URL {self.url}: {self._scrub(str(err))}") from None
        self._storage = self._client.storage
        self._object_url = str(self._client.storage_url).rstrip("/") + "/object/"
        self._lock = threading.Lock()
        self._ready_until = 0.0  # writes allowed until then without asking again
        self._bucket_limit: int | None = None

    # --- the store protocol ---
    def describe(self) -> str:
        return f"Supabase Storage bucket {self.bucket} at {self.url}"

    def problems(self) -> list[str]:
        """Side-effect free (reads only): can backups be written here and read back?"""
        if self._role_problem:
            return [self._role_problem]
        try:
            info = self._get_bucket()
        except TenantBackupError as err:
            return [str(err)]
        if info is not None and info.public:
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
        self._check_key_name(key)
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)

        def fetch() -> None:
            spool.seek(0)
            spool.truncate()
            url = self._object_url + quote(self.bucket, safe="") + "/" + quote(key, safe="/")
            with self._http.stream("GET", url, headers=self._headers()) as r:
                if r.status_code >= 400:
                    r.read()
                    raise _api_error(r)
                for chunk in r.iter_bytes(1 << 20):
                    spool.write(chunk)

        try:
            self._call(f"downloading {key}", fetch, missing=key)
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
        keys = list(dict.fromkeys(keys))
        for k in keys:
            self._check_key_name(k)
        bucket = self._storage.from_(self.bucket)
        for i in range(0, len(keys), DELETE_BATCH):
            batch = keys[i:i + DELETE_BATCH]
            try:
                self._call(f"deleting {len(batch)} backup files", lambda b=batch: bucket.remove(b), raw_404=True)
            except _NotFound:  # no bucket: nothing to delete
                return

    # --- Supabase specifics ---
    def ensure_bucket(self) -> None:
        """The bucket exists and is private: created (private) when missing, refused when public."""
        self._require_key()
        with self._lock:
            if time.monotonic() < self._ready_until:
                return
            info = self._get_bucket()
            if info is None:
                try:
                    self._call(f"creating the bucket {self.bucket}",
                               lambda: self._storage.create_bucket(self.bucket, options={"public": False}))
                except TenantBackupError as err:
                    if "already exists" not in str(err):  # created meanwhile by another run: fine
                        raise ConfigError(f"the Supabase Storage bucket {self.bucket} does not exist and could not "
                                          f"be created ({err}); create it as a private bucket in the dashboard "
                                          f"(Storage → New bucket) or use the service role key") from None
                info = self._get_bucket()
                if info is None:
                    raise ConfigError(f"the Supabase Storage bucket {self.bucket} was created but cannot be read "
                                      f"with this key; use the project's service role key")
            if info.public:
                raise ConfigError(self._public_message())
            self._bucket_limit = info.file_size_limit
            self._ready_until = time.monotonic() + RECHECK_SECONDS

    def max_object_bytes(self) -> int:
        """The largest object an upload may hold: the bucket's file_size_limit, else the project's
        upload limit. Backup parts must be cut below it."""
        if self._bucket_limit is None and time.monotonic() >= self._ready_until:
            info = self._get_bucket()
            if info is not None:
                self._bucket_limit = info.file_size_limit
        limit = self._bucket_limit
        return min(limit, self.upload_limit) if limit else self.upload_limit

    def close(self) -> None:
        self._http.close()

    # --- internals ---
    def _headers(self) -> dict[str, str]:
        return dict(self._client.options.headers)

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "<key>") if self._key else text

    def _reason(self, err: StorageApiError) -> str:
        """The server's own words: storage3 wraps a body it cannot parse (a gateway's) in a prefix."""
        text = str(err.message)
        prefix = "Unable to parse error message: "
        if text.startswith(prefix):
            try:
                text = str(json.loads(text[len(prefix):])["message"])
            except (ValueError, KeyError, TypeError):
                text = text[len(prefix):]
        return self._scrub(" ".join(text.split()))[:300]

    def _public_message(self) -> str:
        return (f"the Supabase Storage bucket {self.bucket} is public: anyone with a file's address could download "
                f"the backups; make it private (dashboard → Storage → {self.bucket} → Edit bucket → uncheck Public "
                f"bucket) or choose another bucket name")

    def _require_key(self) -> None:
        if self._role_problem:
            raise ConfigError(self._role_problem)

    @staticmethod
    def _check_key_name(key: str) -> None:
        if any(p in ("", ".", "..") for p in key.split("/")):
            raise ValueError(f"bad object key {key!r}")

    def _get_bucket(self):
        """The bucket's record, or None when it does not exist (or this key cannot see it)."""
        try:
            return self._call(f"reading the bucket {self.bucket}", lambda: self._storage.get_bucket(self.bucket),
                              raw_404=True)
        except _NotFound:
            return None

    def _list_under(self, folder: str, folders: bool) -> Iterator[tuple[str, dict | None]]:
        """(full key, metadata) of every object under `folder` (recursive), or of its sub-folders,
        page by page with Storage's list-v2 cursor. Not the folder listing (POST /object/list): it
        matches the folder case-insensitively and answers bare names, so `x/ACME/`'s files would
        pass for `x/acme/`'s. Names outside the exact prefix, and hidden ones
        (.emptyFolderPlaceholder, ours), are skipped."""
        bucket = self._storage.from_(self.bucket)
        prefix = f"{folder}/" if folder else ""
        cursor = None
        while True:
            opts = {"prefix": prefix, "limit": LIST_PAGE, "with_delimiter": folders}
            if cursor:
                opts["cursor"] = cursor
            try:
                page = self._call(f"listing {folder or 'the bucket'}", lambda o=opts: bucket.list_v2(o), raw_404=True)
            except _NotFound:  # no bucket yet: no backups
                return
            entries = [(f.name.rstrip("/"), None) for f in page.folders] if folders else \
                [(o.name, o.metadata) for o in page.objects]
            for path, meta in entries:
                rest = path[len(prefix):]
                if path.startswith(prefix) and rest and not any(p.startswith(".") for p in rest.split("/")):
                    yield path, meta
            if not page.hasNext:
                return
            cursor = page.nextCursor
            if not cursor:  # a listing cut short must not pass for a whole one
                raise TenantBackupError(f"listing {folder or 'the bucket'} at Supabase Storage {self.url} stopped: "
                                        f"more entries announced without a cursor to read them; try again")

    def _upload(self, key: str, spool, size: int) -> None:
        self.ensure_bucket()
        limit = self.max_object_bytes()
        if size > limit:
            raise TenantBackupError(self._too_large(key, size, limit))
        bucket = self._storage.from_(self.bucket)
        options = {"content-type": "application/octet-stream", "upsert": "true"}  # upsert: a retry is harmless

        def send() -> None:
            if size <= SPOOL_MEMORY:
                spool.seek(0)
                bucket.upload(key, spool.read(), options)
                return
            spool.flush()  # the spool's own buffer, onto the file descriptor we read from
            fd = spool.fileno()
            os.lseek(fd, 0, os.SEEK_SET)
            with open(fd, "rb", closefd=False) as body:  # storage3 streams a BufferedReader
                bucket.upload(key, body, options)

        try:
            self._call(f"uploading {key}", send)
        except _TooLarge:
            raise TenantBackupError(self._too_large(key, size, None)) from None

    def _too_large(self, key: str, size: int, limit: int | None) -> str:
        where = f"the {limit // MIB if limit >= MIB else limit} {'MB' if limit >= MIB else 'byte'} upload limit" \
            if limit else "the upload size limit"
        return (f"{key} ({size} bytes) is over {where} of Supabase Storage bucket {self.bucket}; lower the part size "
                f"([store] part_size_mb in the config) or raise the bucket's file size limit")

    def _call(self, what: str, fn: Callable[[], T], missing: str | None = None, raw_404: bool = False) -> T:
        """Run one request: retry 5xx, timeouts and dropped connections with backoff; map the rest
        to one-line errors."""
        tries = len(self.retry_delays) + 1
        for attempt in range(tries):
            try:
                return fn()
            except StorageApiError as err:
                status = _status(err)
                if status >= 500 and attempt + 1 < tries:
                    time.sleep(self.retry_delays[attempt])
                    continue
                if status >= 500:
                    raise self._gave_up(what, tries, f"HTTP {status}: {self._reason(err)}") from None
                raise self._mapped(what, err, status, missing, raw_404) from None
            except (httpx.TimeoutException, httpx.TransportError) as err:
                if attempt + 1 < tries:
                    time.sleep(self.retry_delays[attempt])
                    continue
                reason = "timed out" if isinstance(err, httpx.TimeoutException) else \
                    self._scrub(str(err) or type(err).__name__)
                raise self._gave_up(what, tries, reason) from None
            except (ValueError, KeyError, TypeError) as err:  # an answer storage3 could not read (pydantic, JSON)
                raise TenantBackupError(f"{what}: Supabase Storage at {self.url} gave an answer that could not be "
                                        f"read ({self._scrub(' '.join(str(err).split()))[:200]}); check that "
                                        f"SUPABASE_URL is the project URL") from None
        raise AssertionError("unreachable")

    def _gave_up(self, what: str, tries: int, reason: str) -> ConnectionFailed:
        return ConnectionFailed(f"{what} at Supabase Storage {self.url} failed after {tries} tries ({reason}); "
                                f"check the network and the project's status, then try again")

    def _mapped(self, what: str, err: StorageApiError, status: int, missing: str | None, raw_404: bool) -> Exception:
        message = self._reason(err)
        if status == 404 and raw_404:
            return _NotFound(message)
        if status == 404 and missing is not None:
            return TenantBackupError(f"backup file {missing} is missing from Supabase Storage bucket {self.bucket}")
        if status == 404 and "bucket" in message.lower():
            return ConfigError(f"the Supabase Storage bucket {self.bucket} does not exist at {self.url}; "
                               f"run a backup to create it (private) or check the bucket name")
        if status == 413:
            return _TooLarge(message)
        if status in (401, 403):
            return ConnectionFailed(f"Supabase Storage refused the key while {what} ({message}); use the project's "
                                    f"service role key (Project Settings → API) in SUPABASE_SERVICE_ROLE_KEY")
        if status == 415:
            return ConfigError(f"the Supabase Storage bucket {self.bucket} refused the file type while {what} "
                               f"({message}); allow application/octet-stream in the bucket's allowed MIME types "
                               f"or clear that setting")
        return TenantBackupError(f"{what} at Supabase Storage {self.url} failed: {message} "
                                 f"(status {err.status}); check the project's Storage settings and try again")


class _NotFound(TenantBackupError):
    """A 404 the caller turns into 'absent' (a missing bucket)."""


class _TooLarge(TenantBackupError):
    """The server's 413, re-worded by the uploader with the key and its size."""


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
