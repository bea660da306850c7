"""The tool's configuration as data, validated from a parsed TOML mapping.

Reading files and the environment happens in platform/settings.py; here we only decide what a
mapping means, so every mistake is reported with the key that holds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .files import FilesRule, parse_rules

# The tables the old web-hosted system backed up. Still the list of what we expect to find:
# one that does not exist is a warning in the backup's summary, never a failure.
LEGACY_TABLES = (
    "organizations", "profiles", "customers", "bottles", "rentals", "rental_invoices",
    "invoice_line_items", "deliveries", "notifications", "audit_logs", "support_tickets",
    "support_ticket_messages", "locations", "gas_types", "cylinder_fills", "bottle_scans",
    "user_invites", "ownership_values", "organization_join_codes", "customer_support",
    "verification_requests", "verified_orders", "sales_orders", "sales_order_items",
)

# The tool's own tables: never tenant data, although backup_logs carries organization_id.
from .constants import OWN_TABLES  # noqa: E402,F401  (defined once, with the SQL's other constants)

DEFAULT_PART_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ParentLink:
    """A child → parent link the database does not declare as a foreign key."""

    table: str
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class Retention:
    days: int = 30
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0


@dataclass(frozen=True)
class Config:
    tenant_column: str = "organization_id"
    tenant_table: str = "organizations"
    tenant_name_column: str = "name"
    schemas: tuple[str, ...] = ("public",)
    expected_tables: tuple[str, ...] = LEGACY_TABLES
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    global_tables: tuple[str, ...] = ()
    parent_links: tuple[ParentLink, ...] = ()
    retention: Retention = field(default_factory=Retention)
    part_bytes: int = DEFAULT_PART_BYTES
    lock_wait_seconds: float = 10.0
    lock_lease_seconds: int = 60  # over REST: how long a crashed run's lease keeps the tenant locked
    plan_ttl_minutes: int = 60
    encrypt: bool = False  # AES-256-GCM per part, the key in the OS keyring
    backup_jobs: int = 0  # tables (backup) or tenants (daily) at once; 0: the cores, at most 4
    database_url: str | None = None
    store: str | None = None
    store_kind: str = "folder"  # "folder" | "supabase" (Supabase Storage)
    bucket: str = "backups"
    mirror: str | None = None  # with Supabase Storage: a local folder that keeps a second copy
    supabase_url: str | None = None  # https://<project>.supabase.co; the key never goes here
    files: tuple[FilesRule, ...] = ()  # [[files]]: a tenant's objects in Supabase Storage (core/files.py)
    row_labels: tuple[tuple[str, str], ...] = ()  # [row_labels] table = "column": what names its rows (core/rowview.py)


def _str_list(data: dict, key: str, where: str, what: str = "table names") -> tuple[str, ...] | None:
    if key not in data:
        return None
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of {what}, e.g. {key} = [\"a\", \"b\"], not {value!r}")
    return tuple(value)


def _int(data: dict, key: str, where: str, minimum: int = 0, maximum: int = 10**6) -> int | None:
    """A whole number in [minimum, maximum]: a float, a string or a huge value is refused here,
    not met later as an OverflowError or a wait that never ends."""
    if key not in data:
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ConfigError(f"{where}: '{key}' must be a whole number from {minimum} to {maximum}, not {value!r}")
    return value


def _seconds(data: dict, key: str, where: str, maximum: float) -> float | None:
    """A finite number of seconds in [0, maximum] (nan and inf would wait forever)."""
    import math
    if key not in data:
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= maximum:
        raise ConfigError(f"{where}: '{key}' must be a number of seconds from 0 to {maximum:g}, not {value!r}")
    return float(value)


def _text(data: dict, key: str, where: str, what: str) -> str | None:
    if key not in data:
        return None
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: '{key}' must be {what} in quotes, not {value!r}")
    return value


def _cols(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ConfigError(f"{where} must be a column name or a list of column names")


KNOWN_KEYS = {
    "tenant_column", "tenant_table", "tenant_name_column", "schemas", "expected_tables", "include",
    "exclude", "global_tables", "parent_paths", "retention", "store", "database", "restore", "backup",
    "supabase", "files", "row_labels",
}
STORE_KINDS = ("folder", "supabase")


def parse_config(data: dict, where: str = "config") -> Config:
    """Validate a parsed TOML document. Unknown keys are errors: a typo must not silently
    disable an exclusion or a parent path."""
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'; known keys are {', '.join(sorted(KNOWN_KEYS))}")
    kw: dict[str, Any] = {}
    for key in ("tenant_column", "tenant_table", "tenant_name_column"):
        if key in data:
            if not isinstance(data[key], str) or not data[key]:
                raise ConfigError(f"{where}: '{key}' must be a non-empty string")
            kw[key] = data[key]
    for key, attr in (("schemas", "schemas"), ("expected_tables", "expected_tables"), ("include", "include"),
                      ("exclude", "exclude"), ("global_tables", "global_tables")):
        value = _str_list(data, key, where, "schema names" if key == "schemas" else "table names")
        if value is not None:
            kw[attr] = value
    tenant_table = kw.get("tenant_table", Config.tenant_table)
    for key in ("exclude", "global_tables"):
        if any(n in (tenant_table, f"public.{tenant_table}") for n in kw.get(key, ())):
            raise ConfigError(f"{where}: '{key}' names the tenant table '{tenant_table}'; it is in every backup "
                              f"(each tenant's own row) and cannot be left out — remove it from {key}")
    links = []
    paths = data.get("parent_paths", {})
    if not isinstance(paths, dict):
        raise ConfigError(f"{where}: [parent_paths] must be a table: child = {{ column = \"x_id\", parent = \"x\" }}")
    for child, spec in paths.items():
        w = f"{where}: parent_paths.{child}"
        if not isinstance(spec, dict) or "column" not in spec or "parent" not in spec:
            raise ConfigError(f"{w} needs column and parent, e.g. {child} = {{ column = \"invoice_id\", parent = \"rental_invoices\" }}")
        extra = set(spec) - {"column", "parent", "parent_column"}
        if extra:
            raise ConfigError(f"{w}: unknown key '{sorted(extra)[0]}' (use column, parent, parent_column)")
        cols = _cols(spec["column"], f"{w}.column")
        pcols = _cols(spec.get("parent_column", "id"), f"{w}.parent_column")
        if len(cols) != len(pcols):
            raise ConfigError(f"{w}: column and parent_column must have the same number of names")
        if not isinstance(spec["parent"], str) or not spec["parent"]:
            raise ConfigError(f"{w}.parent must be a table name")
        links.append(ParentLink(child, cols, spec["parent"], pcols))
    kw["parent_links"] = tuple(links)
    if "files" in data:
        kw["files"] = parse_rules(data["files"], where)
    ret = data.get("retention", {})
    if not isinstance(ret, dict):
        raise ConfigError(f"{where}: [retention] must be a table")
    extra = set(ret) - {"days", "keep_daily", "keep_weekly", "keep_monthly"}
    if extra:
        raise ConfigError(f"{where}: retention.{sorted(extra)[0]} is not a setting (use days, keep_daily, keep_weekly, keep_monthly)")
    r = {k: v for k in ("days", "keep_daily", "keep_weekly", "keep_monthly")
         if (v := _int(ret, k, f"{where}: retention", minimum=1 if k == "days" else 0, maximum=36500)) is not None}
    kw["retention"] = Retention(**r)
    store = data.get("store", {})
    if isinstance(store, str) and store.strip():
        kw["store"] = store
    elif isinstance(store, dict):
        extra = set(store) - {"path", "part_size_mb", "kind", "bucket", "mirror"}
        if extra:
            raise ConfigError(f"{where}: store.{sorted(extra)[0]} is not a setting "
                              f"(use path, part_size_mb, kind, bucket, mirror)")
        if (path := _text(store, "path", f"{where}: store", "a folder path")) is not None:
            kw["store"] = path
        if (mb := _int(store, "part_size_mb", f"{where}: store", minimum=1, maximum=4096)) is not None:
            kw["part_bytes"] = mb * 1024 * 1024
        if "kind" in store:
            if store["kind"] not in STORE_KINDS:
                raise ConfigError(f"{where}: store.kind must be {' or '.join(repr(k) for k in STORE_KINDS)}, "
                                  f"not {store['kind']!r}")
            kw["store_kind"] = store["kind"]
        for key in ("bucket", "mirror"):
            if key in store:
                if not isinstance(store[key], str) or not store[key]:
                    raise ConfigError(f"{where}: store.{key} must be a non-empty string")
                kw[key] = store[key]
    else:
        raise ConfigError(f"{where}: store must be a folder path or a table with path = \"...\"")
    sb = data.get("supabase", {})
    if not isinstance(sb, dict):
        raise ConfigError(f"{where}: [supabase] must be a table with url = \"https://<project>.supabase.co\"")
    if set(sb) & {"key", "service_role_key", "service_key", "anon_key"}:
        raise ConfigError(f"{where}: [supabase] holds a key; secrets never go in the config file — remove it and "
                          f"set SUPABASE_SERVICE_ROLE_KEY or save it with: tenant-backup credentials set --supabase")
    if set(sb) - {"url"}:
        raise ConfigError(f"{where}: supabase.{sorted(set(sb) - {'url'})[0]} is not a setting (use url)")
    if "url" in sb:
        if not isinstance(sb["url"], str) or not sb["url"].startswith(("https://", "http://")):
            raise ConfigError(f"{where}: supabase.url must be the project URL, e.g. https://<project>.supabase.co")
        kw["supabase_url"] = sb["url"]
    db = data.get("database", {})
    if not isinstance(db, dict):
        raise ConfigError(f"{where}: [database] must be a table with url = \"postgresql://...\"")
    extra = set(db) - {"url", "lock_wait_seconds", "lock_lease_seconds"}
    if extra:
        raise ConfigError(f"{where}: database.{sorted(extra)[0]} is not a setting "
                          f"(use url, lock_wait_seconds, lock_lease_seconds)")
    if (url := _text(db, "url", f"{where}: database", "a postgresql:// URL")) is not None:
        kw["database_url"] = url
    if (wait := _seconds(db, "lock_wait_seconds", f"{where}: database", 3600)) is not None:
        kw["lock_wait_seconds"] = wait
    if (lease := _int(db, "lock_lease_seconds", f"{where}: database", minimum=1, maximum=3600)) is not None:
        kw["lock_lease_seconds"] = lease
    bk = data.get("backup", {})
    if not isinstance(bk, dict) or set(bk) - {"encrypt", "jobs"} or not isinstance(bk.get("encrypt", False), bool):
        raise ConfigError(f"{where}: [backup] takes encrypt = true|false and jobs = N only")
    kw["encrypt"] = bk.get("encrypt", False)
    if (jobs := _int(bk, "jobs", f"{where}: backup", minimum=1)) is not None:
        kw["backup_jobs"] = jobs
    labels = data.get("row_labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) and v for v in labels.values()):
        raise ConfigError(f"{where}: [row_labels] must be a table of table = \"column\" (the column that names its rows)")
    kw["row_labels"] = tuple(sorted(labels.items()))
    rest = data.get("restore", {})
    if not isinstance(rest, dict) or set(rest) - {"plan_ttl_minutes"}:
        raise ConfigError(f"{where}: [restore] takes plan_ttl_minutes only")
    if (ttl := _int(rest, "plan_ttl_minutes", f"{where}: restore", minimum=1, maximum=7 * 24 * 60)) is not None:
        kw["plan_ttl_minutes"] = ttl
    return Config(**kw)
