"""The history (backup_logs) over REST, through PostgREST."""

from __future__ import annotations

import os
from datetime import datetime

from ... import __version__
from ...core.errors import ConfigError, TenantBackupError
from ...platform.processes import process_tag
from ..shared import who_runs
from ..supabase_http import SETUP_HINT, SupabaseProject


def when(v: str | None) -> datetime | None:
    return datetime.fromisoformat(v) if v else None


class RestHistory:
    """The direct road's History over REST: backup_logs through PostgREST (the service role bypasses its
    RLS). A failed write becomes a warning, never the operation's result."""

    def __init__(self, project: SupabaseProject):
        self.project = project
        self.warnings: list[str] = []

    def _fail(self, err: BaseException) -> None:
        msg = str(err)
        if "42P01" in msg or "PGRST205" in msg or "backup_logs" in msg and "does not exist" in msg:
            msg = f"backup_logs does not exist; {SETUP_HINT}"
        self.warnings.append(f"history not written: {msg}")

    def start(self, backup_type: str, org_id: str | None, metadata: dict | None = None,
              backup_id: str | None = None) -> str | None:
        user, host = who_runs()
        row = {"backup_type": backup_type, "status": "in_progress", "started_at": datetime.now().astimezone().isoformat(),
               "organization_id": org_id, "backup_id": backup_id, "metadata": {**(metadata or {}), **process_tag()},
               "run_by": user,
               "run_host": host, "tool_version": __version__}

        async def go():
            q = self.project.client.table("backup_logs").insert(row)
            return (await self.project.send(q, "writing the history")).json()[0]["id"]
        try:
            return str(self.project.run(go()))
        except TenantBackupError as err:
            self._fail(err)
            return None

    def finish(self, log_id: str | None, status: str, *, records: int = 0, size: int = 0, tables: int = 0,
               metadata: dict | None = None, errors: list | None = None, backup_id: str | None = None) -> None:
        if log_id is None:
            return

        async def go():
            table = self.project.client.table("backup_logs")
            cur = (await self.project.send(table.select("metadata,backup_id").eq("id", log_id), "reading the history")).json()
            old = cur[0] if cur else {}
            change = {"status": status, "completed_at": datetime.now().astimezone().isoformat(),
                      "records_backed_up": records, "backup_size": size, "tables_count": tables,
                      "metadata": {**(old.get("metadata") or {}), **(metadata or {})}, "errors": errors or [],
                      "backup_id": backup_id or old.get("backup_id")}
            await self.project.send(self.project.client.table("backup_logs").update(change).eq("id", log_id),
                                    "writing the history")
        try:
            self.project.run(go())
        except TenantBackupError as err:
            self._fail(err)

    def discard(self, log_id: str | None) -> None:
        """Remove a row that only stood in for a job while it ran (services/leftovers.py)."""
        if log_id is None:
            return

        async def go():
            q = self.project.client.table("backup_logs").delete().eq("id", log_id).eq("status", "in_progress")
            await self.project.send(q, "writing the history")
        try:
            self.project.run(go())
        except TenantBackupError as err:
            self._fail(err)

    def in_progress(self, org_id: str | None, host: str | None = None) -> list[dict]:
        """The tenant's rows still marked in_progress (host given: that host's rows of any
        organization), as the direct road's History.in_progress gives them (services/leftovers.py).
        Ages are the server's: its now() (tenant_backup_info) minus the row's created_at, which the
        server's default wrote; started_at is the writing host's clock. Over the API no stand-in
        restore row exists: `applied` is False."""
        try:
            rows = self._in_progress_rows(org_id, host)
            now = self._server_now()
        except TenantBackupError as err:
            self._fail(err)
            return []
        return [{"id": r["id"], "type": r["backup_type"], "host": r["run_host"],
                 "pid": str((r.get("metadata") or {}).get("pid") or "") or None,
                 "pid_space": (r.get("metadata") or {}).get("pid_space"),
                 "age": (now - since).total_seconds() if (since := when(r.get("created_at")) or r["started_at"]) else 0.0,
                 "applied": False, "org": r["organization_id"]}
                for r in rows]

    def _in_progress_rows(self, org_id: str | None, host: str | None) -> list[dict]:
        async def go():
            q = self.project.client.table("backup_logs").select(
                "id,backup_type,run_host,metadata,started_at,created_at,organization_id").eq("status", "in_progress")
            q = q.eq("run_host", host) if host is not None else (
                q.eq("organization_id", org_id) if org_id is not None else q.is_("organization_id", "null"))
            return (await self.project.send(q.limit(1000), "reading the history")).json()
        rows = self.project.run(go())
        for r in rows:
            r["started_at"] = when(r["started_at"])
        return rows

    def _server_now(self) -> datetime:
        """The database's clock; this host's only where the installed SQL predates tenant_backup_info's 'now'."""
        info = self.project.run(self.project.rpc("tenant_backup_info", {}, "reading the server's clock")).json()
        return when(info.get("now") if isinstance(info, dict) else None) or datetime.now().astimezone()

    def interrupt(self, ids: list[str], reason: str) -> None:
        """Mark rows of jobs that are gone as failed, unless they finished meanwhile."""
        if not ids:
            return

        async def go():
            change = {"status": "failed", "completed_at": datetime.now().astimezone().isoformat(), "errors": [reason]}
            q = self.project.client.table("backup_logs").update(change).in_("id", ids).eq("status", "in_progress")
            await self.project.send(q, "writing the history")
        try:
            self.project.run(go())
        except TenantBackupError as err:
            self._fail(err)

    def rows(self, org_id: str | None = None, limit: int = 200, backup_type: str | None = None,
             status: str | None = None) -> list[dict]:
        cols = ("id,backup_type,status,organization_id,backup_id,started_at,completed_at,records_backed_up,"
                "backup_size,tables_count,metadata,errors,run_by,run_host")

        async def go():
            q = self.project.client.table("backup_logs").select(cols)
            if org_id:
                q = q.eq("organization_id", org_id)
            if backup_type:
                q = q.eq("backup_type", backup_type)
            if status:
                q = q.eq("status", status)
            q = q.order("started_at", desc=True, nullsfirst=False).order("created_at", desc=True).limit(min(limit, 1000))
            return (await self.project.send(q, "reading the history")).json()
        try:
            rows = self.project.run(go())
        except TenantBackupError as err:
            if "42P01" in str(err) or "PGRST205" in str(err):
                raise ConfigError(f"there is no history yet: backup_logs does not exist; {SETUP_HINT}") from None
            raise
        for r in rows:
            r["started_at"], r["completed_at"] = when(r["started_at"]), when(r["completed_at"])
        return rows
