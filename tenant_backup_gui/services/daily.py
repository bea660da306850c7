"""The nightly run: every active tenant, each on its own (one failure never stops the others),
then retention. The result (core/results.DailyResult) keeps the old system's response shape."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import datetime, timezone

from ..core import history as h
from ..core.errors import TenantBackupError
from ..core.events import Event, EventSink, ignore
from ..core.results import DailyResult, DailyTenant
from ..core.shard import Shard
from ..core.staleness import stale_message, stale_tenants
from ..sources.direct.connect import SessionPool
from .backup import BackupJob, default_jobs
from .context import Context
from .inventory import last_backups, tenants
from .lanes import Lending
from .leftovers import reconcile_runs
from .job import Job
from .retention import CleanupJob


def last_success(ctx: Context) -> str | None:
    """A warning when some active tenant has no recent successful daily backup — per tenant, so
    that one shard that stopped, or never ran, shows while the others run — or when no daily run
    has succeeded yet while earlier runs exist. The window shows it as a banner, doctor as a
    check, `daily` among its warnings. None when all is well or nothing can be read."""
    try:
        runs = ctx.history().rows(None, 200, h.DAILY)
        if not runs:
            return None
        if not any(r["status"] == h.COMPLETED and r["completed_at"] for r in runs):
            return "no daily run has succeeded yet: the last ones failed; see tenant-backup history --type daily"
        active = [t for t in tenants(ctx) if not t.deleted]
        last = last_backups(ctx)
    except TenantBackupError:
        return None
    now = datetime.now(timezone.utc)
    stale = stale_tenants(active, {org: d.get("last_daily") for org, d in last.items()}, runs, now)
    return stale_message(stale, active, runs, now) if stale else None


class DailyJob(Job):
    """jobs: tenants backed up at once, each on one connection of a pool of that size (the catalog
    and scope read once per run, re-checked per tenant by fingerprint). shard: only the tenants of
    that shard (core/shard.py), and retention only for them."""

    def __init__(self, ctx: Context, on_event: EventSink = ignore, cleanup: bool = True, jobs: int | None = None,
                 shard: Shard | None = None):
        super().__init__(on_event)
        self.ctx, self.cleanup, self.shard = ctx, cleanup, shard
        self.jobs = max(1, jobs or ctx.config.backup_jobs or default_jobs())
        self._running: set[BackupJob] = set()
        self._guard = threading.Lock()

    def prepare(self) -> list[str]:
        problems = []
        if (missing := self.ctx.settings.database_problem()) is not None:
            problems.append(missing)
        return problems + self.ctx.store.problems()

    def cancel(self) -> None:
        super().cancel()
        with self._guard:
            running = list(self._running)
        for job in running:
            job.cancel()

    def _tenant(self, run_ctx: Context, pool, tenant, i: int, steps: int, lanes: int,
                lending: Lending | None) -> DailyTenant:
        """One tenant's backup on one pooled connection, on a worker thread: its own history row,
        its own progress events; whatever happens, a line in the run's detail."""
        try:
            return self._backup_tenant(run_ctx, pool, tenant, i, steps, lanes, lending)
        finally:
            if lending is not None:
                lending.ended(tenant.id)

    def _backup_tenant(self, run_ctx: Context, pool, tenant, i: int, steps: int, lanes: int,
                       lending: Lending | None) -> DailyTenant:
        def failed(error: str) -> DailyTenant:
            return DailyTenant(tenant.id, tenant.name, False, error)
        if self.cancelled.is_set():
            return failed("cancelled")
        self.emit(Event("table", f"backing up {tenant.name}", tenant.id, step=i, steps=steps))
        with (pool.session() if pool is not None else nullcontext()) as session:
            job = BackupJob(run_ctx.with_session(session) if session else run_ctx, tenant.id, "daily",
                            on_event=self.on_event, jobs=lanes, lending=lending)
            job.bind_like(self)
            with self._guard:
                self._running.add(job)
            try:
                if self.cancelled.is_set():
                    return failed("cancelled")
                r = job.run_blocking()
                return DailyTenant(tenant.id, tenant.name, True, backup_id=r.id, records=r.total_records,
                                   size=r.total_size, lanes=job.lanes, warnings=r.warnings, signed=r.signed)
            except TenantBackupError as err:
                return failed(str(err))
            except Exception as err:  # noqa: BLE001 - one tenant's bug never stops the others
                return failed(f"internal error: {err!r}")
            finally:
                with self._guard:
                    self._running.discard(job)

    def _lend(self, pool, lending: Lending) -> None:
        with pool.session() as session:
            lending.lend(session, self.cancelled)

    async def run(self) -> DailyResult:
        self.check_prepared()
        self.bind_loop()
        started = time.monotonic()
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        history = self.ctx.history()
        run_ctx = self.ctx.for_run()
        everyone = await asyncio.to_thread(tenants, run_ctx)  # a connection error here is fatal: exit 2
        active = [t for t in everyone if not t.deleted and (self.shard is None or self.shard.owns(t.id))]
        meta = {"tenants": len(active), "jobs": self.jobs, **({"shard": str(self.shard)} if self.shard else {})}
        await asyncio.to_thread(reconcile_runs, self.ctx)
        log_id = await asyncio.to_thread(history.start, h.DAILY, None, meta)
        pool = SessionPool(run_ctx.url, self.jobs) if run_ctx.direct else None
        loop = asyncio.get_running_loop()
        # A worker with no tenant left to start lends its pooled connection to the running backups
        # as one more lane on their snapshot (services/lanes.py): the tail of the night — one big
        # tenant, a small shard — uses the whole pool, and the run never holds more than `jobs`
        # connections. Over REST (no pool) the spare jobs are split among the tenants up front.
        lending = Lending([t.id for t in active]) if pool is not None and self.jobs > 1 else None
        lanes = 1 if pool is not None else max(1, self.jobs // max(1, len(active)))
        try:
            with ThreadPoolExecutor(self.jobs, thread_name_prefix="daily-tenant") as threads:
                backups = [loop.run_in_executor(threads, self._tenant, run_ctx, pool, t, i, len(active), lanes, lending)
                           for i, t in enumerate(active, 1)]
                # Queued after every tenant: a thread takes one when it finds no tenant left.
                lenders = [loop.run_in_executor(threads, self._lend, pool, lending)
                           for _ in range(self.jobs if lending is not None else 0)]
                detail = await asyncio.gather(*backups)
                await asyncio.gather(*lenders)
        finally:
            if pool is not None:
                pool.close()
        cleanup = None
        if self.cleanup and not self.cancelled.is_set():
            try:
                cleanup = await CleanupJob(self.ctx, on_event=self.on_event, shard=self.shard).run()
            except TenantBackupError as err:
                cleanup = {"success": False, "message": str(err)}
        result = DailyResult(
            success=all(d.success for d in detail), message="", total_tenants=len(active), tenants=list(detail),
            skipped_deleted_tenants=[t.id for t in everyone if t.deleted and (self.shard is None or self.shard.owns(t.id))],
            jobs=self.jobs, shard=str(self.shard) if self.shard else None,
            catalog_reads=run_ctx.catalog_cache.reads if run_ctx.catalog_cache is not None else None,
            cleanup=cleanup, started_at=started_at, seconds=round(time.monotonic() - started, 3))
        failed = result.failed
        ok = len(detail) - len(failed)
        result.message = ("Daily tenant backup completed successfully" if result.success else
                          f"Daily tenant backup finished with {len(failed)} failed tenant(s) of {len(active)}")
        status = h.CANCELLED if self.cancelled.is_set() else h.COMPLETED if result.success and (cleanup is None or cleanup.get("success")) else (
            h.FAILED if not ok and active else h.COMPLETED_WITH_ERRORS)
        errors = [f"{d.organization_name or d.organization_id}: {d.error}" for d in failed]
        if cleanup is not None and not cleanup.get("success"):
            errors.append(f"cleanup: {cleanup.get('message')}")
        unsigned = [d for d in detail if d.success and not d.signed]
        if unsigned:  # written all the same: a night without its key still backs up
            meta["unsigned_backups"] = len(unsigned)
            history.warnings.insert(0, f"UNSIGNED: {len(unsigned)} backup(s) of this run could not be signed "
                                       f"({self.ctx.signing_key()[1]}); restoring them will need --trust-unsigned")
        await asyncio.to_thread(history.finish, log_id, status, records=result.total_records, size=result.total_size,
                                tables=ok, errors=errors,
                                metadata={"successful_tenants": ok, "failed_tenants": len(failed), **meta})
        result.warnings = history.warnings
        return result
