"""A tenant's rows over a direct PostgreSQL connection (psycopg 3).

One REPEATABLE READ READ ONLY transaction covers the catalog read and every table of a tenant, so
a backup is one consistent snapshot. Rows leave the server as their backup JSON — the query text
comes from the SQL `setup` installs (resources/sql/rows.sql), the one definition the REST export and
the restore engine use too — through COPY in CSV mode with quote and delimiter set to control
characters that JSON never holds raw: the bytes that arrive are exactly PostgreSQL's JSON text, one
row a line, and nothing re-encodes them."""

from __future__ import annotations

import threading
from typing import Callable

import psycopg
from psycopg import sql

from ...core.config import Config
from ...core.errors import Cancelled, TenantBackupError
from ...core.scope import Catalog, TableScope
from ..shared import Tenant, first_line, key_name, tenant_table
from .catalog import CatalogCache, read_catalog, rows_queries, rows_query, table_ident
from .connect import Session, connect, db_error
from .copy_out import COPY_OPTIONS, copy_out
from .packed import Router, packed_statement
from .tenants import get_tenant


class Snapshot:
    """One consistent, read-only view of the database for one backup. With a Session it runs as a
    transaction on that session's connection (and a CatalogCache spares the catalog read)."""

    lendable = True  # a connection lent by `daily`'s pool can adopt it as another lane (share, worker)

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
            raise TenantBackupError(f"a table was dropped or replaced as the backup started ({first_line(err)}); "
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
            sizes = {key_name(sch, name): int(size) for sch, name, size in rows}
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
        """Every table's export query in one round trip (in a run, none: built once per catalog),
        for this snapshot and its workers."""
        try:
            if self.cache is not None:
                queries = self.cache.rows_queries(self.conn, scopes, self.catalog, org_id)
            else:
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

    def export_packed(self, scopes: list[TableScope], org_id: str, batch_bytes: int,
                      sink: Callable[[int, bytes, int], None], cancelled: threading.Event) -> list[int]:
        """Several tables' tenant rows in one COPY (sources/direct/packed.py): `sink(j, lines,
        count)` gets table j's lines, tables in order. Returns each table's row count; their sum is
        checked against the server's own COPY count."""
        try:
            queries = [self._queries.get(s.table.key_name) or rows_query(self.conn, s, self.catalog, org_id)
                       for s in scopes]
            router = Router(len(scopes), sink)
            rows, sent = copy_out(self.conn, packed_statement(queries, self.conn), batch_bytes, router,
                                  cancelled, before=1)
        except psycopg.Error as err:
            if cancelled.is_set():
                raise Cancelled("backup cancelled") from None
            raise db_error(err, f"exporting tables {scopes[0].table.key_name} … {scopes[-1].table.key_name}") from None
        if rows != sent or sum(router.counts) != rows:
            raise TenantBackupError(f"tables {scopes[0].table.key_name} … {scopes[-1].table.key_name}: the server "
                                    f"sent {sent} rows but {rows} arrived; run the backup again")
        return router.counts

    def storage_listing(self, prefixes: list[tuple[str, str]]) -> dict[tuple[str, str], dict] | None:
        """(bucket, key) → Storage's metadata of every object under the given (bucket, prefix)
        pairs, read from storage.objects inside this snapshot: the files a backup lists are those
        of the very moment its rows were read, without paging through Storage's HTTP listing (whose
        metadata is this same column). None where this connection cannot see them all (no
        storage.objects, no SELECT on it, or row security that applies to this role): then the
        files step lists over HTTP as the REST road does."""
        if not prefixes:
            return {}
        try:
            visible = self.conn.execute(
                "SELECT CASE WHEN to_regclass('storage.objects') IS NULL OR to_regclass('storage.buckets') IS NULL "
                "THEN false ELSE has_table_privilege(to_regclass('storage.objects'), 'SELECT') "
                "AND has_table_privilege(to_regclass('storage.buckets'), 'SELECT') "
                "AND (NOT c.relrowsecurity OR r.rolbypassrls OR r.rolsuper "
                "     OR (pg_has_role(c.relowner, 'USAGE') AND NOT c.relforcerowsecurity)) END "
                "FROM pg_roles r LEFT JOIN pg_class c ON c.oid = to_regclass('storage.objects') "
                "WHERE r.rolname = current_user").fetchone()
            if not visible or not visible[0]:
                return None
            buckets = sorted({b for b, _ in prefixes})
            # every rule's bucket in this database's Storage: else it is not the project's (a copy,
            # a Storage on a database of its own) or a bucket is missing, which the HTTP listing says
            if self.conn.execute("SELECT count(*) FROM storage.buckets WHERE id = ANY(%s)",
                                 [buckets]).fetchone()[0] != len(buckets):
                return None
            rows = self.conn.execute(
                "SELECT o.bucket_id, o.name, o.metadata FROM storage.objects o "
                "JOIN unnest(%s::text[], %s::text[]) p(bucket, prefix) "
                "ON o.bucket_id = p.bucket AND left(o.name, length(p.prefix)) = p.prefix "
                "WHERE o.metadata IS NOT NULL",
                [[b for b, _ in prefixes], [p for _, p in prefixes]]).fetchall()
        except psycopg.Error as err:
            raise db_error(err, "listing the tenant's files in storage.objects") from None
        return {(bucket, name): meta for bucket, name, meta in rows if isinstance(meta, dict)}

    def tenant_shares(self, scopes: list[TableScope]) -> dict[str, float]:
        """Each table's size on disk over the number of tenants: what one tenant's rows may weigh,
        to choose the tables exported together (in a run, read once per catalog)."""
        if self.cache is not None:
            return self.cache.shares(self.catalog, lambda: self._shares(scopes))
        return self._shares(scopes)

    def _shares(self, scopes: list[TableScope]) -> dict[str, float]:
        sizes = self.table_sizes(scopes)
        tenants = 1.0
        if (found := tenant_table(self.catalog, self.config)) is not None:
            try:
                tenants = float(self.conn.execute(
                    sql.SQL("SELECT greatest(1, (SELECT c.reltuples FROM pg_class c JOIN pg_namespace n "
                            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s), "
                            "(SELECT count(*) FROM (SELECT FROM {} LIMIT 1000) x))").format(table_ident(found[0])),
                    [found[0].schema, found[0].name]).fetchone()[0])
            except psycopg.Error as err:
                raise db_error(err, "counting the tenants") from None
        return {k: v / tenants for k, v in sizes.items()}
