"""What the old system's daily-tenant-backup.js read of one tenant: per table one
`select('*').eq('organization_id', org)`, which PostgREST cut at its row cap without a word. The
demo writes such a backup (services/demo.py), so a newcomer sees how a PARTIAL backup is handled."""

from __future__ import annotations

import psycopg
from psycopg import sql

from .connect import connect, db_error


def capped_rows(url: str, org: str, tables: tuple[str, ...], cap: int) -> tuple[str | None, dict[str, list | str]]:
    """The tenant's name, and per table its first `cap` rows as JSON objects (in no particular
    order, as the old system's request had none) or, when the table cannot be read, the error."""
    out: dict[str, list | str] = {}
    with connect(url, autocommit=True) as c:
        try:
            row = c.execute("SELECT name FROM public.organizations WHERE id = %s", [org]).fetchone()
        except psycopg.Error as err:
            raise db_error(err, "reading the demo organization") from None
        for table in tables:
            col = "id" if table == "organizations" else "organization_id"
            q = sql.SQL("SELECT row_to_json(t) FROM public.{} t WHERE {} = %s LIMIT %s").format(
                sql.Identifier(table), sql.Identifier(col))
            try:
                out[table] = [r[0] for r in c.execute(q, [org, cap])]
            except psycopg.Error as err:
                out[table] = err.diag.message_primary or str(err)
    return (row[0] if row else None), out
