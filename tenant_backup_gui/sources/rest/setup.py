"""Setting up and describing the Supabase project over REST: the SQL to install (printed for
its SQL editor), its version, the project, and each tenant's last backups."""

from __future__ import annotations

from ...core.constants import fill_sql
from ...platform.paths import resource_text
from ..shared import CATALOG_SQL, EXPORT_VERSION, LAST_BACKUPS_SQL, SCHEMA_VERSION
from ..supabase_http import SupabaseProject
from .history import when


def setup_sql() -> str:
    """resources/sql/supabase.sql with what both roads run (the one copy of each): catalog.sql as the
    body of tenant_backup_catalog(schemas), last_backups.sql of tenant_backup_last_backups(), and
    rows.sql (a tenant's rows and their JSON) ahead of the functions that use it."""
    if CATALOG_SQL.count("%s") != 1:
        raise AssertionError("catalog.sql must hold exactly one placeholder (the schemas)")
    text = resource_text("sql", "supabase.sql")
    for name, body in (("catalog.sql", CATALOG_SQL.replace("%s", "schemas")),
                       ("last_backups.sql", LAST_BACKUPS_SQL),
                       ("rows.sql", resource_text("sql", "rows.sql"))):
        text = text.replace(f"--@{name}\n", body.rstrip() + "\n")
    return fill_sql(text)


def last_backups(project: SupabaseProject) -> dict[str, dict]:
    """The direct road's last_backups over REST: the same query, installed as tenant_backup_last_backups()."""
    r = project.run(project.rpc("tenant_backup_last_backups", {}, "reading the last backups"))
    return {d["organization_id"]: {"last_ok": when(d["last_ok"]), "last_status": d["last_status"],
                                   "last_started": when(d["last_started"]),
                                   # an install older than last_daily: its last success stands in
                                   "last_daily": when(d.get("last_daily", d["last_ok"]))} for d in r.json()}


def server_info(project: SupabaseProject) -> dict:
    return {"kind": "supabase", "project": project.host}


def setup_state(project: SupabaseProject) -> dict:
    """Is the tool's SQL installed and current? {installed, version, current, supabase_version}."""
    async def go():
        r = await project.send(project.client.rpc("tenant_backup_info", {}), "reading the setup state", ok_missing=True)
        if r.status_code != 404:
            return r.json()
        q = project.client.table("tenant_backup_meta").select("key,value")
        m = await project.send(q, "reading the setup state", ok_missing=True)
        values = {d["key"]: d["value"] for d in m.json()} if m.status_code != 404 else {}
        return {"schema_version": values.get("schema_version"), "supabase_version": values.get("supabase_version")}
    info = project.run(go())
    version = int(info["schema_version"]) if info.get("schema_version") else None
    sv = int(info["supabase_version"]) if info.get("supabase_version") else None
    return {"installed": version is not None and sv is not None, "version": version, "supabase_version": sv,
            "current": version == SCHEMA_VERSION and sv == EXPORT_VERSION}
