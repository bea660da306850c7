"""The catalog over the direct connection (the one query both roads run: shared.CATALOG_SQL),
read once a run where a CatalogCache serves many tenants, and the export queries the installed SQL
builds for a tenant's rows (resources/sql/rows.sql)."""

from __future__ import annotations

import threading

import psycopg
from psycopg import sql
from psycopg.types.json import Json

from ...core.errors import ConfigError
from ...core.scope import Catalog, Table, TableScope, scope_json
from ...platform.paths import resource_text
from ..shared import CATALOG_SQL, EXPORT_HELPERS_MISSING, EXPORT_VERSION, catalog_from_rows, table_json


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


def table_ident(t: Table) -> sql.Composable:
    return sql.SQL(".").join([sql.Identifier(t.schema), sql.Identifier(t.name)])


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
