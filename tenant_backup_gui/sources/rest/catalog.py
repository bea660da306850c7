"""The catalog over REST (the one query both roads run, installed as tenant_backup_catalog), a
table as PostgREST addresses it, and what the installed export functions are asked with."""

from __future__ import annotations

from ...core.scope import Catalog, Table, TableScope, scope_json
from ..shared import catalog_from_rows, table_json
from ..supabase_http import SupabaseProject


def read_catalog(project: SupabaseProject, schemas: tuple[str, ...]) -> Catalog:
    r = project.run(project.rpc("tenant_backup_catalog", {"schemas": list(schemas)}, "reading the database catalog"))
    return catalog_from_rows((d["schema_name"], d["table_name"], d["partitioned"], d["columns_json"],
                              d["unique_keys"], d["foreign_keys"], d["primary_key"]) for d in r.json())


def table_query(project: SupabaseProject, t: Table):
    c = project.client
    return (c.table(t.name) if t.schema == "public" else c.schema(t.schema).table(t.name))


def rows_args(scope: TableScope, catalog: Catalog, org_id: str) -> dict:
    """The arguments the installed export functions take: the table, how it reaches the tenant
    (the same descriptions the direct road sends: shared.table_json, core.scope.scope_json)."""
    return {"tbl": table_json(scope.table), "scope": scope_json(scope, catalog), "org": org_id}


def embedded_filter(scope: TableScope, catalog: Catalog) -> tuple[str, str] | None:
    """PostgREST's own way to the tenant (`select=…,parent!col!inner(…)`, `parent.col=eq.X`), for
    an independent count; None where it cannot say it (another schema, an undeclared or composite
    link), and the installed count function is asked instead."""
    t = scope.table
    if t.schema != "public":
        return None
    if not scope.path:
        return scope.anchor, scope.anchor
    child, names = t, []
    for h in scope.path:
        parent = catalog.tables[h.parent]
        declared = any(fk.columns == h.columns and fk.ref_table == h.parent and fk.ref_columns == h.parent_columns
                       for fk in child.foreign_keys)
        if parent.schema != "public" or len(h.columns) != 1 or not declared:
            return None
        names.append((parent.name, h.columns[0]))
        child = parent
    select = scope.anchor
    for name, col in reversed(names):
        select = f"{name}!{col}!inner({select})"
    return select, ".".join([n for n, _ in names] + [scope.anchor])
