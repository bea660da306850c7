"""The history (backup_logs) over the direct connection."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import Iterator

import psycopg

from ... import __version__
from ...core.errors import ConfigError, TenantBackupError
from ...platform.processes import process_tag
from ..shared import first_line, who_runs
from .connect import Session, connect, db_error


class History:
    """Writes to backup_logs. A failed write never hides the operation's own result: it becomes
    a warning on the result instead."""

    def __init__(self, url: str, session: Session | None = None):
        self.url = url
        self.session = session
        self.warnings: list[str] = []

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        if self.session is not None:
            yield self.session.connection()
            return
        with connect(self.url, autocommit=True) as conn:
            yield conn

    def _fail(self, err: BaseException) -> None:
        msg = first_line(err)
        if isinstance(err, psycopg.errors.UndefinedTable):
            msg = "backup_logs does not exist; run: tenant-backup setup"
        self.warnings.append(f"history not written: {msg}")

    def start(self, backup_type: str, org_id: str | None, metadata: dict | None = None,
              backup_id: str | None = None) -> str | None:
        user, host = who_runs()
        try:
            with self._conn() as conn:
                return str(conn.execute(
                    """INSERT INTO public.backup_logs (backup_type, status, started_at, organization_id, backup_id,
                         metadata, run_by, run_host, tool_version)
                       VALUES (%s, 'in_progress', now(), %s, %s, %s, %s, %s, %s) RETURNING id""",
                    [backup_type, org_id, backup_id, json.dumps({**(metadata or {}), **process_tag()}), user, host,
                     __version__]).fetchone()[0])
        except (psycopg.Error, TenantBackupError) as err:
            self._fail(err)
            return None

    def finish(self, log_id: str | None, status: str, *, records: int = 0, size: int = 0, tables: int = 0,
               metadata: dict | None = None, errors: list | None = None, backup_id: str | None = None) -> None:
        if log_id is None:
            return
        try:
            with self._conn() as conn:
                conn.execute(
                    """UPDATE public.backup_logs SET status = %s, completed_at = now(), records_backed_up = %s,
                         backup_size = %s, tables_count = %s, metadata = coalesce(metadata, '{}'::jsonb) || %s::jsonb,
                         errors = %s, backup_id = coalesce(%s, backup_id) WHERE id = %s""",
                    [status, records, size, tables, json.dumps(metadata or {}), json.dumps(errors or []),
                     backup_id, log_id])
        except (psycopg.Error, TenantBackupError) as err:
            self._fail(err)

    def discard(self, log_id: str | None) -> None:
        """Remove a row that only stood in for a job while it ran (services/leftovers.py)."""
        if log_id is None:
            return
        try:
            with self._conn() as conn:
                conn.execute("DELETE FROM public.backup_logs WHERE id = %s AND status = 'in_progress'", [log_id])
        except (psycopg.Error, TenantBackupError) as err:
            self._fail(err)

    def in_progress(self, org_id: str | None, host: str | None = None) -> list[dict]:
        """The tenant's rows (org_id None: the runs' rows, daily and cleanup; host given: every row
        of that host, any organization) still marked in_progress: id, type, host, pid, pid_space,
        age in seconds, and for a restore whether a completed restore of the same plan exists."""
        # `=` or IS NULL, not IS NOT DISTINCT FROM: only these use the organization's index, and this
        # runs under every tenant job's lock on a table that only grows
        if host is not None:
            whose, params = "l.run_host = %s", [host]
        elif org_id is not None:
            whose, params = "l.organization_id = %s", [org_id]
        else:
            whose, params = "l.organization_id IS NULL", []
        try:
            with self._conn() as conn:
                cur = conn.execute(
                    """SELECT l.id::text, l.backup_type, l.run_host, l.metadata->>'pid', l.metadata->>'pid_space',
                              extract(epoch FROM now() - l.started_at)::float8,
                              EXISTS (SELECT 1 FROM public.backup_logs d WHERE d.backup_type = 'restore'
                                      AND d.status = 'completed' AND d.organization_id = l.organization_id
                                      AND d.metadata->>'plan_id' = l.metadata->>'plan_id'),
                              l.organization_id::text
                       FROM public.backup_logs l
                       WHERE """ + whose + " AND l.status = 'in_progress'", params)
                return [dict(zip(("id", "type", "host", "pid", "pid_space", "age", "applied", "org"), r)) for r in cur]
        except (psycopg.Error, TenantBackupError) as err:
            self._fail(err)
            return []

    def interrupt(self, ids: list[str], reason: str) -> None:
        """Mark rows of jobs that are gone as failed, unless they finished meanwhile."""
        if not ids:
            return
        try:
            with self._conn() as conn:
                conn.execute("""UPDATE public.backup_logs SET status = 'failed', completed_at = now(), errors = %s
                                WHERE id::text = ANY(%s) AND status = 'in_progress'""", [json.dumps([reason]), ids])
        except (psycopg.Error, TenantBackupError) as err:
            self._fail(err)

    def rows(self, org_id: str | None = None, limit: int = 200, backup_type: str | None = None,
             status: str | None = None) -> list[dict]:
        where, params = [], []
        if org_id:
            where.append("organization_id = %s")
            params.append(org_id)
        if backup_type:
            where.append("backup_type = %s")
            params.append(backup_type)
        if status:
            where.append("status = %s")
            params.append(status)
        q = ("SELECT id::text, backup_type, status, organization_id::text, backup_id, started_at, completed_at, "
             "records_backed_up, backup_size, tables_count, metadata, errors, run_by, run_host "
             "FROM public.backup_logs" + (" WHERE " + " AND ".join(where) if where else "") +
             " ORDER BY started_at DESC NULLS LAST, created_at DESC LIMIT %s")
        try:
            with self._conn() as conn:
                cur = conn.execute(q, params + [limit])
                names = [d.name for d in cur.description]
                return [dict(zip(names, r)) for r in cur]
        except psycopg.errors.UndefinedTable:
            raise ConfigError("there is no history yet: backup_logs does not exist; run: tenant-backup setup") from None
        except psycopg.Error as err:
            raise db_error(err, "reading the history") from None
