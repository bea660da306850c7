"""What both roads to the rows share — the direct connection (sources/direct/) and the Supabase
REST API (sources/rest/) — written once, so neither road imports the other: the tool's name and
versions, the catalog's one query and how its rows become a Catalog, a table as the installed
export functions read it, a tenant, and who runs the job."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass

from ..core.config import Config
from ..core.errors import ConfigError
from ..core.scope import Catalog, Column, ForeignKey, Table
from ..platform.paths import resource_text

APP_NAME = "tenant-backup"
SCHEMA_VERSION = 1  # of the history table and its helpers (tenant_backup_meta 'schema_version')
# The version of the export functions `setup` installs (resources/sql/rows.sql and supabase.sql),
# recorded in tenant_backup_meta as 'supabase_version': both export roads refuse older ones.
EXPORT_VERSION = 2
EXPORT_HELPERS_MISSING = ("the export helpers are missing or outdated in this database "
                          "(a tenant's rows are read through them); run: tenant-backup setup")

# Deadlock, serialization failure, lock timeout: the app's own writes got in the way (services/contention.py).
BUSY_SQLSTATES = ("40P01", "40001", "55P03")
BUSY = "busy: the app is writing to this organization; try again or pick a quiet moment"

# One copy of the catalog query for both roads: the direct connection runs it with %s = the schemas,
# and the REST road installs it as the body of public.tenant_backup_catalog (rest/setup.setup_sql).
CATALOG_SQL = resource_text("sql", "catalog.sql")
LAST_BACKUPS_SQL = resource_text("sql", "last_backups.sql")


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def who_runs() -> tuple[str, str]:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some service contexts
        user = "unknown"
    return user, socket.gethostname()


def key_name(schema: str, name: str) -> str:
    """A table's name in backups and config: bare in public, qualified elsewhere."""
    return name if schema == "public" else f"{schema}.{name}"


def catalog_from_rows(rows) -> Catalog:
    """The Catalog from the catalog query's rows (schema, name, partitioned, columns, unique keys,
    foreign keys, primary key), whichever road read them."""
    tables = {}
    for schema, name, partitioned, cols, uniques, fks, pk in rows:
        identity = {"a": "always", "d": "by default"}
        columns = tuple(Column(c["name"], c["type"], c["nullable"], c["generated"],
                               identity.get(c["identity"] or ""), as_text=bool(c["as_text"])) for c in cols)
        pk_cols = tuple(next((u for u in uniques if pk and set(u) == set(pk)), pk or ()))
        uks = tuple(tuple(u) for u in uniques if tuple(u) != pk_cols)
        foreign = tuple(ForeignKey(tuple(f["cols"]), key_name(f["ref_schema"], f["ref_table"]), tuple(f["ref_cols"]))
                        for f in fks)
        t = Table(schema, name, columns, pk_cols, uks, foreign, partitioned)
        tables[t.key_name] = t
    return Catalog(tables)


def table_json(t: Table) -> dict:
    """A table as the installed export functions read it (resources/sql/rows.sql, supabase.sql):
    its columns in order, which of them travel as their text (the catalog's word, which the
    manifest records too), and the key a REST export pages by."""
    key, _ = t.row_key
    return {"schema": t.schema, "name": t.name,
            "columns": [{"name": c.name, "as_text": c.as_text} for c in t.columns], "key": list(key)}


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str | None
    deleted: bool = False

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "deleted": self.deleted}


def tenant_table(catalog: Catalog, config: Config) -> tuple[Table, str] | None:
    """The tenant table and the column naming a tenant (its key where the name column is absent),
    or None when the table is missing or has no single-column key."""
    t = catalog.get(config.tenant_table)
    if t is None or len(t.primary_key) != 1:
        return None
    return t, (config.tenant_name_column if t.column(config.tenant_name_column) else t.primary_key[0])


def require_tenant_table(catalog: Catalog, config: Config) -> tuple[Table, str]:
    """tenant_table, or the one line saying what to set."""
    found = tenant_table(catalog, config)
    if found is None:
        raise ConfigError(f"the tenant table '{config.tenant_table}' does not exist or has no single-column "
                          f"primary key; set tenant_table in the config")
    return found
