"""Restore one tenant over a direct connection: stage, compare, replace, check — in ONE transaction.

The dry run performs the whole restore and rolls it back, so its counts and its list of references
that would dangle are exact, not estimates. The apply does the same and commits. Rows are staged
with COPY as the backup's own JSON text and decoded by json_populate_record, so PostgreSQL
converts its own output back: every type round-trips. session_replication_role = replica keeps the
application's triggers (audit rows, e-mails) and the FK triggers quiet; the FK checks the database
skips are done explicitly before commit.

Two connections, one transaction: the rows are staged and decoded on a second session (the
"feeder", temp tables only, it writes nothing else) and stream from it into the restore's
transaction as binary COPY. Decoding JSON costs about as much as inserting the rows; on the feeder
it runs on another server process, alongside the inserts instead of before them."""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Callable, Iterable

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from .. import __version__
from ..core.config import Config
from ..core.errors import Busy, Cancelled, TenantBackupError
from ..core.plan import TablePlan
from ..core.scope import Catalog, TableScope, TenantScope, discover_scope, fk_order
from .postgres import (BUSY_SQLSTATES, COPY_OPTIONS, _first_line, connect, db_error, export_expression, get_tenant, path_condition,
                       read_catalog, scope_query, table_ident, who_runs)

PIPE_BLOCK = 256 << 10


@dataclass
class Dangling:
    table: str
    columns: tuple[str, ...]
    parent: str
    rows: int
    other_tenant: bool = False

    def describe(self) -> str:
        if self.other_tenant:
            return (f"{self.rows} row(s) of {self.table} would point through {','.join(self.columns)} into "
                    f"another organization's {self.parent}")
        return (f"{self.rows} row(s) of {self.table} would reference missing {self.parent} rows "
                f"through {','.join(self.columns)}; put those {self.parent} rows back first, or restore "
                f"without {self.table} (--tables)")


@dataclass
class StagedTable:
    name: str
    scope: TableScope
    stage: str  # the temp table on the feeder; on the restore's own session too when `compared`
    rows: int = 0
    compared: bool = False
    columns: list[str] = field(default_factory=list)  # written back
    text_columns: set[str] = field(default_factory=set)  # stored as their text (json/jsonb)
    unreadable: set[str] = field(default_factory=set)  # values that no longer fit the column's type: skipped

    def value(self, column) -> sql.Composable:
        """How one column of the staged row `s` (populated as `p`) becomes a value again."""
        if column.name in self.unreadable:
            return sql.SQL("NULL::{}").format(sql.SQL(column.type))
        if column.name in self.text_columns:
            return sql.SQL("(s.r->>{})::{}").format(sql.Literal(column.name), sql.SQL(column.type))
        return sql.SQL("p.{}").format(sql.Identifier(column.name))

    def rows_query(self, t, columns) -> sql.Composable:
        select = sql.SQL(", ").join(sql.SQL("{} AS {}").format(self.value(c), sql.Identifier(c.name)) for c in columns)
        record = sql.SQL("s.r")
        if self.unreadable:  # leave those keys out, or json_populate_record would fail on them
            record = sql.SQL("(SELECT coalesce(json_object_agg(e.key, e.value), '{{}}') FROM json_each(s.r) e "
                             "WHERE e.key <> ALL({}))").format(sql.Literal(sorted(self.unreadable)))
        return sql.SQL("SELECT {} FROM {} s, json_populate_record(null::{}, {}) p").format(
            select, sql.Identifier(self.stage), table_ident(t), record)


def _restore_error(err: psycopg.Error, table: str, row: str = "") -> TenantBackupError:
    """One line: the table, the row's key when known, the database's reason. Never the row itself:
    PostgreSQL's "Failing row contains (…)" detail would print every column, secrets included."""
    if err.sqlstate in BUSY_SQLSTATES:  # the app got in the way: retried (services/contention.py)
        return db_error(err, f"restoring table {table}")
    diag = err.diag
    detail = diag.message_detail if diag and diag.message_detail else ""
    detail = "" if not detail or detail.startswith("Failing row contains") else f" ({detail})"
    return TenantBackupError(f"restoring table {table}{row}: {_first_line(err)}{detail}; nothing was changed")


class RestoreSession:
    """One connection, one transaction. Use as a context manager; nothing commits unless
    `commit()` is called."""

    def __init__(self, url: str, config: Config, org_id: str, cancelled=None, snapshot: bool = False):
        """snapshot=True: REPEATABLE READ, so a dry run's fingerprint and counts see one state."""
        self.url, self.config, self.org = url, config, org_id
        self.snapshot = snapshot
        self.cancelled = cancelled
        self.conn: psycopg.Connection | None = None
        self.feeder: psycopg.Connection | None = None  # stages and decodes rows; see the module's doc
        self.catalog: Catalog | None = None
        self.scope: TenantScope | None = None
        self.staged: dict[str, StagedTable] = {}

    def __enter__(self) -> "RestoreSession":
        self.conn = connect(self.url)
        if self.snapshot:
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        try:
            self.catalog = read_catalog(self.conn, self.config.schemas)
            self.feeder = connect(self.url, autocommit=True)
        except BaseException as err:
            self.__exit__()
            if isinstance(err, psycopg.Error):
                raise db_error(err, "reading the database catalog") from None
            raise
        self.scope = discover_scope(self.catalog, self.config)
        return self

    def __exit__(self, *exc) -> None:
        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.rollback()
            except psycopg.Error:
                pass
            self.conn.close()
        if self.feeder is not None and not self.feeder.closed:
            self.feeder.close()  # its temp tables go with it

    def cancel(self) -> None:
        for conn in (self.conn, self.feeder):
            if conn is not None:
                try:
                    conn.cancel_safe()
                except Exception:  # noqa: BLE001
                    pass

    def _check_cancel(self) -> None:
        if self.cancelled is not None and self.cancelled.is_set():
            raise Cancelled("restore cancelled; nothing was changed")

    # ------------------------------------------------------------ guards
    def lock(self, tables: list[TableScope]) -> None:
        """Writers to these tables wait until we commit or roll back (readers do not): nothing
        written between the fingerprint check and the commit can be lost."""
        if not tables:
            return
        try:
            self.conn.execute("SET LOCAL lock_timeout = '30s'")
            self.conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                sql.SQL(", ").join(table_ident(s.table) for s in tables)))
        except psycopg.errors.LockNotAvailable:
            raise Busy("the tenant's tables are busy (locked for over 30 s); try again shortly") from None
        except psycopg.Error as err:
            raise db_error(err, "locking the tenant's tables") from None

    def fingerprint(self) -> str:
        """An order-independent digest of every current row of the tenant, table by table."""
        parts = []
        try:
            for s in sorted(self.scope.tables, key=lambda s: s.table.key_name):
                # The backup's own row text: it tells SQL NULL from JSON null and keeps array bounds.
                sel = sql.SQL("count(*)::text || ':' || coalesce(sum(hashtextextended(({})::text, 0)::numeric), 0)::text"
                              ).format(export_expression(s.table))
                q = scope_query(s, self.catalog, self.org, select=sel)
                parts.append(f"{s.table.key_name}={self.conn.execute(q).fetchone()[0]}")
        except psycopg.Error as err:
            raise db_error(err, "fingerprinting the tenant's current rows") from None
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def tenant_name(self) -> str | None:
        t = get_tenant(self.conn, self.catalog, self.config, self.org)
        return t.name if t else None

    # ------------------------------------------------------------ staging
    def stage(self, name: str, blocks: Iterable[tuple[bytes, int]], on_rows: Callable[[int], None],
              compare: bool = True) -> StagedTable:
        """COPY the backup's JSON lines, block by block, into a temporary table on the feeder —
        and, to `compare` them with today's rows, on the restore's own session as well (a dry run;
        the apply reuses the dry run's counts)."""
        scope = self.scope.get(name)
        stage = f"tb_stage_{len(self.staged)}"
        st = StagedTable(name, scope, stage, compared=compare)
        targets = [self.feeder] + ([self.conn] if compare else [])
        copy = sql.SQL("COPY {} (r) FROM STDIN {}").format(sql.Identifier(stage), COPY_OPTIONS)
        try:
            self.feeder.execute(sql.SQL("CREATE TEMP TABLE {} (r json)").format(sql.Identifier(stage)))
            if compare:
                self.conn.execute(sql.SQL("CREATE TEMP TABLE {} (r json) ON COMMIT DROP").format(sql.Identifier(stage)))
            with ExitStack() as stack:
                copies = [stack.enter_context(stack.enter_context(c.cursor()).copy(copy)) for c in targets]
                n = 0
                for block, rows in blocks:
                    for cp in copies:
                        cp.write(block)
                    n += rows
                    on_rows(n)
                    self._check_cancel()
            st.rows = n
        except psycopg.Error as err:
            raise db_error(err, f"staging table {name}") from None
        self.staged[name] = st
        return st

    def staged_keys(self, st: StagedTable) -> list[str]:
        q = sql.SQL("SELECT DISTINCT json_object_keys(r) FROM {} WHERE json_typeof(r) = 'object'").format(
            sql.Identifier(st.stage))
        return [r[0] for r in self.feeder.execute(q)]

    def non_null_count(self, st: StagedTable, column: str) -> int:
        q = sql.SQL("SELECT count(*) FROM {} WHERE r->{} IS NOT NULL AND json_typeof(r->{}) <> 'null'").format(
            sql.Identifier(st.stage), sql.Literal(column), sql.Literal(column))
        return self.feeder.execute(q).fetchone()[0]

    def unconvertible_count(self, st: StagedTable, column: str, type_: str) -> int | None:
        """Rows whose value of `column` does not fit today's type; None when the server cannot
        tell (pg_input_is_valid is PostgreSQL 16+: the insert then says it, naming the table)."""
        if self.feeder.info.server_version < 160000:
            return None
        q = sql.SQL("SELECT count(*) FROM {} WHERE json_typeof(r->{c}) IS DISTINCT FROM 'null' AND r->{c} IS NOT NULL "
                    "AND NOT pg_input_is_valid(r->>{c}, {t})").format(
            sql.Identifier(st.stage), c=sql.Literal(column), t=sql.Literal(type_))
        try:
            with self.feeder.transaction():
                return self.feeder.execute(q).fetchone()[0]
        except psycopg.Error:
            return None

    # ------------------------------------------------------------ compare
    def compare(self, st: StagedTable, plan: TablePlan) -> None:
        """Fill current_rows, to_insert, to_update, to_delete, unchanged for one table."""
        assert st.compared, "compare() needs the rows staged on the restore's own session"
        t = st.scope.table
        alias = sql.Identifier("tb$row")
        cur_q = scope_query(st.scope, self.catalog, self.org, select=sql.SQL("{}.*").format(alias))
        populated = st.rows_query(t, t.columns)
        try:
            plan.current_rows = self.conn.execute(sql.SQL("SELECT count(*) FROM ({}) c").format(cur_q)).fetchone()[0]
            key, kind = t.row_key
            plan.key, plan.key_kind = list(key), kind
            if key:
                match = sql.SQL(" AND ").join(sql.SQL("s.{k} = c.{k}").format(k=sql.Identifier(k)) for k in key)
                # Anti-joins (NOT EXISTS), never NOT IN: NOT IN over a large unhashable set is quadratic.
                q = sql.SQL("""
                    WITH s AS MATERIALIZED ({pop}), c AS MATERIALIZED ({cur})
                    SELECT
                      (SELECT count(*) FROM s WHERE NOT EXISTS (SELECT 1 FROM c WHERE {m})),
                      (SELECT count(*) FROM c WHERE NOT EXISTS (SELECT 1 FROM s WHERE {m})),
                      (SELECT count(*) FROM s JOIN c ON {m}
                         WHERE s::text IS DISTINCT FROM c::text)
                """).format(pop=populated, cur=cur_q, m=match)
                ins, dele, upd = self.conn.execute(q).fetchone()
                plan.to_insert, plan.to_delete, plan.to_update = ins, dele, upd
                plan.unchanged = st.rows - ins - upd
            else:
                q = sql.SQL("""
                    WITH s AS (SELECT p::text AS t FROM ({pop}) p),
                         c AS (SELECT q::text AS t FROM ({cur}) q)
                    SELECT (SELECT count(*) FROM (SELECT t FROM s EXCEPT ALL SELECT t FROM c) a),
                           (SELECT count(*) FROM (SELECT t FROM c EXCEPT ALL SELECT t FROM s) b)
                """).format(pop=populated, cur=cur_q)
                ins, dele = self.conn.execute(q).fetchone()
                plan.to_insert, plan.to_delete, plan.to_update = ins, dele, 0
                plan.unchanged = st.rows - ins
        except psycopg.Error as err:
            raise _restore_error(err, st.name) from None

    # ------------------------------------------------------------ apply
    def quiet_triggers(self) -> None:
        try:
            self.conn.execute("SET LOCAL session_replication_role = replica")
        except psycopg.errors.InsufficientPrivilege:
            raise TenantBackupError("the database role may not set session_replication_role, which keeps the "
                                    "app's triggers from firing during a restore; connect as the database owner "
                                    "or a superuser (on Supabase: the postgres role)") from None

    def delete_current(self, names: list[str], mode: str) -> dict[str, int]:
        """Remove the tenant's current rows of these tables, children before parents (a child's
        scope goes through its parents, so they must still be there)."""
        if mode != "replace":
            return {}
        deleted = {}
        order = fk_order({n: self.scope.get(n).table for n in names})
        for name in reversed(order):
            s = self.scope.get(name)
            alias = sql.Identifier("tb$row")
            q = sql.SQL("DELETE FROM {} AS {} WHERE {}").format(
                table_ident(s.table), alias, path_condition(alias, s, self.catalog, self.org))
            try:
                deleted[name] = self.conn.execute(q).rowcount
            except psycopg.Error as err:
                raise _restore_error(err, name) from None
            self._check_cancel()
        return deleted

    def insert(self, st: StagedTable, mode: str) -> int:
        """Decode the staged rows on the feeder and stream them, as binary COPY, into the table in
        the restore's transaction. Binary values of the same types on the same server: what lands
        is exactly what json_populate_record made of the backup's text. COPY writes identity
        columns as given (no OVERRIDING needed) and fires the same triggers as INSERT (none, in
        replica mode)."""
        t = st.scope.table
        written = [t.column(c) for c in st.columns]
        cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in written)
        where = sql.SQL("")
        key, _ = t.row_key
        if mode == "missing-only":
            if not key:
                return 0
            # The feeder sees the committed rows, which are the restore's own view of this table:
            # its tables are locked against writers, and missing-only deletes nothing.
            match = sql.SQL(" AND ").join(sql.SQL("x.{k} = p.{k}").format(k=sql.Identifier(k)) for k in key)
            where = sql.SQL(" WHERE NOT EXISTS (SELECT 1 FROM {} x WHERE {})").format(table_ident(t), match)
        fmt = sql.SQL("binary" if self._binary_io(t, written) else "text")
        out = sql.SQL("COPY (SELECT * FROM ({}) p{}) TO STDOUT (FORMAT {})").format(
            st.rows_query(t, written), where, fmt)
        into = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(table_ident(t), cols, fmt)
        try:
            with self.conn.transaction():  # a savepoint, so the failing row can be looked up afterwards
                with self.conn.cursor() as cin, self.feeder.cursor() as cout:
                    with cin.copy(into, writer=QueuedLibpqWriter(cin)) as sink, cout.copy(out) as source:
                        buf = bytearray()  # psycopg reads COPY a row at a time: write in blocks
                        for data in source:
                            buf += data
                            if len(buf) >= PIPE_BLOCK:
                                sink.write(buf)
                                buf = bytearray()
                        if buf:
                            sink.write(buf)
                    if cin.rowcount != cout.rowcount:
                        raise TenantBackupError(f"restoring table {st.name}: {cout.rowcount} rows decoded but "
                                                f"{cin.rowcount} written; nothing was changed")
                    return cin.rowcount
        except psycopg.Error as err:
            raise _restore_error(err, st.name, self._failing_row(err, st)) from None

    BINARY_IO_SQL = """
        with recursive t(oid) as (
          select atttypid from pg_attribute
          where attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text)) and attname = any(%s)
          union
          select x from t join pg_type ty on ty.oid = t.oid,
            lateral (select ty.typbasetype where ty.typtype = 'd'
                     union all select ty.typelem where ty.typelem <> 0 and ty.typcategory = 'A'
                     union all select a.atttypid from pg_attribute a
                       where ty.typtype = 'c' and a.attrelid = ty.typrelid and a.attnum > 0 and not a.attisdropped) s(x)
          where x <> 0)
        select coalesce(bool_and(ty.typsend <> 0 and ty.typreceive <> 0), true) from t join pg_type ty on ty.oid = t.oid"""

    def _binary_io(self, t, columns) -> bool:
        """Binary COPY where every written type (through domains, arrays and composites) has
        binary send/receive functions; text otherwise (isn's isbn13, seg, some extension types
        have none) — text between two sessions of the same server and settings is just as exact."""
        try:
            return bool(self.feeder.execute(self.BINARY_IO_SQL, [t.schema, t.name,
                                                                 [c.name for c in columns]]).fetchone()[0])
        except psycopg.Error:
            return False

    def _failing_row(self, err: psycopg.Error, st: StagedTable) -> str:
        """' row id=5' for a NOT NULL violation (the only kind whose row the database does not
        name by its key), or ''."""
        t = st.scope.table
        key, _ = t.row_key
        col = err.diag.column_name if err.diag else None
        if not isinstance(err, psycopg.errors.NotNullViolation) or not key or not col or t.column(col) is None:
            return ""
        wanted = [t.column(k) for k in key] + ([] if col in key else [t.column(col)])
        q = sql.SQL("SELECT {} FROM ({}) x WHERE x.{} IS NULL LIMIT 1").format(
            sql.SQL(", ").join(sql.SQL("x.{}::text").format(sql.Identifier(k)) for k in key),
            st.rows_query(t, wanted), sql.Identifier(col))
        try:
            row = self.feeder.execute(q).fetchone()
        except psycopg.Error:
            return ""
        if row is None:
            return ""
        if len(key) == 1:
            return f" row {key[0]}={row[0]}"
        return f" row ({', '.join(key)})=({', '.join(str(v) for v in row)})"

    FOREIGN_KEYS_SQL = """
        select cn.nspname, c.relname, pn.nspname, p.relname,
          (select array_agg(a.attname::text order by k.ord) from unnest(con.conkey) with ordinality k(num, ord)
             join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num),
          (select array_agg(a.attname::text order by k.ord) from unnest(con.confkey) with ordinality k(num, ord)
             join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num)
        from pg_constraint con
        join pg_class c on c.oid = con.conrelid join pg_namespace cn on cn.oid = c.relnamespace
        join pg_class p on p.oid = con.confrelid join pg_namespace pn on pn.oid = p.relnamespace
        where con.contype = 'f' and not c.relispartition and (con.conrelid = any(%s) or con.confrelid = any(%s))
        order by 1, 2, con.conname"""

    def dangling(self, names: list[str]) -> list[Dangling]:
        """After the restore, within this transaction: foreign keys into or out of the restored
        tables that no longer resolve (the database did not check them under replica mode), and
        rows of this tenant that point into another tenant. Every foreign key counts, whatever
        schema its other end is in: `profiles.id → auth.users.id` for a user deleted since."""
        restored = {self.scope.get(n).table for n in names}
        oids = [self.conn.execute("SELECT %s::regclass::oid", [f'"{t.schema}"."{t.name}"']).fetchone()[0]
                for t in restored]
        by_name = {(t.schema, t.name): t for t in restored}
        col = self.config.tenant_column
        out = []
        try:
            fks = self.conn.execute(self.FOREIGN_KEYS_SQL, [oids, oids]).fetchall()
            for cs, cn, ps, pn, cols, pcols in fks:
                child = sql.SQL(".").join([sql.Identifier(cs), sql.Identifier(cn)])
                parent = sql.SQL(".").join([sql.Identifier(ps), sql.Identifier(pn)])
                cname, pname = (cn if cs == "public" else f"{cs}.{cn}"), (pn if ps == "public" else f"{ps}.{pn}")
                match = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(sql.Identifier(pc), sql.Identifier(c))
                                              for c, pc in zip(cols, pcols))
                notnull = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in cols)
                q = sql.SQL("SELECT count(*) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(
                    child, notnull, parent, match)
                n = self.conn.execute(q).fetchone()[0]
                if n:
                    out.append(Dangling(cname, tuple(cols), pname, n))
                ct, pt = by_name.get((cs, cn)), self.catalog.get(pname)
                if ct is not None and ct.column(col) and pt is not None and pt.column(col):
                    q = sql.SQL("SELECT count(*) FROM {} c JOIN {} p ON {} WHERE c.{} = {} AND p.{} IS DISTINCT FROM c.{}"
                                ).format(child, parent, match, sql.Identifier(col), sql.Literal(self.org),
                                         sql.Identifier(col), sql.Identifier(col))
                    n = self.conn.execute(q).fetchone()[0]
                    if n:
                        out.append(Dangling(cname, tuple(cols), pname, n, other_tenant=True))
                self._check_cancel()
        except psycopg.Error as err:
            raise db_error(err, "checking the references of the restored rows") from None
        return out

    def move_sequences(self, names: list[str]) -> list[str]:
        """Serial and identity sequences past the restored ids, never backwards (setval is not
        transactional: only the apply calls this, just before commit)."""
        moved = []
        for name in names:
            t = self.scope.get(name).table
            for c in t.columns:
                if c.type not in ("integer", "bigint", "smallint"):
                    continue
                seq = self.conn.execute("SELECT pg_get_serial_sequence(%s, %s)",
                                        [f'"{t.schema}"."{t.name}"', c.name]).fetchone()[0]
                if not seq:
                    continue
                q = sql.SQL("""SELECT setval({seq}, m) FROM (SELECT max({col}) AS m FROM {t}) x
                               WHERE m IS NOT NULL AND m > coalesce(pg_sequence_last_value({seq}::regclass), 0)""").format(
                    seq=sql.Literal(seq), col=sql.Identifier(c.name), t=table_ident(t))
                if self.conn.execute(q).fetchone():
                    moved.append(seq)
        return moved

    def log_restore(self, metadata: dict, records: int, tables: int, backup_id: str) -> None:
        """The restore's history row, in the restore's own transaction: it exists iff the restore does."""
        user, host = who_runs()
        try:
            with self.conn.transaction():  # a savepoint: a missing backup_logs must not undo the restore
                self.conn.execute(
                    """INSERT INTO public.backup_logs (backup_type, status, started_at, completed_at, organization_id,
                         backup_id, records_backed_up, tables_count, metadata, run_by, run_host, tool_version)
                       VALUES ('restore', 'completed', now(), clock_timestamp(), %s, %s, %s, %s, %s, %s, %s, %s)""",
                    [self.org, backup_id, records, tables, json.dumps(metadata), user, host, __version__])
        except psycopg.Error:
            pass

    def commit(self) -> None:
        try:
            self.conn.commit()
        except psycopg.Error as err:
            raise db_error(err, "committing the restore") from None

    def roll_back_and_tidy(self, inserted: dict[str, int], share: float = 0.1) -> list[str]:
        """End a dry run: roll its restore back, then VACUUM the tables where the rolled-back rows
        are at least `share` of the table. Rolled-back inserts stay behind as dead rows (and index
        entries under the same keys), which the apply would otherwise wade through; autovacuum
        would clean them later anyway. VACUUM changes no data and blocks neither reads nor writes.
        Best effort: a role that may not vacuum a table only gets a warning from the server."""
        self.conn.rollback()
        done = []
        try:
            self.feeder.execute("SET lock_timeout = '2s'")
        except psycopg.Error:
            return done
        for name, rows in inserted.items():
            t = self.scope.get(name).table
            try:
                size = self.feeder.execute("SELECT greatest(reltuples, 0) FROM pg_class "
                                           "WHERE oid = to_regclass(format('%%I.%%I', %s::text, %s::text))",
                                           [t.schema, t.name]).fetchone()
                if size is not None and rows and rows >= share * (size[0] + rows):
                    # SKIP_LOCKED: never wait behind another maintenance job; no TRUNCATE: its brief
                    # exclusive lock on the table's tail would stop readers and writers.
                    self.feeder.execute(sql.SQL("VACUUM (SKIP_LOCKED, TRUNCATE false) {}").format(table_ident(t)))
                    done.append(name)
            except psycopg.Error:
                continue
            self._check_cancel()
        return done
