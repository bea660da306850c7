"""The REST road into the restore engine (sources/restore_engine.py): stage the backup's lines
through Supabase's REST API, then ONE RPC.

Every REST request is its own transaction, so the lines are staged in batches as the backup's own
line text, then the engine's `tenant_backup_restore` (resources/sql/supabase_restore.sql) checks,
compares, deletes, inserts, checks references, moves sequences and logs in the RPC's single
transaction — the same functions the direct connection calls inside its own. A retried staging batch is idempotent: rows are keyed (run_id, tbl, n) and sent
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
from ..core.supabase_keys import key_role
from .postgres import who_runs
from .restore_engine import RESTORE_HELPERS_VERSION, EngineSession, describe_table, fingerprint_tables  # noqa: F401

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
    if message.startswith(("restoring table ", "the data changed", "the restore was refused", "the backup is refused",
                           "table ", "the role that installed", "the staged rows of ")):
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
            "tenant_backup_fingerprint", {"p_org": org, "p_tables": fingerprint_tables(tables)}), retry=True)
        return res.data

    def restore(self, run_id: str, org: str, tables: list[dict], mode: str = "replace", apply: bool = False,
                fingerprint: str | None = None, metadata: dict | None = None, *, backup_id: str | None = None,
                fingerprint_tables: list[dict] | None = None, tenant_column: str | None = None) -> dict:
        return self.call("tenant_backup_restore", self.restore_params(
            run_id, org, tables, mode, apply, fingerprint, metadata, backup_id=backup_id,
            fp_tables=fingerprint_tables, tenant_column=tenant_column))

    def restore_params(self, run_id: str, org: str, tables: list[dict], mode: str = "replace", apply: bool = False,
                       fingerprint: str | None = None, metadata: dict | None = None, *, backup_id: str | None = None,
                       fp_tables: list[dict] | None = None, tenant_column: str | None = None) -> dict:
        """The engine's arguments for a restore over rows staged under run_id. tables:
        describe_table() entries, parents first. apply=False: a dry run that changes nothing and
        returns the fingerprint the apply must pass."""
        user, host = who_runs()
        return {
            "p_run_id": run_id, "p_org": org, "p_tables": tables, "p_mode": mode, "p_apply": apply,
            "p_fingerprint": fingerprint,
            "p_log": {"backup_id": backup_id, "run_by": user, "run_host": host, "tool_version": __version__,
                      "metadata": {"via": "rest", **(metadata or {})}},
            "p_fingerprint_tables": fingerprint_tables(fp_tables) if fp_tables is not None else None,
            "p_tenant_column": tenant_column or Config().tenant_column,
        }

    def call(self, fn: str, params: dict, doing: str | None = None):
        """One engine function as an RPC, after checking the helpers are there and current. Only
        the read-only staged_info is retried: a restore or check sent twice is not harmless."""
        self.require_helpers()
        apply = fn == "tenant_backup_restore" and params.get("p_apply")
        doing = doing or ("applying the restore" if apply else "the dry run" if fn == "tenant_backup_restore"
                          else "checking the restore")
        try:
            res = self._call(doing, lambda: self._rpc.rpc(fn, params), retry=fn == "tenant_backup_staged_info")
        except ConnectionFailed as err:
            if apply and "did not answer" in str(err):
                raise ConnectionFailed(f"{err}; the restore may still finish on the server: check the history "
                                       f"(tenant-backup history) before running it again") from None
            raise
        if fn != "tenant_backup_staged_info" and (not isinstance(res.data, dict) or "tables" not in res.data):
            raise TenantBackupError(f"{doing}: the server sent an unexpected answer; {HELPERS_MISSING}")
        return res.data


# ---------------------------------------------------------------- the restore jobs' session

class RestRestore(EngineSession):
    """The engine over REST: each session stages under its own run id; whatever it staged is
    removed when it ends, whatever happened. A restore RPC already sent runs to its end (or
    error) in one transaction: it is never cut halfway."""

    road = "rest"

    def __init__(self, project, url: str, service_key: str, config: Config, org_id: str, cancelled=None):
        super().__init__(config, org_id, cancelled)
        self.project = project
        self.run_id = new_run_id()
        self.driver = SupabaseRestore(url, service_key)

    def _open(self) -> None:
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

    def _close(self) -> None:
        try:
            if self.staged:
                self.driver.discard(self.run_id)
        except TenantBackupError:
            pass  # stale staging is purged by the next restore
        finally:
            self.driver.close()

    def tenant_name(self) -> str | None:
        from .supabase_rest import get_tenant
        t = get_tenant(self.project, self.catalog, self.config, self.org)
        return t.name if t else None

    def _stage(self, name, blocks, on_rows):
        return self.driver.stage(self.run_id, name, blocks, on_rows), None

    def _call(self, fn, params, doing):
        return self.driver.call(fn, params, doing)

    def dry_run(self, names, mode):
        report = super().dry_run(names, mode)
        self.staged.clear()  # the RPC removed this run's rows (on an error, _close does)
        return report

    def check(self, names, mode, fingerprint):
        p = self.params(names, mode, apply=True, fingerprint=fingerprint)
        p.pop("p_apply"), p.pop("p_log")
        self.driver.call("tenant_backup_check", p)

    def apply(self, names, mode, *, known, fingerprint, metadata, backup_id):
        """The server locks the tables, re-checks the fingerprint and every row, restores, moves
        the sequences and writes the history row in the one transaction of its restore function."""
        report = self.driver.call("tenant_backup_restore", self.params(
            names, mode, apply=True, known=known, fingerprint=fingerprint, metadata=metadata, backup_id=backup_id))
        self.staged.clear()
        return report
