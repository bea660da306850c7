"""Agreements between the Python code and the SQL it installs, written once.

The restore engine's SQL (resources/sql/restore_engine.sql) holds `{{NAME}}` placeholders that
`fill_sql` replaces with these values when `setup` composes its script, so the lock class, the
tool's own tables and the naming rule cannot drift apart between the two languages."""

from __future__ import annotations

import re

# Advisory lock namespace of "one backup or restore per tenant": (LOCK_CLASS, hashtext(org id)).
LOCK_CLASS = 0x7B6B  # 31595

# The tool's own tables, in public: never tenant data (backup_logs carries organization_id, yet a
# restore must not rewind the history), and never written by a restore.
OWN_TABLES = ("backup_logs", "tenant_backup_meta", "tenant_backup_staging", "tenant_backup_locks")

# Tables are named bare in this schema, schema-qualified elsewhere (files, reports, staging, config).
DEFAULT_SCHEMA = "public"


def table_name(schema: str | None, table: str) -> str:
    """The name used in files, reports and config: bare in public, `schema.table` elsewhere."""
    return table if schema in (None, DEFAULT_SCHEMA) else f"{schema}.{table}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_constants() -> dict[str, str]:
    """Each placeholder's SQL text."""
    return {
        "LOCK_CLASS": str(LOCK_CLASS),
        "OWN_TABLES": "array[" + ", ".join(_literal(t) for t in OWN_TABLES) + "]::text[]",
        "DEFAULT_SCHEMA": _literal(DEFAULT_SCHEMA),
    }


PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def fill_sql(text: str) -> str:
    """`text` with every `{{NAME}}` replaced; an unknown name is a bug in the shipped SQL."""
    values = sql_constants()

    def one(m: re.Match) -> str:
        if m.group(1) not in values:
            raise AssertionError(f"unknown placeholder {m.group(0)} in the shipped SQL")
        return values[m.group(1)]
    return PLACEHOLDER.sub(one, text)
