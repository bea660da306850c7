"""Setting up and describing the database over the direct connection: installing the tool's SQL,
its version, what this role may do, the server, and each tenant's last backups."""

from __future__ import annotations

import psycopg

from ...core.config import Config
from ...core.scope import Table
from ..shared import EXPORT_VERSION, LAST_BACKUPS_SQL, SCHEMA_VERSION
from .catalog import table_ident
from .connect import connect, db_error, describe_url


def installed_version(conn: psycopg.Connection, key: str = "schema_version") -> int | None:
    try:
        row = conn.execute("SELECT value FROM public.tenant_backup_meta WHERE key = %s", [key]).fetchone()
    except psycopg.errors.UndefinedTable:
        conn.rollback()
        return None
    return int(row[0]) if row else None


def install(url: str, setup_sql: str) -> dict:
    with connect(url) as conn:
        try:
            before = installed_version(conn)
            conn.rollback()
            with conn.transaction():
                conn.execute(setup_sql)
            after = installed_version(conn)
        except psycopg.Error as err:
            raise db_error(err, "installing backup_logs and helpers") from None
    return {"previous_version": before, "version": after}


def server_info(url: str) -> dict:
    return {"kind": "postgres", "database": describe_url(url)}


def run_script(url: str, script: str, doing: str) -> None:
    """Run a shipped SQL file (resources/) in one transaction."""
    with connect(url) as conn:
        try:
            with conn.transaction():
                conn.execute(script)
        except psycopg.Error as err:
            raise db_error(err, doing) from None


def last_backups(url: str) -> dict[str, dict]:
    """Per tenant: when its last successful backup finished and how its last backup ended —
    what the tenant picker warns about — and when its last successful daily backup finished."""
    try:
        with connect(url, autocommit=True) as conn:
            return {r[0]: {"last_ok": r[1], "last_status": r[2], "last_started": r[3], "last_daily": r[4]}
                    for r in conn.execute(LAST_BACKUPS_SQL)}
    except psycopg.errors.UndefinedTable:
        return {}
    except psycopg.Error as err:
        raise db_error(err, "reading the last backups") from None


def setup_state(url: str) -> dict:
    """Is the tool's setup installed and current? For the status bar and doctor."""
    with connect(url, autocommit=True) as conn:
        version = installed_version(conn)
        export = installed_version(conn, "supabase_version") if version is not None else None
    return {"installed": version is not None, "version": version, "supabase_version": export,
            "current": version == SCHEMA_VERSION and export == EXPORT_VERSION}


def privileges(url: str, config: Config, tables: list[Table]) -> dict:
    """What this role may do: read every tenant table, and set session_replication_role (which
    a restore needs to keep the app's triggers quiet). Changes nothing."""
    with connect(url) as conn:
        # the table's name quoted by psycopg, as has_table_privilege parses it: any character may be in it
        unreadable = [t.key_name for t in tables if not conn.execute(
            "SELECT has_table_privilege(%s, 'SELECT')", [table_ident(t).as_string(conn)]).fetchone()[0]]
        try:
            conn.execute("SET LOCAL session_replication_role = replica")
            replica = True
        except psycopg.Error:
            replica = False
        conn.rollback()
        return {"unreadable": unreadable, "replica": replica, "version": conn.info.server_version}
