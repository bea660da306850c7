"""The tenants over REST: the tenant table read through PostgREST, as shared.Tenant."""

from __future__ import annotations

import json

from ...core.config import Config
from ...core.errors import TenantBackupError
from ...core.scope import Catalog, Table
from ..shared import Tenant, require_tenant_table
from ..supabase_http import SupabaseProject
from .catalog import read_catalog, table_query


def _tenant(t: Table, name_col: str, row: dict) -> Tenant:
    def text(v):
        return None if v is None else v if isinstance(v, str) else json.dumps(v)
    return Tenant(text(row[t.primary_key[0]]), text(row[name_col]), row.get("deleted_at") is not None)


def _select_cols(t: Table, name_col: str) -> str:
    cols = dict.fromkeys([t.primary_key[0], name_col] + (["deleted_at"] if t.column("deleted_at") else []))
    return ",".join(cols)


def get_tenant(project: SupabaseProject, catalog: Catalog, config: Config, org_id: str) -> Tenant | None:
    t, name_col = require_tenant_table(catalog, config)

    async def go():
        q = table_query(project, t).select(_select_cols(t, name_col)).eq(t.primary_key[0], org_id)
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
    name then id as the direct road's list_tenants sorts them."""
    catalog = catalog or read_catalog(project, config.schemas)
    t, name_col = require_tenant_table(catalog, config)
    pk = t.primary_key[0]

    async def go():
        out, last = [], None
        while True:
            q = table_query(project, t).select(_select_cols(t, name_col)).order(pk).limit(1000)
            if last is not None:
                q = q.gt(pk, last)
            rows = (await project.send(q, "listing the organizations")).json()
            if not rows:
                return out
            out += rows
            last = rows[-1][pk]
    tenants = [_tenant(t, name_col, r) for r in project.run(go())]
    return sorted(tenants, key=lambda x: (x.name is None, x.name or "", x.id))
