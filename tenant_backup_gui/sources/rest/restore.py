"""The REST road into the restore engine (sources/restore_engine.py): stage the backup's lines
through Supabase's REST API, then ONE RPC.

Every REST request is its own transaction, so the lines are staged in batches as the backup's own
line text, then the engine's `tenant_backup_restore` (resources/sql/restore_engine.sql) checks,
compares, deletes, inserts, checks references, moves sequences and logs in the RPC's single
transaction — the same functions the direct connection calls inside its own. A retried staging batch is idempotent: rows are keyed (run_id, tbl, n) and sent
with `resolution=ignore-duplicates`, and the server refuses a restore whose staged count differs
from what was sent."""

from __future__ import annotations

import uuid
from typing import Callable, Iterable

import httpx
from postgrest.types import ReturnMethod

from ...core.config import Config
from ...core.errors import ConfigError, ConnectionFailed, TenantBackupError
from ...core.supabase_keys import key_role
from ..supabase_http import SetupMissing, SupabaseProject
from ..restore_engine import RESTORE_HELPERS_VERSION, EngineSession, engine_refusal

STAGING_TABLE = "tenant_backup_staging"
HELPERS_MISSING = ("the restore helpers are missing or outdated; run the SQL from `tenant-backup setup --print-sql` "
                   "in the Supabase SQL editor")
SERVICE_KEY_HINT = "use the project's service_role key (Project Settings → API), not the anon key"


class HelpersMissing(ConfigError):
    """The SQL functions are not installed, or are an older version: nothing was attempted."""


def new_run_id() -> str:
    return str(uuid.uuid4())


class EngineProject(SupabaseProject):
    """The Supabase client for the engine's calls: PostgREST returns the SQLSTATE a function raised
    as the answer's `code` (and its hint as `hint`), so the engine's refusals are read by code,
    as on the direct road."""

    def error(self, r: httpx.Response, doing: str) -> TenantBackupError:
        try:
            doc = r.json()
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            message = (str(doc.get("message") or "").strip().splitlines() or [""])[0]
            refusal = engine_refusal(doc.get("code"), message, doc.get("hint"), doing)
            if refusal is not None:
                return refusal
        return super().error(r, doing)


class SupabaseRestore:
    """The REST side of a restore, with the project URL and the service role key, through the one
    Supabase client (sources/supabase_http.SupabaseProject: its session, key check, retries and
    error mapping). Two of them: staging requests are short and retried; the restore RPC may run
    for minutes and is never sent twice. Synchronous: the services run it on a worker thread."""

    def __init__(self, url: str, service_key: str, *, batch_rows: int = 2000, batch_bytes: int = 4 << 20,
                 attempts: int = 5, backoff: float = 0.5, stage_timeout: float = 120,
                 restore_timeout: float = 3600):
        role = key_role(service_key or "")
        if role is not None and role != "service_role":
            raise ConnectionFailed(f"SUPABASE_SERVICE_ROLE_KEY is the {role} key: with it row level security "
                                   f"hides every row; {SERVICE_KEY_HINT}")
        self.batch_rows, self.batch_bytes = batch_rows, batch_bytes
        self._purged = False
        self._stage = EngineProject(url, service_key, timeout=stage_timeout, retries=attempts - 1, backoff=backoff)
        self._rpc = EngineProject(url, service_key, timeout=restore_timeout, retries=attempts - 1, backoff=backoff)

    @property
    def backoff(self) -> float:
        return self._stage.backoff

    @backoff.setter
    def backoff(self, seconds: float) -> None:
        self._stage.backoff = self._rpc.backoff = seconds

    def close(self) -> None:
        self._stage.close()
        self._rpc.close()

    def __enter__(self) -> "SupabaseRestore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _send(self, project: SupabaseProject, request, doing: str, *, retry: bool = True):
        """One request (a function building it with the project's client); our functions or staging
        table missing becomes HelpersMissing."""
        try:
            r = project.run(project.send(request(project.client), doing, ok_missing=True,
                                         retries=None if retry else 0))
        except SetupMissing:
            raise HelpersMissing(HELPERS_MISSING) from None
        if r.status_code == 404:  # PostgREST 12: a table it does not know is 404 {}
            raise HelpersMissing(HELPERS_MISSING)
        return r.json() if r.content else None

    # ------------------------------------------------------------ helpers
    def helpers_state(self) -> dict:
        """{"installed", "version", "current"}: are the SQL functions there, and this version?"""
        try:
            version = self._send(self._rpc, lambda c: c.rpc("tenant_backup_restore_version", {}),
                                 "checking the restore helpers")
        except HelpersMissing:
            return {"installed": False, "version": None, "current": False}
        version = version if isinstance(version, int) else None
        return {"installed": True, "version": version, "current": version == RESTORE_HELPERS_VERSION}

    def require_helpers(self) -> None:
        if not self.helpers_state()["current"]:
            raise HelpersMissing(HELPERS_MISSING)

    def purge_staging(self) -> int:
        """Remove staged rows older than a day (restores that never finished)."""
        n = self._send(self._rpc, lambda c: c.rpc("tenant_backup_purge_staging", {}), "removing stale staged rows")
        self._purged = True
        return n if isinstance(n, int) else 0

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
                    self._batch(table, batch)
                    batch, size = [], 0
                    if on_rows:
                        on_rows(n)
        if batch:
            self._batch(table, batch)
            if on_rows:
                on_rows(n)
        return n

    def _batch(self, table: str, rows: list[dict]) -> None:
        self._send(self._stage, lambda c: c.table(STAGING_TABLE).upsert(
            rows, ignore_duplicates=True, on_conflict="run_id,tbl,n", returning=ReturnMethod.minimal),
            f"staging table {table}")

    def discard(self, run_id: str) -> None:
        """Remove a run's staged rows (after a failed restore; a finished one removes its own)."""
        self._send(self._stage, lambda c: c.table(STAGING_TABLE).delete(
            returning=ReturnMethod.minimal).eq("run_id", run_id), "removing staged rows")

    def call(self, fn: str, params: dict, doing: str | None = None):
        """One engine function as an RPC, after checking the helpers are there and current. Only
        the read-only staged_info is retried: a restore or check sent twice is not harmless."""
        self.require_helpers()
        apply = fn == "tenant_backup_restore" and params.get("p_apply")
        doing = doing or ("applying the restore" if apply else "the dry run" if fn == "tenant_backup_restore"
                          else "checking the restore")
        try:
            data = self._send(self._rpc, lambda c: c.rpc(fn, params), doing, retry=fn == "tenant_backup_staged_info")
        except ConnectionFailed as err:
            if apply and "did not answer" in str(err):
                raise ConnectionFailed(f"{err}; the restore may still finish on the server: check the history "
                                       f"(tenant-backup history) before running it again") from None
            raise
        if fn in ("tenant_backup_row_page", "tenant_backup_row_list_done"):  # restore_rows.sql's list
            return data
        if fn != "tenant_backup_staged_info" and (not isinstance(data, dict) or "tables" not in data):
            raise TenantBackupError(f"{doing}: the server sent an unexpected answer; {HELPERS_MISSING}")
        return data


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
        from ...core.scope import discover_scope
        from .catalog import read_catalog
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
        from .tenants import get_tenant
        t = get_tenant(self.project, self.catalog, self.config, self.org)
        return t.name if t else None

    def _stage(self, name, blocks, on_rows):
        return self.driver.stage(self.run_id, name, blocks, on_rows), None

    def _call(self, fn, params, doing):
        return self.driver.call(fn, params, doing)

    def dry_run(self, names, mode, list_rows=False):
        report = super().dry_run(names, mode, list_rows)
        self.staged.clear()  # the RPC removed this run's rows (on an error, _close does)
        return report

    def check(self, names, mode, fingerprint):
        p = self.params(names, mode, apply=True, fingerprint=fingerprint)
        del p["p_apply"], p["p_log"]  # a check is an apply's checks: it writes nothing, logs nothing
        self.driver.call("tenant_backup_check", p)

    def apply(self, names, mode, *, known, fingerprint, metadata, backup_id):
        """The server locks the tables, re-checks the fingerprint and every row, restores, moves
        the sequences and writes the history row in the one transaction of its restore function."""
        report = self.driver.call("tenant_backup_restore", self.params(
            names, mode, apply=True, known=known, fingerprint=fingerprint, metadata=metadata, backup_id=backup_id))
        self.staged.clear()
        return report
