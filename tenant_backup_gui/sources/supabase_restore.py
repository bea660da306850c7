"""Restore one tenant over Supabase's REST API: stage the backup's rows, then ONE RPC.

Every REST request is its own transaction, so the restore itself lives in SQL functions installed
once (resources/sql/supabase_restore.sql): the rows are staged in batches as the backup's own line
text, then `tenant_backup_restore` compares, deletes, inserts, checks references, moves sequences
and logs in the RPC's single transaction — the same algorithm as the direct-connection restore
(pg_restore.py). A retried staging batch is idempotent: rows are keyed (run_id, tbl, n) and sent
with `resolution=ignore-duplicates`, and the server refuses a restore whose staged count differs
from what was sent."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Callable, Iterable

import httpx
from postgrest.exceptions import APIError
from postgrest.types import ReturnMethod
from supabase import create_client
from supabase.lib.client_options import SyncClientOptions

from .. import __version__
from ..core.config import Config
from ..core.errors import ConfigError, ConnectionFailed, LockBusy, TenantBackupError
from ..core.scope import Catalog, TableScope
from ..core.supabase_keys import key_role
from .postgres import who_runs

RESTORE_HELPERS_VERSION = 1  # tenant_backup_restore_version() in resources/sql/supabase_restore.sql
STAGING_TABLE = "tenant_backup_staging"
HELPERS_MISSING = ("the restore helpers are missing or outdated; run the SQL from `tenant-backup setup --print-sql` "
                   "in the Supabase SQL editor")
SERVICE_KEY_HINT = "use the project's service_role key (Project Settings → API), not the anon key"
# Statuses that mean the request did not reach (or did not get an answer from) the database.
TRANSIENT_STATUSES = frozenset({502, 503, 504, 520, 521, 522, 523, 524})


class HelpersMissing(ConfigError):
    """The SQL functions are not installed, or are an older version: nothing was attempted."""


class _Transient(Exception):
    def __init__(self, status: int):
        super().__init__(f"HTTP {status}")
        self.status = status


_last = threading.local()  # the HTTP status of this thread's last response


def _raise_transient(response: httpx.Response) -> None:
    """httpx response hook: a gateway/unavailable status becomes an exception we can retry on
    (supabase-py's APIError does not carry the HTTP status, so it is also kept for _error)."""
    _last.status = response.status_code
    if response.status_code in TRANSIENT_STATUSES:
        response.close()
        raise _Transient(response.status_code)


def new_run_id() -> str:
    return str(uuid.uuid4())


def _split(name: str, catalog: Catalog | None) -> tuple[str, str]:
    t = catalog.get(name) if catalog is not None else None
    if t is not None:
        return t.schema, t.name
    schema, dot, table = name.partition(".")
    return (schema, table) if dot else ("public", name)


def describe_table(scope: TableScope, *, rows: int, columns: Iterable[str] | None = None,
                   text_columns: Iterable[str] = (), skipped: Iterable[str] = (),
                   catalog: Catalog | None = None, known: dict | None = None) -> dict:
    """One entry of the restore's `p_tables`: what to write and how the table reaches its tenant.
    rows: how many rows were staged for it. columns: the columns written back (default: every
    non-generated column of today's table). known: the dry run's counts of this table (an apply
    then skips comparing again; the fingerprint proves they still hold)."""
    t = scope.table
    key, kind = t.row_key
    path = []
    for hop in scope.path:
        ps, pt = _split(hop.parent, catalog)
        path.append({"columns": list(hop.columns), "parent_schema": ps, "parent_table": pt,
                     "parent_columns": list(hop.parent_columns)})
    return {
        "name": t.key_name, "schema": t.schema, "table": t.name, "rows": rows,
        "columns": list(columns) if columns is not None else [c.name for c in t.columns if not c.generated],
        "text_columns": sorted(text_columns), "skipped": sorted(skipped),
        "key": list(key), "key_kind": kind,
        "identity_always": any(c.identity == "always" for c in t.columns),
        "scope": {"anchor": scope.anchor, "path": path},
        **({"known": {k: known[k] for k in ("current_rows", "to_insert", "to_update", "to_delete", "unchanged")}}
           if known else {}),
    }


def _error(err: APIError, doing: str, status: int | None = None) -> TenantBackupError:
    """A PostgREST error as one line: what we were doing and the server's reason. Never the row:
    a "Failing row contains (…)" detail would print every column, secrets included."""
    code = err.code or ""
    message = (err.message or "").strip().splitlines()[0] if (err.message or "").strip() else ""
    # Only a missing function or table of ours means missing helpers: any other undefined function
    # or operator (42883) is the database's own reason, and must reach the user as it is.
    if code == "PGRST202" or (code == "42883" and "tenant_backup" in message) or (
            code in ("PGRST205", "42P01") and STAGING_TABLE in message):
        return HelpersMissing(HELPERS_MISSING)
    if status == 404 and not code and not message:  # PostgREST 12: a table it does not know is 404 {}
        return HelpersMissing(HELPERS_MISSING)
    message = message or (f"HTTP {status}" if status else "no message")
    if code == "57014":
        return ConnectionFailed(f"{doing}: the Supabase API's statement timeout stopped it and nothing was changed; "
                                f"a tenant this large is restored over the direct connection: set "
                                f"TENANT_BACKUP_DATABASE_URL (Project Settings → Database) and run it again")
    if code == "42501" or "permission denied" in message:
        return ConnectionFailed(f"{doing}: permission denied ({message}); {SERVICE_KEY_HINT}")
    if code.startswith("PGRST3") or message == "Invalid API key":
        return ConnectionFailed(f"{doing}: the key was refused ({message}); check SUPABASE_SERVICE_ROLE_KEY")
    if message.startswith(("another backup or restore", "the tenant's tables are busy")):
        return LockBusy(message)
    if message.startswith(("restoring table ", "the data changed", "the restore was refused",
                           "table ", "the role that installed")):
        return TenantBackupError(message)  # the helpers' own one-line message
    detail = err.details if isinstance(err.details, str) else ""
    detail = "" if not detail or detail.startswith("Failing row contains") else f" ({detail.splitlines()[0]})"
    return TenantBackupError(f"{doing}: {message}{detail}")


class SupabaseRestore:
    """The REST side of a restore, with the project URL and the service role key. Synchronous:
    the services run it on a worker thread."""

    def __init__(self, url: str, service_key: str, *, batch_rows: int = 2000, batch_bytes: int = 4 << 20,
                 attempts: int = 5, backoff: float = 0.5, stage_timeout: float = 120,
                 restore_timeout: float = 3600):
        role = key_role(service_key or "")
        if role is not None and role != "service_role":
            raise ConnectionFailed(f"SUPABASE_SERVICE_ROLE_KEY is the {role} key: with it row level security "
                                   f"hides every row; {SERVICE_KEY_HINT}")
        self.url, self.key = url, service_key
        self.batch_rows, self.batch_bytes = batch_rows, batch_bytes
        self.attempts, self.backoff = attempts, backoff
        self._http: list[httpx.Client] = []
        self._purged = False
        # Two clients: staging requests are short and retried; the restore RPC may run for minutes.
        self._stage = self._client(stage_timeout)
        self._rpc = self._client(restore_timeout)

    def _client(self, read_timeout: float):
        http = httpx.Client(timeout=httpx.Timeout(read_timeout, connect=15),
                            event_hooks={"response": [_raise_transient]})
        self._http.append(http)
        try:
            return create_client(self.url, self.key, options=SyncClientOptions(httpx_client=http))
        except Exception as err:  # noqa: BLE001 - supabase-py's own validation (URL, key)
            self.close()
            raise ConfigError(f"cannot use the Supabase project {self.url}: {err}; check SUPABASE_URL") from None

    def close(self) -> None:
        for http in self._http:
            http.close()
        self._http.clear()

    def __enter__(self) -> "SupabaseRestore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, doing: str, request, *, retry: bool = False):
        """Execute one request; retried (with backoff) on transient failures only when `retry`,
        i.e. when sending it twice is harmless."""
        for attempt in range(1, (self.attempts if retry else 1) + 1):
            _last.status = None
            try:
                return request().execute()
            except APIError as err:
                raise _error(err, doing, _last.status) from None
            except (_Transient, httpx.TransportError) as err:
                reason = f"HTTP {err.status}" if isinstance(err, _Transient) else (
                    "timed out" if isinstance(err, httpx.TimeoutException) else f"{type(err).__name__}: {err}")
                if attempt >= (self.attempts if retry else 1):
                    tries = f" after {attempt} attempts" if retry else ""
                    raise ConnectionFailed(f"{doing}: the Supabase API did not answer ({reason}){tries}; "
                                           f"check the project's status and try again") from None
                time.sleep(min(self.backoff * 2 ** (attempt - 1), 10))

    # ------------------------------------------------------------ helpers
    def helpers_state(self) -> dict:
        """{"installed", "version", "current"}: are the SQL functions there, and this version?"""
        try:
            res = self._call("checking the restore helpers",
                             lambda: self._rpc.rpc("tenant_backup_restore_version", {}), retry=True)
        except HelpersMissing:
            return {"installed": False, "version": None, "current": False}
        version = res.data if isinstance(res.data, int) else None
        return {"installed": True, "version": version, "current": version == RESTORE_HELPERS_VERSION}

    def require_helpers(self) -> None:
        if not self.helpers_state()["current"]:
            raise HelpersMissing(HELPERS_MISSING)

    def purge_staging(self) -> int:
        """Remove staged rows older than a day (restores that never finished)."""
        res = self._call("removing stale staged rows", lambda: self._rpc.rpc("tenant_backup_purge_staging", {}),
                         retry=True)
        self._purged = True
        return res.data if isinstance(res.data, int) else 0

    # ------------------------------------------------------------ staging
    def stage(self, run_id: str, table: str, blocks: Iterable[tuple[bytes, int]],
              on_rows: Callable[[int], None] | None = None) -> int:
        """Send one table's backup lines (blocks of whole JSON lines, as iter_part_blocks yields
        them) to the staging table, in batches. Returns how many rows were staged. The first call
        also removes stale staged rows left by restores that never finished."""
        if not self._purged:
            self.purge_staging()
        n = 0
        batch: list[dict] = []
        size = 0
        for block, _rows in blocks:
            for line in block.split(b"\n"):
                if not line:
                    continue
                text = line.decode("utf-8")
                batch.append({"run_id": run_id, "tbl": table, "n": n, "r": text})
                n += 1
                size += len(line) + 64
                if len(batch) >= self.batch_rows or size >= self.batch_bytes:
                    self._send(table, batch)
                    batch, size = [], 0
                    if on_rows:
                        on_rows(n)
        if batch:
            self._send(table, batch)
            if on_rows:
                on_rows(n)
        return n

    def _send(self, table: str, rows: list[dict]) -> None:
        self._call(f"staging table {table}", lambda: self._stage.table(STAGING_TABLE).upsert(
            rows, ignore_duplicates=True, on_conflict="run_id,tbl,n", returning=ReturnMethod.minimal), retry=True)

    def discard(self, run_id: str) -> None:
        """Remove a run's staged rows (after a failed restore; a finished one removes its own)."""
        self._call("removing staged rows", lambda: self._stage.table(STAGING_TABLE).delete(
            returning=ReturnMethod.minimal).eq("run_id", run_id), retry=True)

    def staged_info(self, run_id: str, table: str, non_null: Iterable[str] = (),
                    types: dict[str, str] | None = None) -> dict:
        """What the plan checks on staged rows: {"keys": [...] (the lines' keys: a legacy backup has
        no column list), "non_null": {column: rows holding a value} for columns dropped since,
        "unconvertible": {column: values that no longer fit today's type, or None when the server
        cannot tell (before PostgreSQL 16)} for each {column: type} of `types`}."""
        res = self._call(f"checking the staged rows of {table}", lambda: self._rpc.rpc(
            "tenant_backup_staged_info", {"p_run_id": run_id, "p_table": table, "p_non_null": list(non_null),
                                          "p_types": types or {}}), retry=True)
        return res.data

    # ------------------------------------------------------------ fingerprint and restore
    def fingerprint(self, org: str, tables: list[dict]) -> str:
        """An order-independent digest of the tenant's current rows in these tables (equal to
        RestoreSession.fingerprint over a direct connection)."""
        res = self._call("fingerprinting the tenant's current rows", lambda: self._rpc.rpc(
            "tenant_backup_fingerprint", {"p_org": org, "p_tables": _scopes(tables)}), retry=True)
        return res.data

    def restore(self, run_id: str, org: str, tables: list[dict], mode: str = "replace", apply: bool = False,
                fingerprint: str | None = None, metadata: dict | None = None, *, backup_id: str | None = None,
                fingerprint_tables: list[dict] | None = None, tenant_column: str | None = None) -> dict:
        """The whole restore in one RPC (one transaction) over rows staged under run_id.
        tables: describe_table() entries, parents first. apply=False: a dry run that changes
        nothing and returns the fingerprint the apply must pass. Returns the server's report."""
        self.require_helpers()
        user, host = who_runs()
        params = {
            "p_run_id": run_id, "p_org": org, "p_tables": tables, "p_mode": mode, "p_apply": apply,
            "p_fingerprint": fingerprint,
            "p_log": {"backup_id": backup_id, "run_by": user, "run_host": host, "tool_version": __version__,
                      "metadata": metadata or {}},
            "p_fingerprint_tables": _scopes(fingerprint_tables) if fingerprint_tables is not None else None,
            "p_tenant_column": tenant_column or Config().tenant_column,
        }
        doing = "applying the restore" if apply else "the dry run"
        try:
            res = self._call(doing, lambda: self._rpc.rpc("tenant_backup_restore", params))
        except ConnectionFailed as err:
            if apply and "did not answer" in str(err):
                raise ConnectionFailed(f"{err}; the restore may still finish on the server: check the history "
                                       f"(tenant-backup history) before running it again") from None
            raise
        if not isinstance(res.data, dict) or "tables" not in res.data:
            raise TenantBackupError(f"{doing}: the server sent an unexpected answer; {HELPERS_MISSING}")
        return res.data


def _scopes(tables: list[dict]) -> list[dict]:
    """What a fingerprint needs of a table description."""
    return [{k: t[k] for k in ("name", "schema", "table", "scope") if k in t} for t in tables]


# ---------------------------------------------------------------- the restore jobs' session

class RestStaged:
    """A table staged under a run: what the jobs decide about its columns before the RPC."""

    def __init__(self, name: str, scope: TableScope, rows: int):
        self.name, self.scope, self.rows = name, scope, rows
        self.columns: list[str] = []
        self.text_columns: set[str] = set()
        self.unreadable: set[str] = set()


class RestRestoreSession:
    """pg_restore.RestoreSession's part in the restore jobs, over REST: the same staging and
    column checks, then ONE call (`run`) in which the installed functions compare, replace, check
    references and — for an apply — re-check the fingerprint, move sequences and log, all in one
    transaction on the server. Each session stages under its own run id; whatever it staged is
    removed when it ends, whatever happened."""

    def __init__(self, project, url: str, service_key: str, config: Config, org_id: str, cancelled=None):
        self.project, self.config, self.org = project, config, org_id
        self.cancelled = cancelled
        self.run_id = new_run_id()
        self.driver = SupabaseRestore(url, service_key)
        self.staged: dict[str, RestStaged] = {}
        self.catalog: Catalog | None = None
        self.scope = None

    def __enter__(self) -> "RestRestoreSession":
        from ..core.scope import discover_scope
        from .supabase_rest import read_catalog
        try:
            self.project.check()
            self.driver.require_helpers()
            self.catalog = read_catalog(self.project, self.config.schemas)
        except BaseException:
            self.driver.close()
            raise
        self.scope = discover_scope(self.catalog, self.config)
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.staged:
                self.driver.discard(self.run_id)
        except TenantBackupError:
            pass  # stale staging is purged by the next restore
        finally:
            self.driver.close()

    def cancel(self) -> None:
        """Staging stops at its next batch; a restore RPC already sent runs to its end (or error)
        in one transaction: it is never cut halfway."""

    def _check_cancel(self) -> None:
        if self.cancelled is not None and self.cancelled.is_set():
            from ..core.errors import Cancelled
            raise Cancelled("restore cancelled; nothing was changed")

    def _all_tables(self) -> list[dict]:
        return [describe_table(s, rows=0, catalog=self.catalog) for s in self.scope.tables]

    def fingerprint(self) -> str:
        return self.driver.fingerprint(self.org, self._all_tables())

    def tenant_name(self) -> str | None:
        from .supabase_rest import get_tenant
        t = get_tenant(self.project, self.catalog, self.config, self.org)
        return t.name if t else None

    def stage(self, name: str, blocks, on_rows, compare: bool = True) -> RestStaged:
        def progress(n: int) -> None:
            on_rows(n)
            self._check_cancel()
        rows = self.driver.stage(self.run_id, name, blocks, progress)
        st = self.staged[name] = RestStaged(name, self.scope.get(name), rows)
        return st

    def staged_keys(self, st: RestStaged) -> list[str]:
        return list(self.driver.staged_info(self.run_id, st.name)["keys"])

    def non_null_count(self, st: RestStaged, column: str) -> int:
        return int(self.driver.staged_info(self.run_id, st.name, [column])["non_null"].get(column) or 0)

    def unconvertible_count(self, st: RestStaged, column: str, type_: str) -> int | None:
        n = self.driver.staged_info(self.run_id, st.name, (), {column: type_})["unconvertible"].get(column)
        return None if n is None else int(n)

    def run(self, names: list[str], mode: str, apply: bool, *, known: dict | None = None,
            fingerprint: str | None = None, metadata: dict | None = None, backup_id: str | None = None) -> dict:
        """The restore (apply) or its rehearsal (dry run) in one RPC. Returns the server's report."""
        order = [n for n in self.scope.names() if n in names]  # parents first
        tables = []
        for name in order:
            st = self.staged[name]
            tables.append(describe_table(st.scope, rows=st.rows, columns=st.columns, text_columns=st.text_columns,
                                         skipped=st.unreadable, catalog=self.catalog,
                                         known=(known or {}).get(name)))
        self._check_cancel()
        report = self.driver.restore(self.run_id, self.org, tables, mode, apply, fingerprint, metadata,
                                     backup_id=backup_id, fingerprint_tables=self._all_tables(),
                                     tenant_column=self.config.tenant_column)
        self.staged.clear()  # the RPC removed this run's rows (on an error, __exit__ does)
        return report
