"""Cleanup: apply the retention rules to every tenant's backups in the store."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from ..core.errors import LockBusy, TenantBackupError
from ..core.events import Event, EventSink, ignore
from ..core.retention import decide
from ..core.shard import Shard
from ..stores.backups import delete_backup, list_backups, tenant_ids
from ..stores.tenant_files import prune_copies
from .context import Context
from .job import Job
from .leftovers import has_temp_files


def _entry(d) -> dict:
    b = d.backup
    return {"organization_id": b.organization_id, "id": b.id, "date": b.date, "type": b.type,
            "complete": b.complete, "size": b.total_size, "reason": d.reason}


class CleanupJob(Job):
    def __init__(self, ctx: Context, dry_run: bool = False, now: datetime | None = None,
                 on_event: EventSink = ignore, log: bool = True, shard: Shard | None = None):
        """shard: only the backups of the tenants that shard owns (`daily --shard I/N`)."""
        super().__init__(on_event)
        self.ctx, self.dry_run, self.now, self.log, self.shard = ctx, dry_run, now, log, shard

    def prepare(self) -> list[str]:
        return [] if self.dry_run else self.ctx.store.problems()

    async def run(self) -> dict:
        self.check_prepared()
        self.bind_loop()
        history = self.ctx.history() if self.log and not self.dry_run else None
        log_id = await asyncio.to_thread(history.start, "cleanup", None) if history else None
        try:
            result = await asyncio.to_thread(self._run)
        except TenantBackupError as err:
            if history:
                await asyncio.to_thread(history.finish, log_id, "failed", errors=[str(err)])
            raise
        if history:
            await asyncio.to_thread(
                history.finish, log_id, "completed_with_errors" if result["errors"] else "completed",
                size=result["freed_bytes"], errors=result["errors"],
                metadata={"deleted": len(result["deleted"]), "kept": len(result["kept"]),
                          "policy": result["policy"]})
            result["warnings"] = history.warnings
        return result

    def _run(self) -> dict:
        now = self.now or datetime.now(timezone.utc)
        policy = self.ctx.config.retention
        store = self.ctx.store
        deleted, kept, errors, freed = [], [], [], 0
        locked: set[str] = set()  # tenants whose lock was taken (their leftovers swept with it)
        # One tenant at a time, each backup without its tables (retention reads neither tables nor
        # files): every kept summary of every tenant parsed and held at once was 531 KB a 100-table
        # backup, 16 GB projected for 1,000 tenants × 30 nights (issue #23).
        for org in tenant_ids(store):
            if self.shard is not None and not self.shard.owns(org):
                continue
            decisions = decide(list_backups(store, org, tables=False), policy, now)
            kept += [_entry(d) for d in decisions if d.keep]
            doomed = [d for d in decisions if not d.keep]
            if self.dry_run:
                deleted += [_entry(d) for d in doomed]
                freed += sum(d.backup.total_size for d in doomed)
            elif doomed and not self.cancelled.is_set():
                locked.add(org)
                freed += self._delete(org, doomed, deleted, errors)
        if not self.dry_run:
            for org in tenant_ids(store):
                if org in locked or self.cancelled.is_set() or not has_temp_files(self.ctx, org):
                    continue
                try:
                    lock = self.ctx.tenant_lock(org, 0)
                    with lock:
                        freed += lock.done["temp_bytes"]
                except LockBusy:
                    pass  # a writer is at work there: its temp files are its own
                except TenantBackupError as err:
                    errors.append(f"organization {org}: {err}")
        verb = "would delete" if self.dry_run else "deleted"
        return {"success": not errors, "dry_run": self.dry_run,
                "message": f"{verb} {len(deleted)} backups ({freed} bytes); kept {len(kept)}",
                "policy": {"days": policy.days, "keep_daily": policy.keep_daily,
                           "keep_weekly": policy.keep_weekly, "keep_monthly": policy.keep_monthly},
                "deleted": deleted, "kept": kept, "freed_bytes": freed, "errors": errors,
                **({"shard": str(self.shard)} if self.shard else {})}

    def _delete(self, org: str, items: list, deleted: list, errors: list) -> int:
        """Delete one tenant's doomed backups under its lock; the bytes freed."""
        freed = 0
        try:
            # Never delete under a running restore that may be reading these files.
            lock = self.ctx.tenant_lock(org, 0)
            with lock:
                freed += lock.done["temp_bytes"]  # what killed writers left (services/leftovers.py)
                for d in items:
                    freed += delete_backup(self.ctx.store, d.backup)
                    deleted.append(_entry(d))
                    self.emit(Event("progress", f"deleted {d.backup.id}", org))
                # Listed again under the lock: a backup that finished since the first listing
                # (a manual one, a safety backup, another shard's) keeps the copies it lists.
                gone = {d.backup.id for d in items}
                freed += prune_copies(self.ctx.store, org, [b for b in list_backups(self.ctx.store, org)
                                                            if b.id not in gone])
        except LockBusy:
            errors.append(f"organization {org}: skipped, a backup or restore is running")
        except TenantBackupError as err:
            errors.append(f"organization {org}: {err}")
        return freed
