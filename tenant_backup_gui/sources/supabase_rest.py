"""A tenant's rows over the Supabase REST API (PostgREST), with the project URL and the service
role key — the way most owners connect. The same interface as postgres.Snapshot, so the jobs do not
care which path the rows took, and the same bytes: a page of rows is built by an installed SQL
function (resources/sql/supabase.sql) with the row JSON of resources/sql/rows.sql — the one
definition the direct export and the restore use too — and travels as `text/plain`, so nothing
re-encodes it.

What REST cannot give, and what stands in for it: no single snapshot across requests (each table's
row count is read before and after its export and must agree with the rows read), no session lock
(a lease row, renewed while the run works), no cap-free responses (PostgREST's max-rows truncates
silently, so tables are read by keyset pages until a page comes back empty).

supabase-py's async client builds every request; we send them ourselves (RequestConfig.send on the
client's own httpx session) because the client's retry cannot see timeouts or POSTs and its errors
drop the HTTP status, which decides between retrying, refusing the key and naming missing setup.
The client lives on a private event loop in a thread of its own: the jobs call a source from a
worker thread, and the GUI's thread may already run a loop of its own."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
import uuid
from concurrent.futures import Future
from datetime import datetime
from typing import Any, Callable, Coroutine
from urllib.parse import urlsplit

import httpx

from .. import __version__
from ..core.config import Config
from ..core.errors import (Busy, Cancelled, ConfigError, ConnectionFailed, LockBusy, TenantBackupError)
from ..core.scope import Catalog, Table, TableScope, scope_json
from ..core.supabase_keys import key_role
from ..platform.paths import resource_text
from . import postgres
from .postgres import APP_NAME, BUSY, BUSY_SQLSTATES, Tenant, catalog_from_rows, who_runs
from .restore_engine import ENGINE_MESSAGES
from .storage_api import StorageApi

SUPABASE_VERSION = postgres.EXPORT_VERSION  # of rows.sql + supabase.sql (tenant_backup_meta 'supabase_version')
# Statuses that mean the request did not reach (or did not get an answer from) the database.
TRANSIENT_STATUSES = frozenset({502, 503, 504, 520, 521, 522, 523, 524})
SETUP_HINT = "run the SQL printed by `tenant-backup setup --print-sql` in the project's SQL editor"


class SetupMissing(ConfigError):
    """A function or table of ours is not installed (or not yet seen by PostgREST)."""


def setup_sql() -> str:
    """resources/sql/supabase.sql with what both roads run (the one copy of each): catalog.sql as the
    body of tenant_backup_catalog(schemas), last_backups.sql of tenant_backup_last_backups(), and
    rows.sql (a tenant's rows and their JSON) ahead of the functions that use it."""
    if postgres.CATALOG_SQL.count("%s") != 1:
        raise AssertionError("catalog.sql must hold exactly one placeholder (the schemas)")
    text = resource_text("sql", "supabase.sql")
    for name, body in (("catalog.sql", postgres.CATALOG_SQL.replace("%s", "schemas")),
                       ("last_backups.sql", postgres.LAST_BACKUPS_SQL),
                       ("rows.sql", resource_text("sql", "rows.sql"))):
        text = text.replace(f"--@{name}\n", body.rstrip() + "\n")
    return text


def last_backups(project: "SupabaseProject") -> dict[str, dict]:
    """postgres.last_backups over REST: the same query, installed as tenant_backup_last_backups()."""
    r = project.run(project.rpc("tenant_backup_last_backups", {}, "reading the last backups"))
    return {d["organization_id"]: {"last_ok": _when(d["last_ok"]), "last_status": d["last_status"],
                                   "last_started": _when(d["last_started"]),
                                   # an install older than last_daily: its last success stands in
                                   "last_daily": _when(d.get("last_daily", d["last_ok"]))} for d in r.json()}


def _error_doc(r: httpx.Response) -> dict:
    try:
        doc = r.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _one_line(text: Any, limit: int = 200) -> str:
    line = (str(text or "").strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[:limit] + "…"


# ---------------------------------------------------------------- the project

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


# ---------------------------------------------------------------- catalog and tenants

def read_catalog(project: SupabaseProject, schemas: tuple[str, ...]) -> Catalog:
    r = project.run(project.rpc("tenant_backup_catalog", {"schemas": list(schemas)}, "reading the database catalog"))
    return catalog_from_rows((d["schema_name"], d["table_name"], d["partitioned"], d["columns_json"],
                              d["unique_keys"], d["foreign_keys"], d["primary_key"]) for d in r.json())


def _tenant_table(catalog: Catalog, config: Config) -> tuple[Table, str]:
    t = catalog.get(config.tenant_table)
    if t is None or len(t.primary_key) != 1:
        raise ConfigError(f"the tenant table '{config.tenant_table}' does not exist or has no single-column "
                          f"primary key; set tenant_table in the config")
    return t, (config.tenant_name_column if t.column(config.tenant_name_column) else t.primary_key[0])


def _tenant(t: Table, name_col: str, row: dict) -> Tenant:
    def text(v):
        return None if v is None else v if isinstance(v, str) else json.dumps(v)
    return Tenant(text(row[t.primary_key[0]]), text(row[name_col]), row.get("deleted_at") is not None)


def _select_cols(t: Table, name_col: str) -> str:
    cols = dict.fromkeys([t.primary_key[0], name_col] + (["deleted_at"] if t.column("deleted_at") else []))
    return ",".join(cols)


def _table(project: SupabaseProject, t: Table):
    c = project.client
    return (c.table(t.name) if t.schema == "public" else c.schema(t.schema).table(t.name))


def get_tenant(project: SupabaseProject, catalog: Catalog, config: Config, org_id: str) -> Tenant | None:
    t, name_col = _tenant_table(catalog, config)

    async def go():
        q = _table(project, t).select(_select_cols(t, name_col)).eq(t.primary_key[0], org_id)
        r = await project.send(q, f"reading organization {org_id}")
        return r.json()
    try:
        rows = project.run(go())
    except TenantBackupError as err:
        if "22P02" in str(err):  # not a valid id for the key's type: no such tenant
            return None
        raise
    return _tenant(t, name_col, rows[0]) if rows else None


def list_tenants(project: SupabaseProject, config: Config, catalog: Catalog | None = None) -> list[Tenant]:
    """Every tenant, read in keyset pages (more than max-rows tenants are not cut off), sorted by
    name then id as postgres.list_tenants sorts them."""
    catalog = catalog or read_catalog(project, config.schemas)
    t, name_col = _tenant_table(catalog, config)
    pk = t.primary_key[0]

    async def go():
        out, last = [], None
        while True:
            q = _table(project, t).select(_select_cols(t, name_col)).order(pk).limit(1000)
            if last is not None:
                q = q.gt(pk, last)
            rows = (await project.send(q, "listing the organizations")).json()
            if not rows:
                return out
            out += rows
            last = rows[-1][pk]
    tenants = [_tenant(t, name_col, r) for r in project.run(go())]
    return sorted(tenants, key=lambda x: (x.name is None, x.name or "", x.id))


# ---------------------------------------------------------------- export

def _rows_args(scope: TableScope, catalog: Catalog, org_id: str) -> dict:
    """The arguments the installed export functions take: the table, how it reaches the tenant
    (the same descriptions the direct road sends: postgres.table_json, core.scope.scope_json)."""
    return {"tbl": postgres.table_json(scope.table), "scope": scope_json(scope, catalog), "org": org_id}


def _embedded_filter(scope: TableScope, catalog: Catalog) -> tuple[str, str] | None:
    """PostgREST's own way to the tenant (`select=…,parent!col!inner(…)`, `parent.col=eq.X`), for
    an independent count; None where it cannot say it (another schema, an undeclared or composite
    link), and the installed count function is asked instead."""
    t = scope.table
    if t.schema != "public":
        return None
    if not scope.path:
        return scope.anchor, scope.anchor
    child, names = t, []
    for h in scope.path:
        parent = catalog.tables[h.parent]
        declared = any(fk.columns == h.columns and fk.ref_table == h.parent and fk.ref_columns == h.parent_columns
                       for fk in child.foreign_keys)
        if parent.schema != "public" or len(h.columns) != 1 or not declared:
            return None
        names.append((parent.name, h.columns[0]))
        child = parent
    select = scope.anchor
    for name, col in reversed(names):
        select = f"{name}!{col}!inner({select})"
    return select, ".".join([n for n, _ in names] + [scope.anchor])


class RestSnapshot:
    """One backup's view of a Supabase project: postgres.Snapshot's interface over REST."""

    def __init__(self, project: SupabaseProject, config: Config, page_rows: int = 5000):
        self.project = project
        self.config = config
        self.page_rows = page_rows
        self.catalog: Catalog | None = None
        self.server_version: int | None = None
        self.helpers_version: str | None = None
        self._pending: Future | None = None
        self._cancelled = threading.Event()
        self._workers: list[RestSnapshot] = []

    def __enter__(self) -> "RestSnapshot":
        info = self.project.check()
        self.server_version = info.get("server_version")
        self.helpers_version = info.get("supabase_version")
        self.catalog = read_catalog(self.project, self.config.schemas)
        return self

    def __exit__(self, *exc) -> None:
        self.cancel_pending()

    def lock_tables(self, scopes: list[TableScope]) -> None:
        """Nothing to hold over REST (no session spans the requests); the per-table counts before
        and after each export catch a table that changed instead."""

    def prepare_export(self, scopes: list[TableScope], org_id: str) -> None:
        """Nothing to prepare over REST: each page's request names its table's rows itself."""

    def tenant(self, org_id: str) -> Tenant | None:
        return get_tenant(self.project, self.catalog, self.config, org_id)

    def cancel(self) -> None:
        self._cancelled.set()
        for snap in [self, *self._workers]:
            snap.cancel_pending()

    def cancel_pending(self) -> None:
        if self._pending is not None:
            self._pending.cancel()

    def table_sizes(self, scopes: list[TableScope]) -> dict[str, int]:
        """Not known over REST without more requests: parallel lanes take the tables in scope order."""
        return {}

    def worker(self, scopes: list[TableScope]) -> "RestSnapshot":
        """Another lane for tables in parallel (`--jobs`): REST has no snapshot to share — every
        table is checked by its own counts before and after — so a lane is this view with its own
        request in flight (at most a page, the next page and a count per lane)."""
        w = RestSnapshot(self.project, self.config, self.page_rows)
        w.catalog, w.server_version, w._cancelled = self.catalog, self.server_version, self._cancelled
        w.helpers_version = self.helpers_version
        self._workers.append(w)
        return w

    def count(self, scope: TableScope, org_id: str) -> int:
        """The table's tenant rows now, as the server counts them: PostgREST's count=exact through
        its own filters where it can express the path, else the installed count function."""
        return self._count_later(scope, org_id).result()

    def _count_later(self, scope: TableScope, org_id: str) -> Future:
        name = scope.table.key_name
        embedded = _embedded_filter(scope, self.catalog)
        doing = f"counting the rows of table {name}"

        async def go() -> int:
            if embedded is not None:
                select, column = embedded
                q = _table(self.project, scope.table).select(select, count="exact", head=True).eq(column, org_id)
                try:
                    r = await self.project.send(q, doing)
                    total = r.headers.get("content-range", "").rpartition("/")[2]
                    if total.isdigit():
                        return int(total)
                except TenantBackupError as err:
                    if "PGRST2" not in str(err):  # a relationship PostgREST does not see: ask the server
                        raise
            r = await self.project.rpc("tenant_backup_count", _rows_args(scope, self.catalog, org_id), doing)
            return int(r.json())
        return self.project.submit(go())

    def _digest_later(self, scope: TableScope, org_id: str) -> Future:
        """count:hash-sum of the table's tenant rows now (tenant_backup_digest)."""
        return self.project.submit(self.project.rpc(
            "tenant_backup_digest", _rows_args(scope, self.catalog, org_id),
            f"checking table {scope.table.key_name} for changes"))

    def export(self, scope: TableScope, org_id: str, batch_bytes: int,
               sink: Callable[[bytes, int], None], cancelled: threading.Event) -> int:
        """Stream one table's tenant rows to `sink` in batches of whole lines, page by keyset page
        until a page is empty (a short page proves nothing under max-rows). The next page is fetched
        while `sink` handles this one. Returns the row count, checked against the server's count
        before (read alongside the first page) and after."""
        name = scope.table.key_name
        if str(self.helpers_version) != str(SUPABASE_VERSION):  # older export functions would read other rows
            raise SetupMissing(f"exporting table {name}: the Tenant Backup functions are missing or outdated in the "
                               f"Supabase project {self.project.host}; {SETUP_HINT}")
        counted = self._count_later(scope, org_id)  # read while the first page is on its way
        # A table without a key is paged by its rows' physical position: an update moves a row, which
        # may then be read twice or never while the count stays the same. Its digest must not move.
        keyless = not scope.table.row_key[0]
        digested = self._digest_later(scope, org_id) if keyless else None
        params = {**_rows_args(scope, self.catalog, org_id), "page_rows": self.page_rows}
        doing = f"exporting table {name}"

        def fetch(after: dict | None) -> Future:
            # text/plain: PostgREST hands the function's text over as it is (application/json would
            # quote it as a JSON string); supabase-py's rpc() has no way to ask, so we set the header.
            self._pending = self.project.submit(
                self.project.rpc("tenant_backup_export_page", {**params, "after": after}, doing, accept="text/plain"))
            return self._pending

        rows, buf = 0, bytearray()
        pending = fetch(None)
        try:
            while True:
                try:
                    body = pending.result()
                except Exception:
                    if cancelled.is_set() or self._cancelled.is_set():
                        raise Cancelled("backup cancelled") from None
                    raise
                body = body.content
                if not body:
                    break
                nl = body.index(b"\n")
                after = json.loads(body[:nl])
                pending = fetch(after)
                page = memoryview(body)[nl + 1:]
                n = body.count(b"\n") - 1
                if n < 1 or n > self.page_rows:
                    raise TenantBackupError(f"{doing}: a page of {n} rows came back for {self.page_rows} asked; "
                                            f"run the backup again")
                buf += page
                rows += n
                if len(buf) >= batch_bytes:
                    sink(bytes(buf), buf.count(b"\n"))
                    buf.clear()
                if cancelled.is_set() or self._cancelled.is_set():
                    raise Cancelled("backup cancelled")
            if buf:
                sink(bytes(buf), buf.count(b"\n"))
        finally:
            if not pending.done():
                pending.cancel()
            self._pending = None
        if digested is not None:
            before_digest, after_digest = digested.result().json(), self._digest_later(scope, org_id).result().json()
            if before_digest != after_digest:
                raise TenantBackupError(f"table {name} changed during the backup (it has no key, so a changed row "
                                        f"could be read twice or missed); run the backup again")
        before = counted.result()
        after_count = self.count(scope, org_id)
        if not before == after_count == rows:
            again = self.count(scope, org_id)  # once more, in case a count was read mid-change
            if not before == again == rows:
                if before != again or before != after_count:
                    raise TenantBackupError(f"table {name} changed during the backup ({before} rows before, "
                                            f"{again} after); run the backup again")
                raise TenantBackupError(f"table {name}: the server counts {before} rows but {rows} were read; "
                                        f"run the backup again")
        return rows


# ---------------------------------------------------------------- lock

class RestTenantLock:
    """One backup or restore per tenant at a time, over REST: a lease row (tenant_backup_locks)
    taken by tenant_backup_lock(), renewed every ttl/3 while held, released on exit; a crashed
    run's lease expires after ttl_seconds. `lost` turns true if a renewal finds it taken."""

    def __init__(self, project: SupabaseProject, org_id: str, wait_seconds: float, ttl_seconds: int = 60):
        self.project, self.org_id, self.wait, self.ttl = project, org_id, wait_seconds, int(ttl_seconds)
        self.token = str(uuid.uuid4())
        self.lost = False
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def __enter__(self) -> "RestTenantLock":
        user, host = who_runs()
        holder = f"{APP_NAME} {__version__}, {user}@{host}"
        args = {"org": self.org_id, "token": self.token, "holder": holder, "ttl_seconds": self.ttl}
        deadline = time.monotonic() + self.wait
        while True:
            r = self.project.run(self.project.rpc("tenant_backup_lock", args, f"locking organization {self.org_id}"))
            got = r.json()
            if got.get("taken"):
                self._beat = threading.Thread(target=self._renew, name="tenant-lock-lease", daemon=True)
                self._beat.start()
                return self
            if time.monotonic() >= deadline:
                since = got.get("since")
                when = f", since {datetime.fromisoformat(since):%Y-%m-%d %H:%M:%S %Z}" if since else ""
                expires = got.get("expires_at")  # a killed run never finishes: its lease runs out instead
                dead = (f" (if that run was stopped, its lock expires by itself at "
                        f"{datetime.fromisoformat(expires):%Y-%m-%d %H:%M:%S %Z})") if expires else ""
                raise LockBusy(f"another backup or restore of organization {self.org_id} is running "
                               f"({got.get('holder') or 'unknown program'}{when}); try again when it has finished"
                               + dead)
            time.sleep(0.2)

    def _renew(self) -> None:
        while not self._stop.wait(max(self.ttl / 3, 0.1)):
            try:
                ok = self.project.run(self.project.rpc("tenant_backup_lock_renew", {
                    "org": self.org_id, "token": self.token, "ttl_seconds": self.ttl}, "renewing the tenant lock")).json()
            except TenantBackupError:
                continue  # the lease lasts ttl: the next beat tries again
            if ok is False:
                self.lost = True
                return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(5)
        try:
            self.project.run(self.project.rpc("tenant_backup_unlock", {"org": self.org_id, "token": self.token},
                                              "releasing the tenant lock"))
        except TenantBackupError:
            pass  # the lease expires by itself


# ---------------------------------------------------------------- history

def _when(v: str | None) -> datetime | None:
    return datetime.fromisoformat(v) if v else None


class RestHistory:
    """postgres.History over REST: backup_logs through PostgREST (the service role bypasses its
    RLS). A failed write becomes a warning, never the operation's result."""

    def __init__(self, project: SupabaseProject):
        self.project = project
        self.warnings: list[str] = []

    def _fail(self, err: BaseException) -> None:
        msg = str(err)
        if "42P01" in msg or "PGRST205" in msg or "backup_logs" in msg and "does not exist" in msg:
            msg = f"backup_logs does not exist; {SETUP_HINT}"
        self.warnings.append(f"history not written: {msg}")

    def start(self, backup_type: str, org_id: str | None, metadata: dict | None = None,
              backup_id: str | None = None) -> str | None:
        user, host = who_runs()
        row = {"backup_type": backup_type, "status": "in_progress", "started_at": datetime.now().astimezone().isoformat(),
               "organization_id": org_id, "backup_id": backup_id, "metadata": {**(metadata or {}), "pid": os.getpid()},
               "run_by": user,
               "run_host": host, "tool_version": __version__}

        async def go():
            q = self.project.client.table("backup_logs").insert(row)
            return (await self.project.send(q, "writing the history")).json()[0]["id"]
        try:
            return str(self.project.run(go()))
        except TenantBackupError as err:
            self._fail(err)
            return None

    def finish(self, log_id: str | None, status: str, *, records: int = 0, size: int = 0, tables: int = 0,
               metadata: dict | None = None, errors: list | None = None, backup_id: str | None = None) -> None:
        if log_id is None:
            return

        async def go():
            table = self.project.client.table("backup_logs")
            cur = (await self.project.send(table.select("metadata,backup_id").eq("id", log_id), "reading the history")).json()
            old = cur[0] if cur else {}
            change = {"status": status, "completed_at": datetime.now().astimezone().isoformat(),
                      "records_backed_up": records, "backup_size": size, "tables_count": tables,
                      "metadata": {**(old.get("metadata") or {}), **(metadata or {})}, "errors": errors or [],
                      "backup_id": backup_id or old.get("backup_id")}
            await self.project.send(self.project.client.table("backup_logs").update(change).eq("id", log_id),
                                    "writing the history")
        try:
            self.project.run(go())
        except TenantBackupError as err:
            self._fail(err)

    def in_progress(self, org_id: str) -> list[dict]:
        """The tenant's rows still marked in_progress, as postgres.History.in_progress gives them
        (services/leftovers.py). Over the API no stand-in restore row exists: `applied` is False."""
        now = datetime.now().astimezone()
        try:
            rows = self.rows(org_id, 1000, status="in_progress")
        except TenantBackupError as err:
            self._fail(err)
            return []
        return [{"id": r["id"], "type": r["backup_type"], "host": r["run_host"],
                 "pid": str((r.get("metadata") or {}).get("pid") or "") or None,
                 "age": (now - r["started_at"]).total_seconds() if r["started_at"] else 0.0, "applied": False}
                for r in rows]

    def interrupt(self, ids: list[str], reason: str) -> None:
        """Mark rows of jobs that are gone as failed, unless they finished meanwhile."""
        if not ids:
            return

        async def go():
            change = {"status": "failed", "completed_at": datetime.now().astimezone().isoformat(), "errors": [reason]}
            q = self.project.client.table("backup_logs").update(change).in_("id", ids).eq("status", "in_progress")
            await self.project.send(q, "writing the history")
        try:
            self.project.run(go())
        except TenantBackupError as err:
            self._fail(err)

    def rows(self, org_id: str | None = None, limit: int = 200, backup_type: str | None = None,
             status: str | None = None) -> list[dict]:
        cols = ("id,backup_type,status,organization_id,backup_id,started_at,completed_at,records_backed_up,"
                "backup_size,tables_count,metadata,errors,run_by,run_host")

        async def go():
            q = self.project.client.table("backup_logs").select(cols)
            if org_id:
                q = q.eq("organization_id", org_id)
            if backup_type:
                q = q.eq("backup_type", backup_type)
            if status:
                q = q.eq("status", status)
            q = q.order("started_at", desc=True, nullsfirst=False).order("created_at", desc=True).limit(min(limit, 1000))
            return (await self.project.send(q, "reading the history")).json()
        try:
            rows = self.project.run(go())
        except TenantBackupError as err:
            if "42P01" in str(err) or "PGRST205" in str(err):
                raise ConfigError(f"there is no history yet: backup_logs does not exist; {SETUP_HINT}") from None
            raise
        for r in rows:
            r["started_at"], r["completed_at"] = _when(r["started_at"]), _when(r["completed_at"])
        return rows


# ---------------------------------------------------------------- setup and info

def server_info(project: SupabaseProject) -> dict:
    return {"kind": "supabase", "project": project.host}


def setup_state(project: SupabaseProject) -> dict:
    """Is the tool's SQL installed and current? {installed, version, current, supabase_version}."""
    async def go():
        r = await project.send(project.client.rpc("tenant_backup_info", {}), "reading the setup state", ok_missing=True)
        if r.status_code != 404:
            return r.json()
        q = project.client.table("tenant_backup_meta").select("key,value")
        m = await project.send(q, "reading the setup state", ok_missing=True)
        values = {d["key"]: d["value"] for d in m.json()} if m.status_code != 404 else {}
        return {"schema_version": values.get("schema_version"), "supabase_version": values.get("supabase_version")}
    info = project.run(go())
    version = int(info["schema_version"]) if info.get("schema_version") else None
    sv = int(info["supabase_version"]) if info.get("supabase_version") else None
    return {"installed": version is not None and sv is not None, "version": version, "supabase_version": sv,
            "current": version == postgres.SCHEMA_VERSION and sv == SUPABASE_VERSION}
