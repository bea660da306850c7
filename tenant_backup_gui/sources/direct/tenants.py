"""The tenants over the direct connection: the tenant table's rows, as shared.Tenant."""

from __future__ import annotations

import psycopg
from psycopg import sql

from ...core.config import Config
from ...core.scope import Catalog, Table
from ..shared import Tenant, require_tenant_table, tenant_table
from .catalog import table_ident


def _select(t: Table, name_col: str) -> sql.Composed:
    """id, name and whether the tenant is deleted (a deleted_at set), each as the app stores it."""
    deleted = sql.SQL("{} IS NOT NULL").format(sql.Identifier("deleted_at")) if t.column("deleted_at") else sql.SQL("false")
    return sql.SQL("SELECT {}::text, {}::text, {} FROM {}").format(
        sql.Identifier(t.primary_key[0]), sql.Identifier(name_col), deleted, table_ident(t))


def list_tenants(conn: psycopg.Connection, catalog: Catalog, config: Config) -> list[Tenant]:
    t, name_col = require_tenant_table(catalog, config)
    q = sql.SQL("{} ORDER BY 2, 1").format(_select(t, name_col))
    return [Tenant(i, n, d) for i, n, d in conn.execute(q)]


def get_tenant(conn: psycopg.Connection, catalog: Catalog, config: Config, org_id: str) -> Tenant | None:
    if (found := tenant_table(catalog, config)) is None:
        return None
    t, name_col = found
    q = sql.SQL("{} WHERE {}::text = %s").format(_select(t, name_col), sql.Identifier(t.primary_key[0]))
    row = conn.execute(q, [org_id]).fetchone()
    return Tenant(*row) if row else None
