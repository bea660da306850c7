"""Supabase Storage's REST API, as SupabaseProject speaks it (the class mixes this in): the one
implementation behind both the backup store in a bucket (stores/supabase_storage.py) and a tenant's
own files (stores/tenant_files.py).

Sync, on the caller's (worker) thread, over an httpx session of the project's own; the same retry
policy as its PostgREST requests: 5xx, timeouts and dropped connections are tried again with
backoff, a 4xx never (it is an answer). Bodies stream both ways: a download hands chunks to a sink,
an upload reads its body from a callable that can start it over for a retry."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Callable, Iterable, Iterator
from urllib.parse import quote

import httpx

from ..core.errors import ConfigError, ConnectionFailed, TenantBackupError
from ..core.supabase_keys import key_role
from ..core.text import count

DELETE_BATCH = 1000  # the Storage API refuses more objects per delete call
LIST_PAGE = 1000  # entries per list call
CHUNK = 1 << 20


class StorageNotFound(TenantBackupError):
    """A 404 the caller turns into 'absent' (a missing bucket or object)."""


class StorageTooLarge(TenantBackupError):
    """The server's 413: the caller words it with the object's name and size."""


def _path(key: str) -> str:
    """An object key in a URL: every reserved character escaped except '/', so keys with spaces,
    `!*'()&$=@;:+,?` and the like reach the server as they are."""
    return quote(key, safe="/")


class StorageApi:
    """Mixed into SupabaseProject: needs `url`, `host`, `_key` and `timeout`."""

    storage_delays: tuple[float, ...] = (0.5, 1.5, 4.0)  # seconds between tries: four tries in all

    # ------------------------------------------------------------ session
    def _storage_http(self) -> httpx.Client:
        lock = self.__dict__.setdefault("_storage_lock", threading.Lock())
        with lock:
            http = self.__dict__.get("_storage_client")
            if http is None:
                http = httpx.Client(timeout=self.timeout, follow_redirects=True,
                                    headers={"apikey": self._key, "Authorization": f"Bearer {self._key}"})
                self.__dict__["_storage_client"] = http
            return http

    def storage_open(self) -> None:
        """Make the session now: httpx's TLS set-up (its CA bundle read) costs tens of ms, which a
        backup pays on a thread while the rows export rather than after."""
        self._storage_http()

    def close_storage(self) -> None:
        http = self.__dict__.pop("_storage_client", None)
        if http is not None:
            http.close()

    @property
    def storage_url(self) -> str:
        return f"{self.url}/storage/v1"

    def storage_key_problem(self) -> str | None:
        """The anon (or a user's) key reads an empty private bucket without any error: refuse it up
        front. A key whose role cannot be read is left for the server to judge."""
        role = key_role(self._key)
        if role in (None, "service_role"):
            return None
        return (f"the Supabase key is the {role} key, which sees nothing in a private bucket; use the project's "
                f"service role key (Project Settings → API) in SUPABASE_SERVICE_ROLE_KEY")

    # ------------------------------------------------------------ one request, retried
    def storage_call(self, doing: str, send: Callable[[httpx.Client], httpx.Response], *,
                     missing: str | None = None, bucket: str | None = None, ok_missing: bool = False
                     ) -> httpx.Response | None:
        """Run one request: retry 5xx, timeouts and dropped connections with backoff; map the rest
        to one-line errors. ok_missing: a 404 answers None. missing: the message for a 404."""
        http = self._storage_http()
        tries = len(self.storage_delays) + 1
        for attempt in range(tries):
            try:
                r = send(http)
            except (httpx.TimeoutException, httpx.TransportError) as err:
                if attempt + 1 < tries:
                    time.sleep(self.storage_delays[attempt])
                    continue
                reason = "timed out" if isinstance(err, httpx.TimeoutException) else \
                    self._scrub(str(err) or type(err).__name__)
                raise self._gave_up(doing, tries, reason) from None
            status, message = self._status(r)
            if status < 400 and r.status_code < 400:
                return r
            if status >= 500 or r.status_code >= 500:
                if attempt + 1 < tries:
                    time.sleep(self.storage_delays[attempt])
                    continue
                raise self._gave_up(doing, tries, f"HTTP {status}: {message}")
            if status == 404 and ok_missing:
                return None
            raise self._mapped(doing, status, message, missing, bucket)
        raise AssertionError("unreachable")

    def _status(self, r: httpx.Response) -> tuple[int, str]:
        """(status, the server's words): Storage may put the real status in its body's statusCode."""
        if r.status_code < 400:
            return r.status_code, ""
        try:
            r.read()
            doc = r.json()
        except (ValueError, httpx.HTTPError):
            doc = {}
        status = r.status_code
        if isinstance(doc, dict):
            try:
                status = int(doc.get("statusCode") or status)
            except (TypeError, ValueError):
                pass
            message = str(doc.get("message") or doc.get("error") or r.reason_phrase)
        else:
            message = r.reason_phrase
        if status < 400:  # a body that claims success on an error response: trust the response
            status = r.status_code
        return status, self._scrub(" ".join(message.split()))[:300]

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "<key>") if self._key else text

    def _gave_up(self, doing: str, tries: int, reason: str) -> ConnectionFailed:
        return ConnectionFailed(f"{doing} at Supabase Storage {self.url} failed after {tries} tries ({reason}); "
                                f"check the network and the project's status, then try again")

    def _mapped(self, doing: str, status: int, message: str, missing: str | None, bucket: str | None) -> Exception:
        if status == 404 and missing is not None:
            return StorageNotFound(missing)
        if status == 404 and "bucket" in message.lower() and bucket:
            return ConfigError(f"the Supabase Storage bucket {bucket} does not exist at {self.url}; "
                               f"check the bucket name")
        if status == 404:
            return StorageNotFound(f"{doing}: not found at Supabase Storage {self.url} ({message})")
        if status == 413:
            return StorageTooLarge(message)
        if status in (401, 403):
            return ConnectionFailed(f"Supabase Storage refused the key while {doing} ({message}); use the project's "
                                    f"service role key (Project Settings → API) in SUPABASE_SERVICE_ROLE_KEY")
        if status == 415:
            return ConfigError(f"the Supabase Storage bucket {bucket or ''} refused the file type while {doing} "
                               f"({message}); allow that type in the bucket's allowed MIME types or clear that setting")
        return TenantBackupError(f"{doing} at Supabase Storage {self.url} failed: {message} "
                                 f"(status {status}); check the project's Storage settings and try again")

    # ------------------------------------------------------------ buckets
    def storage_bucket(self, bucket: str) -> dict | None:
        """The bucket's record ({public, file_size_limit, …}), or None when it does not exist."""
        r = self.storage_call(f"reading the bucket {bucket}",
                              lambda h: h.get(f"{self.storage_url}/bucket/{quote(bucket, safe='')}"), ok_missing=True)
        return None if r is None else r.json()

    def storage_create_bucket(self, bucket: str, public: bool = False) -> None:
        self.storage_call(f"creating the bucket {bucket}", lambda h: h.post(
            f"{self.storage_url}/bucket", json={"id": bucket, "name": bucket, "public": public}))

    # ------------------------------------------------------------ objects
    def storage_list(self, bucket: str, prefix: str, folders: bool = False) -> Iterator[dict]:
        """Every object whose key starts with exactly `prefix` (through every sub-folder), or with
        folders=True the folders right under `prefix`, page by page with list-v2's cursor. Each
        object: {name, metadata: {size, eTag, mimetype, cacheControl, lastModified, …}}; a folder:
        {name}. Not the folder listing (POST /object/list): it matches case-insensitively and
        answers bare names. A missing bucket lists nothing."""
        cursor = None
        url = f"{self.storage_url}/object/list-v2/{quote(bucket, safe='')}"
        doing = f"listing {prefix or 'the bucket'} in {bucket}"
        while True:
            body = {"prefix": prefix, "limit": LIST_PAGE, "with_delimiter": folders}
            if cursor:
                body["cursor"] = cursor
            r = self.storage_call(doing, lambda h, b=body: h.post(url, json=b), ok_missing=True, bucket=bucket)
            if r is None:
                return
            try:
                page = r.json()
                entries = page["folders"] if folders else page["objects"]
            except (ValueError, KeyError, TypeError):
                raise TenantBackupError(f"{doing}: Supabase Storage at {self.url} gave an answer that could not be "
                                        f"read; check that SUPABASE_URL is the project URL") from None
            for e in entries:
                name = str(e.get("name") or "").rstrip("/") if folders else str(e.get("name") or "")
                if name.startswith(prefix) and (name != prefix or not folders):
                    yield {**e, "name": name}
            if not page.get("hasNext"):
                return
            cursor = page.get("nextCursor")
            if not cursor:  # a listing cut short must not pass for a whole one
                raise TenantBackupError(f"{doing} at Supabase Storage {self.url} stopped: more entries announced "
                                        f"without a cursor to read them; try again")

    def storage_info(self, bucket: str, key: str) -> dict | None:
        """{size, content_type, cache_control, etag, metadata (the user's), last_modified}, or None."""
        r = self.storage_call(f"reading {key} in {bucket}", lambda h: h.get(
            f"{self.storage_url}/object/info/authenticated/{quote(bucket, safe='')}/{_path(key)}"), ok_missing=True)
        return None if r is None else r.json()

    def storage_download(self, bucket: str, key: str, open_sink: Callable[[], Callable[[bytes], None]],
                         missing: str | None = None) -> httpx.Headers:
        """Stream the object's bytes to a sink; each try starts a new sink (open_sink), so a retry
        never appends to half an object. Returns the response's headers."""
        url = f"{self.storage_url}/object/authenticated/{quote(bucket, safe='')}/{_path(key)}"
        got: dict = {}

        def send(h: httpx.Client) -> httpx.Response:
            sink = open_sink()
            with h.stream("GET", url) as r:
                if r.status_code >= 400:
                    r.read()
                    return r
                for chunk in r.iter_bytes(CHUNK):
                    sink(chunk)
                got["headers"] = r.headers
                return r

        self.storage_call(f"downloading {key} from {bucket}", send, missing=missing or f"{key} is missing from "
                          f"Supabase Storage bucket {bucket}", bucket=bucket)
        return got["headers"]

    def storage_upload(self, bucket: str, key: str, open_body: Callable[[], Iterable[bytes]], size: int, *,
                       content_type: str = "application/octet-stream", cache_control: str | None = None,
                       metadata: dict | None = None, upsert: bool = True) -> None:
        """Stream `size` bytes from open_body() (called again for a retry) into the object."""
        headers = {"Content-Type": content_type or "application/octet-stream", "Content-Length": str(size),
                   "x-upsert": "true" if upsert else "false"}
        if cache_control:
            headers["Cache-Control"] = cache_control
        if metadata:
            headers["x-metadata"] = base64.b64encode(json.dumps(metadata).encode()).decode()
        url = f"{self.storage_url}/object/{quote(bucket, safe='')}/{_path(key)}"
        self.storage_call(f"uploading {key}", lambda h: h.post(url, content=iter(open_body()), headers=headers),
                          bucket=bucket)

    def storage_delete(self, bucket: str, keys: list[str]) -> None:
        """Batches of at most 1000 (the API's limit per call); missing keys and a missing bucket are
        no error."""
        keys = list(dict.fromkeys(keys))
        url = f"{self.storage_url}/object/{quote(bucket, safe='')}"
        for i in range(0, len(keys), DELETE_BATCH):
            batch = keys[i:i + DELETE_BATCH]
            r = self.storage_call(f"deleting {count(len(batch), 'object')} in {bucket}", lambda h, b=batch: h.request(
                "DELETE", url, json={"prefixes": b}), ok_missing=True)
            if r is None:
                return


def read_chunks(fh, size: int = CHUNK) -> Iterator[bytes]:
    while chunk := fh.read(size):
        yield chunk
