"""The nightly run: every active tenant, each on its own (one failure never stops the others),
then retention. The result keeps the old system's response shape."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

from ..core.errors import TenantBackupError
from ..core.events import Event, EventSink, ignore
from .backup import BackupJob
from .context import Context
from .inventory import tenants
from .job import Job
from .retention import CleanupJob


STALE_AFTER = timedelta(hours=26)


def last_success(ctx: Context) -> str | None:
    """A warning when the last successful daily run is older than 26 hours (or there is none
    while earlier runs exist): the window shows it as a banner, `daily` says so."""
    try:
        rows = ctx.history().rows(None, 50, "daily")
    except TenantBackupError:
        return None
    if not rows:
        return None
    ok = [r for r in rows if r["status"] == "completed" and r["completed_at"]]
    if not ok:
        return "no daily run has succeeded yet: the last ones failed; see tenant-backup history --type daily"
    age = datetime.now(timezone.utc) - ok[0]["completed_at"]
    if age > STALE_AFTER:
        return (f"the last successful daily run finished {age.total_seconds() / 3600:.0f} hours ago "
                f"({ok[0]['completed_at']:%Y-%m-%d %H:%M} UTC); check the schedule: tenant-backup schedule status")
    return None


class DailyJob(Job):
    def __init__(self, ctx: Context, on_event: EventSink = ignore, cleanup: bool = True):
        super().__init__(on_event)
        self.ctx, self.cleanup = ctx, cleanup
        self._current: BackupJob | None = None

    def prepare(self) -> list[str]:
        problems = []
        if (missing := self.ctx.settings.database_problem()) is not None:
            problems.append(missing)
        return problems + self.ctx.store.problems()

    def cancel(self) -> None:
        super().cancel()
        if self._current is not None:
            self._current.cancel()

    async def run(self) -> dict:
        self.check_prepared()
        self.bind_loop()
        started = time.monotonic()
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        history = self.ctx.history()
        everyone = await asyncio.to_thread(tenants, self.ctx)  # a connection error here is fatal: exit 2
        active = [t for t in everyone if not t.deleted]
        log_id = await asyncio.to_thread(history.start, "daily", None, {"tenants": len(active)})
        detail = []
        for i, tenant in enumerate(active, 1):
            if self.cancelled.is_set():
                detail.append({"organization_id": tenant.id, "organization_name": tenant.name,
                               "success": False, "error": "cancelled"})
                continue
            self.emit(Event("table", f"backing up {tenant.name}", tenant.id, step=i, steps=len(active)))
            job = self._current = BackupJob(self.ctx, tenant.id, "daily", on_event=self.on_event)
            try:
                r = await job.run()
                detail.append({"organization_id": tenant.id, "organization_name": tenant.name, "success": True,
                               "backup_id": r.id, "records": r.total_records, "size": r.total_size,
                               "warnings": r.warnings})
            except TenantBackupError as err:
                detail.append({"organization_id": tenant.id, "organization_name": tenant.name,
                               "success": False, "error": str(err)})
            finally:
                self._current = None
        cleanup = None
        if self.cleanup and not self.cancelled.is_set():
            try:
                cleanup = await CleanupJob(self.ctx, on_event=self.on_event).run()
            except TenantBackupError as err:
                cleanup = {"success": False, "message": str(err)}
        ok = [d for d in detail if d["success"]]
        failed = [d for d in detail if not d["success"]]
        total_records = sum(d["records"] for d in ok)
        total_size = sum(d["size"] for d in ok)
        success = not failed
        if success:
            message = "Daily tenant backup completed successfully"
        else:
            message = f"Daily tenant backup finished with {len(failed)} failed tenant(s) of {len(active)}"
        status = "completed" if success and (cleanup is None or cleanup.get("success")) else (
            "failed" if not ok and active else "completed_with_errors")
        errors = [f"{d['organization_name'] or d['organization_id']}: {d['error']}" for d in failed]
        if cleanup is not None and not cleanup.get("success"):
            errors.append(f"cleanup: {cleanup.get('message')}")
        await asyncio.to_thread(history.finish, log_id, status, records=total_records, size=total_size,
                                tables=len(ok), errors=errors,
                                metadata={"successful_tenants": len(ok), "failed_tenants": len(failed)})
        return {
            "success": success,
            "message": message,
            "summary": {
                "total_tenants": len(active),
                "successful_tenants": len(ok),
                "failed_tenants": len(failed),
                "total_records": total_records,
                "total_size": total_size,
            },
            "tenants": detail,
            "skipped_deleted_tenants": [t.id for t in everyone if t.deleted],
            "cleanup": cleanup,
            "started_at": started_at,
            "seconds": round(time.monotonic() - started, 3),
            "warnings": history.warnings,
        }
