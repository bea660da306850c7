"""The Supabase project over HTTP: the one client that both the sources (PostgREST tables and
RPCs: sources/rest/) and the stores (Storage: stores/supabase_storage.py, stores/tenant_files.py)
speak through, with the project URL and the service role key.

supabase-py's async client builds every request; we send them ourselves (RequestConfig.send on the
client's own httpx session) because the client's retry cannot see timeouts or POSTs and its errors
drop the HTTP status, which decides between retrying, refusing the key and naming missing setup.
The client lives on a private event loop in a thread of its own: the jobs call a source from a
worker thread, and the GUI's thread may already run a loop of its own."""

from __future__ import annotations

import asyncio
import re
import threading
from concurrent.futures import Future
from typing import Any, Coroutine
from urllib.parse import urlsplit

import httpx

from ..core.errors import Busy, ConfigError, ConnectionFailed, LockBusy, TenantBackupError
from ..core.supabase_keys import key_role
from .restore_engine import ENGINE_MESSAGES
from .shared import BUSY, BUSY_SQLSTATES
from .storage_api import StorageApi

# Statuses that mean the request did not reach (or did not get an answer from) the database.
TRANSIENT_STATUSES = frozenset({502, 503, 504, 520, 521, 522, 523, 524})
SETUP_HINT = "run the SQL printed by `tenant-backup setup --print-sql` in the project's SQL editor"


class SetupMissing(ConfigError):
    """A function or table of ours is not installed (or not yet seen by PostgREST)."""


def _error_doc(r: httpx.Response) -> dict:
    try:
        doc = r.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _one_line(text: Any, limit: int = 200) -> str:
    line = (str(text or "").strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[:limit] + "…"


class _Loop:
    """An event loop on a daemon thread: coroutines are submitted from any thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="supabase-rest", daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.loop.is_running():
            self.loop.close()


class SupabaseProject(StorageApi):
    """A Supabase project reached with its URL and service role key. Opens lazily; close() (or use
    it as a context manager) ends the client and its thread. The key is never put in a message.
    Its Storage API (sources/storage_api.py) serves the backup store and a tenant's files alike."""

    def __init__(self, url: str, service_key: str, timeout: float = 60.0, retries: int = 5,
                 backoff: float = 0.5):
        url = (url or "").strip().rstrip("/")
        url = re.sub(r"/rest/v1$", "", url)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("the Supabase project URL is not valid; expected https://<project>.supabase.co "
                              "(SUPABASE_URL)")
        if not (service_key or "").strip():
            raise ConfigError("no Supabase service role key; set SUPABASE_SERVICE_ROLE_KEY "
                              "(Project Settings → API → service_role)")
        self.url, self.host = url, parts.netloc
        self._key = service_key.strip()
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._loop: _Loop | None = None
        self._client = None
        self._open_lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"SupabaseProject({self.url!r})"

    def __enter__(self) -> "SupabaseProject":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _open(self):
        with self._open_lock:
            if self._client is None:
                from supabase import AsyncClientOptions, acreate_client
                self._loop = _Loop()
                options = AsyncClientOptions(postgrest_client_timeout=self.timeout, postgrest_client_retry=False,
                                             auto_refresh_token=False, persist_session=False)
                try:
                    self._client = self._loop.submit(acreate_client(self.url, self._key, options)).result()
                except Exception as err:  # noqa: BLE001 - the client's own validation
                    self._loop.close()
                    self._loop = None
                    raise ConfigError(f"cannot use the Supabase project {self.host}: {_one_line(err)}; "
                                      f"check SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY") from None
            return self._client

    @property
    def client(self):
        """supabase-py's AsyncClient (use it from coroutines given to run/submit)."""
        return self._open()

    def submit(self, coro: Coroutine) -> Future:
        self._open()
        return self._loop.submit(coro)

    def run(self, coro: Coroutine):
        return self.submit(coro).result()

    def close(self) -> None:
        self.close_storage()
        with self._open_lock:
            if self._client is not None:
                try:
                    self._loop.submit(self._client.postgrest.aclose()).result(10)
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
                self._loop.close()
                self._client, self._loop = None, None

    # ------------------------------------------------------------ requests

    async def send(self, builder, doing: str, accept: str | None = None, ok_missing: bool = False,
                   retries: int | None = None) -> httpx.Response:
        """Send a request that supabase-py built, with our retries: exponential backoff on 5xx,
        timeouts and broken connections; a 4xx becomes its one-line error at once. retries=0 for a
        request that must not be sent twice (a restore's apply)."""
        retries = self.retries if retries is None else retries
        req = builder.request if hasattr(builder, "request") else builder
        if accept:
            req.headers["Accept"] = accept
        delay, failure = self.backoff, ""
        from httpx import Headers
        for attempt in range(retries + 1):
            try:
                r = await req.send(Headers())
            except httpx.TransportError as err:
                failure = "timed out" if isinstance(err, httpx.TimeoutException) else f"connection failed: {_one_line(err) or type(err).__name__}"
            else:
                if r.status_code < 500:
                    if r.is_success or (ok_missing and r.status_code == 404):
                        return r
                    raise self.error(r, doing)
                doc = _error_doc(r)
                code = doc.get("code") or ""
                # The database's own answer (a 500 carrying its SQLSTATE: a lock taken, a statement
                # timeout) would be the same again; gateways' 502/503/504/52x and PostgREST's own
                # connection errors (PGRST0xx) are worth another try.
                if code == "57014" or (code and not code.startswith("PGRST") and r.status_code not in TRANSIENT_STATUSES):
                    raise self.error(r, doing)
                failure = f"HTTP {r.status_code}" + (f" {_one_line(doc.get('message'))}" if doc.get("message") else "")
            if attempt < retries:
                await asyncio.sleep(min(delay, 10))
                delay *= 2
        if not retries:
            raise ConnectionFailed(f"{doing}: the Supabase project {self.host} did not answer ({failure}); check "
                                   f"the project's status and run it again")
        raise ConnectionFailed(f"{doing}: the Supabase project {self.host} failed {retries + 1} times "
                               f"({failure}); check the project's status and run it again")

    def error(self, r: httpx.Response, doing: str) -> TenantBackupError:
        """A PostgREST error response as one line that says what to do."""
        doc = _error_doc(r)
        code, msg = doc.get("code") or "", _one_line(doc.get("message") or r.reason_phrase)
        if code in BUSY_SQLSTATES or msg.startswith("the tenant's tables are busy"):
            return Busy(f"{BUSY} ({doing}: {msg})")  # the app's writes: retried (services/contention.py)
        if msg.startswith("another backup or restore"):
            return LockBusy(msg)
        if code not in ("PGRST202", "57014") and msg.startswith(ENGINE_MESSAGES):
            return TenantBackupError(msg)
        if r.status_code == 401 and not code:
            return ConnectionFailed(f"{doing}: the Supabase project {self.host} refused the key ({msg}); "
                                    f"check SUPABASE_SERVICE_ROLE_KEY")
        if code == "42501" or r.status_code in (401, 403):
            return ConnectionFailed(f"{doing}: permission denied ({msg}); use the project's service_role key "
                                    f"(SUPABASE_SERVICE_ROLE_KEY), not the anon key")
        # Only a missing function or table of ours means missing setup: any other undefined function
        # or operator (42883) is the database's own reason, and reaches the user as it is.
        if code == "PGRST202" or (code == "42883" and "tenant_backup" in msg) or (
                code in ("PGRST205", "42P01") and "tenant_backup_" in msg):
            return SetupMissing(f"{doing}: the Tenant Backup functions are missing or outdated in the Supabase "
                               f"project {self.host}; {SETUP_HINT}")
        if code == "57014":
            return ConnectionFailed(f"{doing}: the Supabase API's statement timeout stopped it; set "
                                    f"TENANT_BACKUP_DATABASE_URL (Project Settings → Database) to read over the direct "
                                    f"connection, or raise service_role's statement_timeout")
        if code in ("42P01", "PGRST205"):
            return TenantBackupError(f"{doing}: {msg} (was a table dropped during the run?); run it again")
        return TenantBackupError(f"{doing}: the Supabase project {self.host} answered HTTP {r.status_code}: "
                                 f"{msg}{f' ({code})' if code else ''}")

    async def rpc(self, fn: str, params: dict, doing: str, accept: str | None = None) -> httpx.Response:
        return await self.send(self.client.rpc(fn, params), doing, accept)

    # ------------------------------------------------------------ checks

    def check(self) -> dict:
        """Refuse a key that is not the service role's, before anything is read: with the anon key
        row level security answers `200 []` and a backup would be silently empty. Reads the key's
        role, then asks the project a question only the service role may answer. Returns
        tenant_backup_info(): versions and the server's version number."""
        role = key_role(self._key)
        if role in ("anon", "authenticated", "publishable"):
            what = "the publishable key" if role == "publishable" else f"the {role} key"
            raise ConnectionFailed(f"SUPABASE_SERVICE_ROLE_KEY holds {what}, not the service role key: row level "
                                   f"security would hide every row and the backup would be silently empty; use the "
                                   f"service_role (secret) key from Project Settings → API")
        if role != "service_role":
            raise ConnectionFailed("SUPABASE_SERVICE_ROLE_KEY is not a Supabase service role key (neither a JWT with "
                                   "role service_role nor an sb_secret_ key); copy it from Project Settings → API")
        info = self.run(self.rpc("tenant_backup_info", {}, "checking the Supabase key")).json()
        if not isinstance(info, dict) or info.get("role") == "anon":
            raise ConnectionFailed("the Supabase project did not accept the key as the service role; use the "
                                   "service_role key (SUPABASE_SERVICE_ROLE_KEY)")
        return info
