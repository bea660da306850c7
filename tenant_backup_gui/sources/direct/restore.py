"""The direct connection's road into the restore engine (sources/restore_engine.py).

The backup's lines are COPYed, block by block (binary COPY, each line one text field: see
`binary_rows`), into tables of the restore's own transaction:
unlogged tables it creates, which the server's parallel workers can read while it decodes them
(dropped before the commit; a rollback or a dead client removes them with the transaction), or
temporary ones where the role may not create tables. The engine's SQL functions then run inside
that same transaction. A dry run rolls it back and VACUUMs the tables its rehearsal filled with
dead rows; an apply is checked (`check`), then — after the job's safety backup — applied and
committed by the caller."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import psycopg
from psycopg import sql
from psycopg.types.json import Json

from ...core.config import Config
from ...core.errors import Busy, ConfigError, IntegrityError, TenantBackupError
from ...core.scope import discover_scope
from .catalog import read_catalog, table_ident
from .connect import connect, db_error
from .tenants import get_tenant
from ..shared import BUSY, BUSY_SQLSTATES, first_line as _first_line
from ..restore_engine import RESTORE_HELPERS_VERSION, EngineSession, engine_refusal

HELPERS_MISSING = "the restore helpers are missing or outdated in this database; run: tenant-backup setup"
# The engine's arguments and their SQL types (every call names its arguments).
ARG_TYPES = {"p_run_id": "uuid", "p_org": "text", "p_tables": "json", "p_mode": "text",
             "p_apply": "boolean", "p_fingerprint": "text", "p_log": "json", "p_fingerprint_tables": "json",
             "p_tenant_column": "text", "p_lock": "boolean", "p_check_only": "boolean", "p_checked": "boolean",
             "p_table": "text", "p_non_null": "text[]", "p_types": "json", "p_stage": "text",
             "p_after": "bigint", "p_limit": "integer", "p_choice": "json"}

# COPY's binary format: the signature, no flags, no header extension; then one tuple per line.
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
BINARY_TRAILER = b"\xff\xff"
MAX_LINE = (1 << 30) - 1  # PostgreSQL's largest text value


def binary_rows(block: bytes, piece: int = 1 << 18) -> Iterator[bytes]:
    """A block of whole lines (each ending in a newline) as COPY binary tuples of one text field,
    each line's bytes exactly, `piece` bytes of lines at a time (a block can be megabytes; framing
    it whole would hold it three times over). The server then only checks the text's encoding,
    where parsing CSV scanned every byte for quotes and delimiters: half the staging's server
    time. An empty line is NULL, as it was in CSV (the decoding refuses it). A line PostgreSQL could
    not hold (a text value is at most 1 GB) is refused here: its length would not fit the frame."""
    start = 0
    while start < len(block):
        end = block.rfind(b"\n", start, start + piece) + 1 or block.index(b"\n", start) + 1
        if end - start > MAX_LINE:
            raise IntegrityError(f"a row of the backup is {end - start - 1:,} bytes long, over PostgreSQL's limit "
                                 f"of 1 GB for a value: the backup is damaged or was edited; restore another backup")
        yield b"".join([b"\x00\x01" + len(line).to_bytes(4, "big") + line if line else b"\x00\x01\xff\xff\xff\xff"
                        for line in block[start:end].split(b"\n")[:-1]])
        start = end


def engine_error(err: psycopg.Error, doing: str) -> TenantBackupError:
    msg = _first_line(err)
    if isinstance(err, psycopg.errors.UndefinedFunction) and "tenant_backup" in msg:
        return ConfigError(HELPERS_MISSING)
    refusal = engine_refusal(err.sqlstate, msg, err.diag.message_hint, doing)
    if refusal is not None:
        return refusal
    if err.sqlstate in BUSY_SQLSTATES:  # the app's deadlock: retried (services/contention.py)
        return Busy(f"{BUSY} ({doing}: {msg})")
    return db_error(err, doing)


class DirectRestore(EngineSession):
    """One connection, one transaction; nothing commits unless `commit()` is called."""

    road = "direct"

    def __init__(self, url: str, config: Config, org_id: str, cancelled=None, snapshot: bool = False):
        """snapshot=True: REPEATABLE READ, so a dry run's fingerprint and counts see one state."""
        super().__init__(config, org_id, cancelled)
        self.url, self.snapshot = url, snapshot
        self.conn: psycopg.Connection | None = None
        self.run_id = str(uuid.uuid4())  # its stages are its own tables; its row list is keyed by it
        self.shared_stage = False  # unlogged stages parallel workers can read (else temporary ones)
        self.stages: list[str] = []

    def _open(self) -> None:
        self.conn = connect(self.url)
        if self.snapshot:
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        try:
            version = self.conn.execute("SELECT to_regprocedure('public.tenant_backup_restore_version()') IS NOT NULL"
                                        ).fetchone()[0] and self.conn.execute(
                "SELECT public.tenant_backup_restore_version()").fetchone()[0]
            if version != RESTORE_HELPERS_VERSION:
                raise ConfigError(HELPERS_MISSING)
            self.catalog = read_catalog(self.conn, self.config.schemas)
            self.shared_stage = self.conn.execute(
                "SELECT has_schema_privilege('public', 'CREATE') "
                "AND current_setting('max_parallel_workers_per_gather')::int > 0").fetchone()[0]
        except BaseException as err:
            self._close()
            if isinstance(err, psycopg.Error):
                raise db_error(err, "reading the database catalog") from None
            raise
        self.scope = discover_scope(self.catalog, self.config)

    def _close(self) -> None:
        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.rollback()
            except psycopg.Error:
                pass
            self.conn.close()

    def cancel(self) -> None:
        if self.conn is not None:
            try:
                self.conn.cancel_safe()
            except Exception:  # noqa: BLE001
                pass

    def tenant_name(self) -> str | None:
        t = get_tenant(self.conn, self.catalog, self.config, self.org)
        return t.name if t else None

    def _stage(self, name, blocks, on_rows):
        stage = f"tenant_backup_stage_{uuid.uuid4().hex[:12]}_{len(self.staged)}"
        ident = sql.Identifier("public", stage) if self.shared_stage else sql.Identifier(stage)
        try:
            if self.shared_stage:  # created by this transaction: nobody else sees it, the engine checks that
                self.conn.execute(sql.SQL("CREATE UNLOGGED TABLE {} (r text)").format(ident))
                self.stages.append(stage)
            else:
                self.conn.execute(sql.SQL("CREATE TEMP TABLE {} (r text) ON COMMIT DROP").format(ident))
            n = 0
            with self.conn.cursor() as cur, cur.copy(sql.SQL("COPY {} (r) FROM STDIN (FORMAT binary)").format(
                    ident)) as cp:
                cp.write(BINARY_HEADER)
                for block, rows in blocks:
                    for tuples in binary_rows(block):
                        cp.write(tuples)
                    n += rows
                    on_rows(n)
                cp.write(BINARY_TRAILER)
        except psycopg.Error as err:
            raise db_error(err, f"staging table {name}") from None
        return n, f"public.{stage}" if self.shared_stage else f"pg_temp.{stage}"

    def _call(self, fn: str, params: dict, doing: str):
        args = sql.SQL(", ").join(sql.SQL("{} => {}::{}").format(sql.Identifier(k), sql.Placeholder(k),
                                                                  sql.SQL(ARG_TYPES[k])) for k in params)
        values = {k: Json(v) if isinstance(v, (dict, list)) and ARG_TYPES[k] == "json" else v
                  for k, v in params.items()}
        try:
            return self.conn.execute(sql.SQL("SELECT public.{}({})").format(sql.Identifier(fn), args),
                                     values).fetchone()[0]
        except psycopg.Error as err:
            raise engine_error(err, doing) from None

    def _run(self, params: dict, *, check_only: bool = False, checked: bool = False):
        """The engine's own entry, inside this transaction, with the API's arguments: the job holds
        the tenant's lock on its own connection (p_lock false)."""
        return self._call("tenant_backup__run", {**params, "p_lock": False, "p_check_only": check_only,
                                                 "p_checked": checked}, "applying the restore")

    def check(self, names, mode, fingerprint):
        self._run(self.params(names, mode, apply=True, fingerprint=fingerprint), check_only=True)

    def apply(self, names, mode, *, known, fingerprint, metadata, backup_id):
        """After check() in this transaction: its tables are locked since, the fingerprint, the
        staged counts and every row's owner stand proven (p_checked)."""
        return self._run(self.params(names, mode, apply=True, known=known, fingerprint=fingerprint,
                                     metadata=metadata, backup_id=backup_id), checked=True)

    def commit(self) -> None:
        try:
            if self.stages:  # the unlogged stages must not outlive the restore
                self.conn.execute(sql.SQL("DROP TABLE {}").format(
                    sql.SQL(", ").join(sql.Identifier("public", s) for s in self.stages)))
                self.stages.clear()
            self.conn.commit()
        except psycopg.Error as err:
            raise db_error(err, "committing the restore") from None

    def tidy(self, restored: dict[str, int], share: float = 0.1, lanes: int = 2) -> list[str]:
        """End a dry run: roll its rehearsal back, then VACUUM the tables where the rolled-back rows
        are at least `share` of the table: they stay behind as dead rows (and index entries), which
        the apply would otherwise wade through. VACUUM changes no data and blocks neither reads nor
        writes; best effort (a role that may not vacuum a table only gets a warning). Tables are
        vacuumed `lanes` at a time, each lane on its own connection: VACUUM works on one core."""
        self.conn.rollback()
        todo = [(name, rows) for name, rows in restored.items() if rows]
        done: list[str] = []
        lock = threading.Lock()

        def lane() -> None:
            try:
                with connect(self.url, autocommit=True) as c:
                    c.execute("SET lock_timeout = '2s'")
                    while True:
                        with lock:
                            if not todo or (self.cancelled is not None and self.cancelled.is_set()):
                                return
                            name, rows = todo.pop(0)
                        t = self.scope.get(name).table
                        size = c.execute("SELECT greatest(reltuples, 0) FROM pg_class "
                                         "WHERE oid = to_regclass(format('%%I.%%I', %s::text, %s::text))",
                                         [t.schema, t.name]).fetchone()
                        if size is not None and rows >= share * (size[0] + rows):
                            # SKIP_LOCKED: never wait behind another maintenance job; no TRUNCATE: its
                            # brief exclusive lock on the table's tail would stop readers and writers.
                            try:
                                c.execute(sql.SQL("VACUUM (SKIP_LOCKED, TRUNCATE false) {}").format(table_ident(t)))
                                with lock:
                                    done.append(name)
                            except psycopg.Error:
                                continue
            except (psycopg.Error, TenantBackupError):
                pass

        with ThreadPoolExecutor(lanes) as pool:
            for f in [pool.submit(lane) for _ in range(min(lanes, len(todo)))]:
                f.result()
        return done
