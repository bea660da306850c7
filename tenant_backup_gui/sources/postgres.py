"""A tenant's rows over a direct PostgreSQL connection (psycopg 3).

One REPEATABLE READ READ ONLY transaction covers the catalog read and every table of a tenant, so
a backup is one consistent snapshot. Rows leave the server as their backup JSON — the query text
comes from the SQL `setup` installs (resources/sql/rows.sql), the one definition the REST export and
the restore engine use too — through COPY in CSV mode with quote and delimiter set to control
characters that JSON never holds raw: the bytes that arrive are exactly PostgreSQL's JSON text, one
row a line, and nothing re-encodes them."""

from __future__ import annotations

import getpass
import json
import os
import queue
import selectors
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import psycopg
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Json

from .. import __version__
from ..core.config import Config
from ..core.errors import Busy, Cancelled, ConfigError, ConnectionFailed, LockBusy, TenantBackupError
from ..core.scope import Catalog, Column, ForeignKey, Table, TableScope, scope_json
from ..platform.paths import resource_text
from .pooler import check_connection, wait_seconds

APP_NAME = "tenant-backup"
LOCK_CLASS = 0x7B6B  # advisory lock namespace: (LOCK_CLASS, hashtext(org id))
SCHEMA_VERSION = 1


def describe_url(url: str) -> str:
    """Where we connect, for messages and metadata: never the password."""
    try:
        d = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "an unparsable database URL"
    host = d.get("host") or "localhost"
    port = f":{d['port']}" if d.get("port") else ""
    user = f"{d['user']}@" if d.get("user") else ""
    return f"{user}{host}{port}/{d.get('dbname') or d.get('user') or 'postgres'}"


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def connect(url: str, autocommit: bool = False, timeout: int = 15) -> psycopg.Connection:
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise ConfigError("the database URL is not valid; expected postgresql://user:password@host:5432/dbname "
                          "(TENANT_BACKUP_DATABASE_URL)") from None
    try:
        conn = psycopg.connect(url, autocommit=autocommit, application_name=APP_NAME, connect_timeout=timeout)
        check_connection(conn, url, describe_url(url), wait_seconds(url, timeout), application_name=APP_NAME,
                         connect_timeout=timeout)  # sources/pooler.py: a bounded wait, no transaction pooler
        return conn
    except psycopg.OperationalError as err:
        reason = _first_line(err)
        # psycopg prefixes "connection failed: connection to server at ... failed:"; keep the reason.
        reason = reason.split("failed: ")[-1] if "failed: " in reason else reason
        if "timeout expired" in reason:
            reason = f"no answer within {timeout} s (is that the database's host and port?)"
        raise ConnectionFailed(f"cannot connect to the database {describe_url(url)}: {reason}; "
                               f"check TENANT_BACKUP_DATABASE_URL") from None


# Deadlock, serialization failure, lock timeout: the app's own writes got in the way (services/contention.py).
BUSY_SQLSTATES = ("40P01", "40001", "55P03")
BUSY = "busy: the app is writing to this organization; try again or pick a quiet moment"


def db_error(err: psycopg.Error, doing: str) -> TenantBackupError:
    """A database error as one line that says what we were doing and the server's reason."""
    if getattr(err, "sqlstate", None) in BUSY_SQLSTATES:
        return Busy(f"{BUSY} ({doing}: {_first_line(err)})")
    if isinstance(err, psycopg.errors.InsufficientPrivilege):
        return ConnectionFailed(f"{doing}: permission denied ({_first_line(err)}); connect as the database "
                                f"owner or a role that can read every tenant table")
    if isinstance(err, psycopg.errors.UndefinedTable):
        return TenantBackupError(f"{doing}: {_first_line(err)} (was a table dropped during the run?); run it again")
    if isinstance(err, psycopg.errors.QueryCanceled):
        return Cancelled(f"{doing}: cancelled")
    if isinstance(err, psycopg.OperationalError):
        return ConnectionFailed(f"{doing}: the database connection failed: {_first_line(err)}")
    return TenantBackupError(f"{doing}: {_first_line(err)}")


# ---------------------------------------------------------------- catalog

# One copy of the catalog query for both paths: the direct connection runs it with %s = the schemas,
# and the REST path installs it as the body of public.tenant_backup_catalog (supabase_rest.setup_sql).
CATALOG_SQL = resource_text("sql", "catalog.sql")
LAST_BACKUPS_SQL = resource_text("sql", "last_backups.sql")


def _key_name(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def read_catalog(conn: psycopg.Connection, schemas: tuple[str, ...]) -> Catalog:
    return catalog_from_rows(conn.execute(CATALOG_SQL, [list(schemas)]))


CATALOG_FINGERPRINT_SQL = resource_text("sql", "catalog_fingerprint.sql")


class CatalogCache:
    """The catalog read once for a whole run (`daily`), with its fingerprint: each tenant's snapshot
    re-checks the fingerprint (one cheap query, inside that snapshot) and reads the catalog again
    only when the schema changed meanwhile — so a column added mid-run is in the next tenant's backup."""

    def __init__(self):
        self._lock = threading.Lock()
        self.fingerprint: str | None = None
        self.catalog: Catalog | None = None
        self.reads = 0  # full catalog reads this run: 1 unless the schema changed meanwhile

    def get(self, conn: psycopg.Connection, schemas: tuple[str, ...]) -> Catalog:
        fp = conn.execute(CATALOG_FINGERPRINT_SQL, [list(schemas)]).fetchone()[0]
        with self._lock:
            if fp == self.fingerprint and self.catalog is not None:
                return self.catalog
        catalog = read_catalog(conn, schemas)
        with self._lock:
            self.fingerprint, self.catalog = fp, catalog
            self.reads += 1
        return catalog


def catalog_from_rows(rows) -> Catalog:
    """The Catalog from the catalog query's rows (schema, name, partitioned, columns, unique keys,
    foreign keys, primary key), whichever path read them."""
    tables = {}
    for schema, name, partitioned, cols, uniques, fks, pk in rows:
        identity = {"a": "always", "d": "by default"}
        columns = tuple(Column(c["name"], c["type"], c["nullable"], c["generated"],
                               identity.get(c["identity"] or ""), as_text=bool(c["as_text"])) for c in cols)
        pk_cols = tuple(next((u for u in uniques if pk and set(u) == set(pk)), pk or ()))
        uks = tuple(tuple(u) for u in uniques if tuple(u) != pk_cols)
        foreign = tuple(ForeignKey(tuple(f["cols"]), _key_name(f["ref_schema"], f["ref_table"]), tuple(f["ref_cols"]))
                        for f in fks)
        t = Table(schema, name, columns, pk_cols, uks, foreign, partitioned)
        tables[t.key_name] = t
    return Catalog(tables)


def table_ident(t: Table) -> sql.Composable:
    return sql.SQL(".").join([sql.Identifier(t.schema), sql.Identifier(t.name)])


# The version of the export functions `setup` installs (resources/sql/rows.sql and supabase.sql),
# recorded in tenant_backup_meta as 'supabase_version': both export roads refuse older ones.
EXPORT_VERSION = 2
EXPORT_HELPERS_MISSING = ("the export helpers are missing or outdated in this database "
                          "(a tenant's rows are read through them); run: tenant-backup setup")


def table_json(t: Table) -> dict:
    """A table as the installed export functions read it (resources/sql/rows.sql, supabase.sql):
    its columns in order, which of them travel as their text (the catalog's word, which the
    manifest records too), and the key a REST export pages by."""
    key, _ = t.row_key
    return {"schema": t.schema, "name": t.name,
            "columns": [{"name": c.name, "as_text": c.as_text} for c in t.columns], "key": list(key)}


def rows_queries(conn: psycopg.Connection, scopes: list[TableScope], catalog: Catalog, org_id: str) -> list[str]:
    """`SELECT <each row's backup JSON> FROM the table WHERE the row belongs to the tenant` for each
    table, as the installed SQL builds it (resources/sql/rows.sql): the one definition of a tenant's
    rows and their JSON, which the REST export and the restore engine use as well. One round trip
    for every table (a remote database's latency, paid once). Missing or outdated helpers: one line
    saying to run setup."""
    tables = Json([{"table": table_json(s.table), "scope": scope_json(s, catalog)} for s in scopes])
    return _from_export_helpers(conn, "ARRAY(SELECT public.tenant_backup_export_query(t->'table', t->'scope', %s) "
                                      "FROM json_array_elements(%s::json) WITH ORDINALITY AS u(t, i) ORDER BY i)",
                                [org_id, tables])


def rows_query(conn: psycopg.Connection, scope: TableScope, catalog: Catalog, org_id: str,
               select: str | None = None) -> str:
    """One table's query (rows_queries). `select`: other columns instead (benchmarks)."""
    if select is None:
        return rows_queries(conn, [scope], catalog, org_id)[0]
    return _from_export_helpers(conn, "format('SELECT %%s %%s', %s::text, (public.tenant_backup_rows("
                                      "public.tenant_backup_table_rel(%s), NULL, %s, %s)).source)",
                                [select, Json(table_json(scope.table)), Json(scope_json(scope, catalog)), org_id])


def _from_export_helpers(conn: psycopg.Connection, expression: str, params: list):
    """`expression` over the installed export helpers, with their version read in the same round
    trip: missing or outdated helpers give one line saying to run setup."""
    try:
        version, value = conn.execute(
            "SELECT (SELECT value FROM public.tenant_backup_meta WHERE key = 'supabase_version'), " + expression,
            params).fetchone()
    except (psycopg.errors.UndefinedFunction, psycopg.errors.UndefinedTable):
        raise ConfigError(EXPORT_HELPERS_MISSING) from None
    if version != str(EXPORT_VERSION):
        raise ConfigError(EXPORT_HELPERS_MISSING)
    return value


def scope_condition(conn: psycopg.Connection, scope: TableScope, catalog: Catalog, org_id: str,
                    alias: str = "tb$row") -> str:
    """The installed WHERE condition (rows.sql): the row of `alias` belongs to the tenant."""
    return conn.execute("SELECT public.tenant_backup_scope_condition(%s, %s, %s)",
                        [alias, Json(scope_json(scope, catalog)), org_id]).fetchone()[0]


# ---------------------------------------------------------------- tenants

@dataclass(frozen=True)
class Tenant:
    id: str
    name: str | None
    deleted: bool = False

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "deleted": self.deleted}


def list_tenants(conn: psycopg.Connection, catalog: Catalog, config: Config) -> list[Tenant]:
    t = catalog.get(config.tenant_table)
    if t is None or len(t.primary_key) != 1:
        raise ConfigError(f"the tenant table '{config.tenant_table}' does not exist or has no single-column "
                          f"primary key; set tenant_table in the config")
    name_col = config.tenant_name_column if t.column(config.tenant_name_column) else t.primary_key[0]
    deleted = sql.SQL("{} IS NOT NULL").format(sql.Identifier("deleted_at")) if t.column("deleted_at") else sql.SQL("false")
    q = sql.SQL("SELECT {}::text, {}::text, {} FROM {} ORDER BY 2, 1").format(
        sql.Identifier(t.primary_key[0]), sql.Identifier(name_col), deleted, table_ident(t))
    return [Tenant(i, n, d) for i, n, d in conn.execute(q)]


def get_tenant(conn: psycopg.Connection, catalog: Catalog, config: Config, org_id: str) -> Tenant | None:
    t = catalog.get(config.tenant_table)
    if t is None or len(t.primary_key) != 1:
        return None
    name_col = config.tenant_name_column if t.column(config.tenant_name_column) else t.primary_key[0]
    deleted = sql.SQL("{} IS NOT NULL").format(sql.Identifier("deleted_at")) if t.column("deleted_at") else sql.SQL("false")
    q = sql.SQL("SELECT {}::text, {}::text, {} FROM {} WHERE {}::text = %s").format(
        sql.Identifier(t.primary_key[0]), sql.Identifier(name_col), deleted, table_ident(t),
        sql.Identifier(t.primary_key[0]))
    row = conn.execute(q, [org_id]).fetchone()
    return Tenant(*row) if row else None


# ---------------------------------------------------------------- export

COPY_OPTIONS = sql.SQL("WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')")


class Session:
    """One connection that serves a whole tenant job in turn — its history row, its tenant lock
    (a session advisory lock) and its snapshot (a transaction) — where a lone backup opens a
    connection for each. `daily --jobs N` keeps N of them in a SessionPool for the whole run."""

    def __init__(self, url: str):
        self.url = url
        self.conn: psycopg.Connection | None = None

    def connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = connect(self.url, autocommit=True)
        return self.conn

    def reset(self) -> None:
        """Between two tenant jobs: no transaction left open (a failed job may leave one)."""
        conn = self.conn
        if conn is None or conn.closed:
            return
        try:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
        except psycopg.Error:
            self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class SessionPool:
    """At most `size` connections, each lent to one tenant job at a time."""

    def __init__(self, url: str, size: int):
        self._free: queue.Queue[Session] = queue.Queue()
        self._all = [Session(url) for _ in range(size)]
        for sess in self._all:
            self._free.put(sess)

    @contextmanager
    def session(self) -> Iterator[Session]:
        sess = self._free.get()
        try:
            yield sess
        finally:
            sess.reset()
            self._free.put(sess)

    def close(self) -> None:
        for sess in self._all:
            sess.close()


class Snapshot:
    """One consistent, read-only view of the database for one backup. With a Session it runs as a
    transaction on that session's connection (and a CatalogCache spares the catalog read)."""

    def __init__(self, url: str, config: Config, session: Session | None = None, cache: CatalogCache | None = None):
        self.url = url
        self.config = config
        self.session = session
        self.cache = cache
        self.conn: psycopg.Connection | None = None
        self.catalog: Catalog | None = None
        self._workers: list[Snapshot] = []
        self._exported: str | None = None
        self._queries: dict[str, str] = {}  # table -> its export query (prepare_export), shared with workers

    def __enter__(self) -> "Snapshot":
        if self.session is not None:
            self.conn = self.session.connection()
        else:
            self.conn = connect(self.url)
        try:
            self._begin()
            if self.cache is not None:
                self.catalog = self.cache.get(self.conn, self.config.schemas)
            else:
                self.catalog = read_catalog(self.conn, self.config.schemas)
            self.server_version = self.conn.info.server_version
        except psycopg.Error as err:
            self.__exit__()
            raise db_error(err, "reading the database catalog") from None
        return self

    def _begin(self) -> None:
        """A REPEATABLE READ, READ ONLY transaction: begun outright on a session's (autocommit)
        connection, else on the first statement of our own."""
        if self.session is not None:
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        else:
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self.conn.read_only = True

    def __exit__(self, *exc) -> None:
        for w in list(self._workers):
            if w.conn is not None and not w.conn.closed:
                w.__exit__()
        if self.conn is None:
            return
        if self.session is not None:
            self.session.reset()  # ends the transaction, keeps the connection for the next job
            return
        try:
            self.conn.rollback()
        except psycopg.Error:
            pass
        self.conn.close()

    def lock_tables(self, scopes: list[TableScope]) -> None:
        """ACCESS SHARE on every table up front: a DROP or ALTER waits for us instead of
        breaking the backup halfway (ordinary writes are not blocked)."""
        if not scopes:
            return
        idents = sql.SQL(", ").join(table_ident(s.table) for s in scopes)
        try:
            self.conn.execute("SET LOCAL lock_timeout = '30s'")
            self.conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(idents))
        except psycopg.errors.LockNotAvailable:
            raise TenantBackupError("a schema change holds the tenant's tables locked for over 30 s; "
                                    "run the backup again when it has finished") from None
        except (psycopg.errors.UndefinedTable, psycopg.errors.InternalError) as err:
            raise TenantBackupError(f"a table was dropped or replaced as the backup started ({_first_line(err)}); "
                                    f"run the backup again") from None
        except psycopg.Error as err:
            raise db_error(err, "locking the tenant's tables for the snapshot") from None

    def table_sizes(self, scopes: list[TableScope]) -> dict[str, int]:
        """Each table's size on disk, partitions included: parallel workers take the largest first,
        so the longest table starts at once instead of last."""
        try:
            # pg_partition_tree() lists nothing for a plain table: its own size (TOAST included,
            # where large JSON and text live), and for a partitioned one the sum of its partitions'.
            rows = self.conn.execute(
                """SELECT n.nspname, c.relname,
                          CASE WHEN c.relkind = 'p'
                               THEN (SELECT coalesce(sum(pg_table_size(p.relid)), 0) FROM pg_partition_tree(c.oid) p)
                               ELSE pg_table_size(c.oid) END
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s)""", [list(self.config.schemas)])
            sizes = {_key_name(sch, name): int(size) for sch, name, size in rows}
        except psycopg.Error as err:
            raise db_error(err, "reading the tables' sizes") from None
        return {s.table.key_name: sizes.get(s.table.key_name, 0) for s in scopes}

    def share(self) -> str:
        """This snapshot's id for workers (pg_export_snapshot), exported once. A backup that may be
        joined later by a lent connection exports it up front, while its connection is idle."""
        try:
            if self._exported is None:
                self._exported = self.conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        except psycopg.Error as err:
            raise db_error(err, "sharing the snapshot with parallel workers") from None
        return self._exported

    def worker(self, scopes: list[TableScope], session: Session | None = None) -> "Snapshot":
        """Another connection that sees exactly this snapshot: this transaction exports it
        (pg_export_snapshot) and the worker's transaction adopts it (SET TRANSACTION SNAPSHOT), so
        tables read in parallel are as consistent as tables read one after another. The worker
        takes the same ACCESS SHARE locks at once; its lock_timeout turns a schema change queued
        between our locks and its own into a clear error instead of a wait on ourselves.
        session: a connection lent by a pool (`daily`), used instead of opening one."""
        exported = self.share()
        w = Snapshot(self.url, self.config, session)
        w.conn, w.catalog = session.connection() if session is not None else connect(self.url), self.catalog
        w._queries = self._queries
        self._workers.append(w)
        try:
            try:
                w._begin()
                w.conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(exported)))
            except psycopg.Error as err:
                raise db_error(err, "joining the backup's snapshot") from None
            w.lock_tables(scopes)
        except BaseException:
            self.release(w)
            raise
        return w

    def release(self, worker: "Snapshot") -> None:
        """A worker done before this snapshot ends: its transaction ends now (a lent connection
        goes back to its pool clean, and this snapshot no longer cancels or closes it)."""
        if worker in self._workers:
            self._workers.remove(worker)
        worker.__exit__()

    def tenant(self, org_id: str) -> Tenant | None:
        try:
            return get_tenant(self.conn, self.catalog, self.config, org_id)
        except psycopg.Error as err:
            raise db_error(err, f"reading organization {org_id}") from None

    def cancel(self) -> None:
        for snap in [self, *self._workers]:
            if snap.conn is not None and not snap.conn.closed:
                try:
                    snap.conn.cancel_safe()
                except Exception:  # noqa: BLE001 - cancelling is best effort
                    pass

    def prepare_export(self, scopes: list[TableScope], org_id: str) -> None:
        """Every table's export query in one round trip, for this snapshot and its workers."""
        try:
            queries = rows_queries(self.conn, scopes, self.catalog, org_id)
        except psycopg.Error as err:
            raise db_error(err, "preparing the tables' export") from None
        self._queries.update(zip((s.table.key_name for s in scopes), queries))

    def export(self, scope: TableScope, org_id: str, batch_bytes: int,
               sink: Callable[[bytes, int], None], cancelled: threading.Event) -> int:
        """Stream one table's tenant rows to `sink` in batches of whole lines. Returns the row
        count, checked against the server's own COPY count."""
        try:
            query = self._queries.get(scope.table.key_name) or rows_query(self.conn, scope, self.catalog, org_id)
            stmt = sql.SQL("COPY ({}) TO STDOUT {}").format(sql.SQL(query), COPY_OPTIONS).as_bytes(self.conn)
            rows, sent = copy_out(self.conn, stmt, batch_bytes, sink, cancelled)
        except psycopg.Error as err:
            if cancelled.is_set():
                raise Cancelled("backup cancelled") from None
            raise db_error(err, f"exporting table {scope.table.key_name}") from None
        if rows != sent:
            raise TenantBackupError(f"table {scope.table.key_name}: the server sent {sent} rows "
                                    f"but {rows} arrived; run the backup again")
        return rows


def copy_out(conn: psycopg.Connection, stmt: bytes, batch_bytes: int,
             sink: Callable[[bytearray, int], None], cancelled: threading.Event) -> tuple[int, int]:
    """Run `COPY … TO STDOUT` in the connection's open transaction and hand its rows to `sink` in
    batches of whole lines (a new buffer each time: the sink keeps it) with their line count.
    Returns (lines handed over, rows the server says it sent).

    Read straight from libpq (psycopg.pq) rather than through psycopg's Copy, which costs a round of
    Python generators per row (COPY sends one message a row): 0.75 s of CPU more for bench_export's
    1.7 M rows, held under the GIL. The rows libpq holds are taken in a tight loop, and only when
    none is left do we wait on the socket, without the GIL, so other lanes and the part writers run
    meanwhile. The server's count and the lines received are compared by the caller, as before."""
    pg = conn.pgconn
    if pg.transaction_status != pq.TransactionStatus.INTRANS:  # never outside the backup's snapshot
        raise TenantBackupError("internal error: a table export started outside the backup's snapshot")
    with selectors.DefaultSelector() as sel:
        sel.register(pg.socket, selectors.EVENT_READ)

        def result() -> pq.abc.PGresult | None:
            while pg.is_busy():
                sel.select()
                pg.consume_input()
            return pg.get_result()

        def fail(res: pq.abc.PGresult | None) -> psycopg.Error:
            while res is not None and result() is not None:
                pass
            if res is not None and res.status == pq.ExecStatus.FATAL_ERROR:
                return psycopg.errors.error_from_result(res, encoding=conn.info.encoding)
            return psycopg.ProgrammingError(f"COPY answered {res.status.name if res else 'nothing'}")

        pg.send_query(stmt)
        if pg.flush():  # a query longer than the socket's buffer: the rest goes as it drains
            sel.modify(pg.socket, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while pg.flush():
                if any(ev & selectors.EVENT_READ for _, ev in sel.select()):
                    pg.consume_input()
            sel.modify(pg.socket, selectors.EVENT_READ)
        if (res := result()) is None or res.status != pq.ExecStatus.COPY_OUT:
            raise fail(res)
        lines, buf, ended = 0, bytearray(), False
        try:
            while True:
                n, data = pg.get_copy_data(1)  # 1: never block, 0: none buffered, -1: the end
                if n > 0:
                    buf += data
                    if len(buf) >= batch_bytes:
                        n = buf.count(b"\n")
                        lines += n
                        sink(buf, n)
                        buf = bytearray()
                        if cancelled.is_set():
                            raise Cancelled("backup cancelled")
                elif n == 0:
                    sel.select()
                    pg.consume_input()
                else:
                    break
            ended = True
            if (res := result()) is None or res.status != pq.ExecStatus.COMMAND_OK:
                raise fail(res)
            while result() is not None:
                pass
        finally:
            if not ended:  # stopped halfway: the server stops sending, and what it sent is dropped
                try:
                    conn.cancel_safe(timeout=5)
                except Exception:  # noqa: BLE001 - a refused cancel: the drain below reads the rest instead
                    pass
                try:
                    while (n := pg.get_copy_data(1)[0]) >= 0:
                        if n == 0:
                            sel.select()
                            pg.consume_input()
                    while result() is not None:
                        pass
                except Exception:  # noqa: BLE001 - a broken connection is closed by the snapshot's end
                    pass
    if buf:
        n = buf.count(b"\n")
        lines += n
        sink(buf, n)
    return lines, res.command_tuples


# ---------------------------------------------------------------- lock

class TenantLock:
    """One backup or restore per tenant at a time, across processes and machines: a session
    advisory lock, held on its own connection for the whole job."""

    def __init__(self, url: str, org_id: str, wait_seconds: float, session: Session | None = None):
        self.url, self.org_id, self.wait = url, org_id, wait_seconds
        self.session = session
        self.conn: psycopg.Connection | None = None

    def _close(self) -> None:
        if self.session is None:
            self.conn.close()

    def __enter__(self) -> "TenantLock":
        self.conn = self.session.connection() if self.session is not None else connect(self.url, autocommit=True)
        deadline = time.monotonic() + self.wait
        while True:
            got = self.conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [LOCK_CLASS, self.org_id]).fetchone()[0]
            lease = self._live_lease() if got else None
            if got and lease is None:
                return self
            if lease is not None:  # a run over the Supabase API holds the tenant: let go, wait
                self.conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [LOCK_CLASS, self.org_id])
            if time.monotonic() >= deadline:
                if lease is not None:
                    self._close()
                    raise LockBusy(f"another backup or restore of organization {self.org_id} is running ({lease[0]}, "
                                   f"since {lease[1]:%Y-%m-%d %H:%M:%S %Z}); try again when it has finished")
                holder = self.conn.execute(
                    """SELECT a.application_name, a.client_addr::text, a.backend_start
                       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                       WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objid = hashtext(%s)::oid
                         AND l.granted LIMIT 1""", [LOCK_CLASS, self.org_id]).fetchone()
                self._close()
                who = f" ({holder[0] or 'unknown program'}, connected since {holder[2]:%Y-%m-%d %H:%M:%S %Z})" if holder else ""
                raise LockBusy(f"another backup or restore of organization {self.org_id} is running{who}; "
                               f"try again when it has finished")
            time.sleep(0.2)

    def _live_lease(self) -> tuple | None:
        """A REST run's lease on the tenant (tenant_backup_locks, where the Supabase SQL is
        installed): the two roads must exclude each other both ways. (holder, since) or None."""
        try:
            if not self.conn.execute("SELECT to_regclass('public.tenant_backup_locks') IS NOT NULL").fetchone()[0]:
                return None
            return self.conn.execute("SELECT holder, acquired_at FROM public.tenant_backup_locks "
                                     "WHERE organization_id = %s AND expires_at >= now()", [self.org_id]).fetchone()
        except psycopg.Error:  # a role that may not read it: the advisory lock is all we can hold
            return None

    def __exit__(self, *exc) -> None:
        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [LOCK_CLASS, self.org_id])
            except psycopg.Error:
                if self.session is not None:
                    self.session.close()  # the lock must not outlive the job: ending the session ends it
            self._close()


# ---------------------------------------------------------------- history

def who_runs() -> tuple[str, str]:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some service contexts
        user = "unknown"
    return user, socket.gethostname()


class History:
    """Writes to backup_logs. A failed write never hides the operation's own result: it becomes
    a warning on the result instead."""

    def __init__(self, url: str, session: Session | None = None):
        self.url = url
        self.session = session
        self.warnings: list[str] = []

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        if self.session is not None:
            yield self.session.connection()
            return
        with connect(self.url, autocommit=True) as conn:
            yield conn

    def _fail(self, err: BaseException) -> None:
        msg = _first_line(err)
        if isinstance(err, psycopg.errors.UndefinedTable):
            msg = "backup_logs does not exist; run: tenant-backup setup"
        self.warnings.append(f"history not written: {msg}")

    def start(self, backup_type: str, org_id: str | None, metadata: dict | None = None,
              backup_id: str | None = None) -> str | None:
        user, host = who_runs()
        try:
            with self._conn() as conn:
                return str(conn.execute(
                    """INSERT INTO public.backup_logs (backup_type, status, started_at, organization_id, backup_id,
                         metadata, run_by, run_host, tool_version)
                       VALUES (%s, 'in_progress', now(), %s, %s, %s, %s, %s, %s) RETURNING id""",
                    [backup_type, org_id, backup_id, json.dumps({**(metadata or {}), "pid": os.getpid()}), user, host,
                     __version__]).fetchone()[0])
        except (psycopg.Error, TenantBackupError) as err:
            self._fail(err)
            return None

    def finish(self, log_id: str | None, status: str, *, records: int = 0, size: int = 0, tables: int = 0,
               metadata: dict | None = None, errors: list | None = None, backup_id: str | None = None) -> None:
        if log_id is None:
            return
        try:
            with self._conn() as conn:
                conn.execute(
                    """UPDATE public.backup_logs SET status = %s, completed_at = now(), records_backed_up = %s,
                         backup_size = %s, tables_count = %s, metadata = coalesce(metadata, '{}'::jsonb) || %s::jsonb,
                         errors = %s, backup_id = coalesce(%s, backup_id) WHERE id = %s""",
                    [status, records, size, tables, json.dumps(metadata or {}), json.dumps(errors or []),
                     backup_id, log_id])
        except (psycopg.Error, TenantBackupError) as err:
            self._fail(err)

    def discard(self, log_id: str | None) -> None:
        """Remove a row that only stood in for a job while it ran (services/leftovers.py)."""
        if log_id is None:
            return
        try:
            with self._conn() as conn:
                conn.execute("DELETE FROM public.backup_logs WHERE id = %s AND status = 'in_progress'", [log_id])
        except (psycopg.Error, TenantBackupError) as err:
            self._fail(err)

    def in_progress(self, org_id: str | None) -> list[dict]:
        """The tenant's rows (org_id None: the runs' rows, daily and cleanup) still marked in_progress:
        id, type, host, pid, age in seconds, and for a restore whether a completed restore of the
        same plan exists."""
        # `=` or IS NULL, not IS NOT DISTINCT FROM: only these use the organization's index, and this
        # runs under every tenant job's lock on a table that only grows
        whose = "l.organization_id = %s" if org_id is not None else "l.organization_id IS NULL"
        try:
            with self._conn() as conn:
                cur = conn.execute(
                    """SELECT l.id::text, l.backup_type, l.run_host, l.metadata->>'pid',
                              extract(epoch FROM now() - l.started_at)::float8,
                              EXISTS (SELECT 1 FROM public.backup_logs d WHERE d.backup_type = 'restore'
                                      AND d.status = 'completed' AND d.organization_id = l.organization_id
                                      AND d.metadata->>'plan_id' = l.metadata->>'plan_id')
                       FROM public.backup_logs l
                       WHERE """ + whose + " AND l.status = 'in_progress'", [] if org_id is None else [org_id])
                return [dict(zip(("id", "type", "host", "pid", "age", "applied"), r)) for r in cur]
        except (psycopg.Error, TenantBackupError) as err:
            self._fail(err)
            return []

    def interrupt(self, ids: list[str], reason: str) -> None:
        """Mark rows of jobs that are gone as failed, unless they finished meanwhile."""
        if not ids:
            return
        try:
            with self._conn() as conn:
                conn.execute("""UPDATE public.backup_logs SET status = 'failed', completed_at = now(), errors = %s
                                WHERE id::text = ANY(%s) AND status = 'in_progress'""", [json.dumps([reason]), ids])
        except (psycopg.Error, TenantBackupError) as err:
            self._fail(err)

    def rows(self, org_id: str | None = None, limit: int = 200, backup_type: str | None = None,
             status: str | None = None) -> list[dict]:
        where, params = [], []
        if org_id:
            where.append("organization_id = %s")
            params.append(org_id)
        if backup_type:
            where.append("backup_type = %s")
            params.append(backup_type)
        if status:
            where.append("status = %s")
            params.append(status)
        q = ("SELECT id::text, backup_type, status, organization_id::text, backup_id, started_at, completed_at, "
             "records_backed_up, backup_size, tables_count, metadata, errors, run_by, run_host "
             "FROM public.backup_logs" + (" WHERE " + " AND ".join(where) if where else "") +
             " ORDER BY started_at DESC NULLS LAST, created_at DESC LIMIT %s")
        try:
            with self._conn() as conn:
                cur = conn.execute(q, params + [limit])
                names = [d.name for d in cur.description]
                return [dict(zip(names, r)) for r in cur]
        except psycopg.errors.UndefinedTable:
            raise ConfigError("there is no history yet: backup_logs does not exist; run: tenant-backup setup") from None
        except psycopg.Error as err:
            raise db_error(err, "reading the history") from None


# ---------------------------------------------------------------- setup

def installed_version(conn: psycopg.Connection, key: str = "schema_version") -> int | None:
    try:
        row = conn.execute("SELECT value FROM public.tenant_backup_meta WHERE key = %s", [key]).fetchone()
    except psycopg.errors.UndefinedTable:
        conn.rollback()
        return None
    return int(row[0]) if row else None


def install(url: str, setup_sql: str) -> dict:
    with connect(url) as conn:
        try:
            before = installed_version(conn)
            conn.rollback()
            with conn.transaction():
                conn.execute(setup_sql)
            after = installed_version(conn)
        except psycopg.Error as err:
            raise db_error(err, "installing backup_logs and helpers") from None
    return {"previous_version": before, "version": after}


def server_info(url: str) -> dict:
    return {"kind": "postgres", "database": describe_url(url)}


def run_script(url: str, script: str, doing: str) -> None:
    """Run a shipped SQL file (resources/) in one transaction."""
    with connect(url) as conn:
        try:
            with conn.transaction():
                conn.execute(script)
        except psycopg.Error as err:
            raise db_error(err, doing) from None


def last_backups(url: str) -> dict[str, dict]:
    """Per tenant: when its last successful backup finished and how its last backup ended —
    what the tenant picker warns about — and when its last successful daily backup finished."""
    try:
        with connect(url, autocommit=True) as conn:
            return {r[0]: {"last_ok": r[1], "last_status": r[2], "last_started": r[3], "last_daily": r[4]}
                    for r in conn.execute(LAST_BACKUPS_SQL)}
    except psycopg.errors.UndefinedTable:
        return {}
    except psycopg.Error as err:
        raise db_error(err, "reading the last backups") from None


def setup_state(url: str) -> dict:
    """Is the tool's setup installed and current? For the status bar and doctor."""
    with connect(url, autocommit=True) as conn:
        version = installed_version(conn)
        export = installed_version(conn, "supabase_version") if version is not None else None
    return {"installed": version is not None, "version": version, "supabase_version": export,
            "current": version == SCHEMA_VERSION and export == EXPORT_VERSION}


def privileges(url: str, config: Config, tables: list[Table]) -> dict:
    """What this role may do: read every tenant table, and set session_replication_role (which
    a restore needs to keep the app's triggers quiet). Changes nothing."""
    with connect(url) as conn:
        unreadable = [t.key_name for t in tables if not conn.execute(
            "SELECT has_table_privilege(%s, 'SELECT')", [f'"{t.schema}"."{t.name}"']).fetchone()[0]]
        try:
            conn.execute("SET LOCAL session_replication_role = replica")
            replica = True
        except psycopg.Error:
            replica = False
        conn.rollback()
        return {"unreadable": unreadable, "replica": replica, "version": conn.info.server_version}
