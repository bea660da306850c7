"""Restore one tenant: a dry run that must come first, then one atomic apply of exactly that plan.

Both walk the same road (RestoreSession): stage the backup's rows, compare them with today's,
delete and re-insert in one transaction, check every foreign key the restore touches. The dry
run then rolls back and saves a plan; the apply — after a safety backup of the current state —
re-checks the plan's fingerprint inside its transaction and commits."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from ..core import manifest as mf
from ..core.errors import Cancelled, ConfigError, IntegrityError, PlanError, TenantBackupError
from ..core.events import Event, EventSink, ignore
from ..core.manifest import BackupInfo
from ..core.partial import replace_refusal
from ..core.text import count
from ..core.plan import MODES, Plan, RestoreOptions, TablePlan, expiry, new_plan_id, why_plan_unusable
from ..platform import plans
from ..sources.pg_restore import RestoreSession
from ..stores.backups import find_backup, iter_part_blocks, prefetch
from .backup import BackupJob
from .contention import retry_busy
from .context import Context
from .job import Job
from .leftovers import apply_marker


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _RestoreBase(Job):
    def __init__(self, ctx: Context, org_id: str, backup_ref: str, options: RestoreOptions,
                 on_event: EventSink = ignore):
        super().__init__(on_event)
        self.ctx = ctx
        self.org_id = (org_id or "").strip().lower()
        self.backup_ref = backup_ref
        self.options = options
        self._session: RestoreSession | None = None

    def prepare(self) -> list[str]:
        problems = []
        if not mf.is_uuid(self.org_id):
            problems.append(f"'{self.org_id}' is not an organization id (a UUID); list them with: tenant-backup tenants")
        if self.options.mode not in MODES:
            problems.append(f"unknown mode '{self.options.mode}' (use {' or '.join(MODES)})")
        if (missing := self.ctx.settings.database_problem()) is not None:
            problems.append(missing)
        return problems

    def cancel(self) -> None:
        super().cancel()
        if self._session is not None:
            self._session.cancel()

    def _open_session(self, snapshot: bool):
        """The road to the tenant's rows: one direct transaction, or the installed functions over REST."""
        if self.ctx.direct:
            return RestoreSession(self.ctx.url, self.ctx.config, self.org_id, self.cancelled, snapshot=snapshot)
        from ..sources.supabase_restore import RestRestoreSession
        url, key = self.ctx.settings.require_supabase()
        return RestRestoreSession(self.ctx.project(), url, key, self.ctx.config, self.org_id, self.cancelled)

    # The shared road: returns (tables, warnings, problems, restored rows).
    def _walk(self, session, info: BackupInfo, known: dict | None = None, *, apply: bool = False,
              fingerprint: str | None = None, log: dict | None = None) -> tuple[dict, list, list, int]:
        """known: the dry run's per-table counts. The apply passes them instead of comparing again:
        the fingerprint proved the data is the one they were counted on. Over REST, `apply`,
        `fingerprint` and `log` go to the one call that does the rest on the server."""
        warnings: list[str] = list(info.warnings) if info.legacy else []
        problems: list[str] = []
        if info.legacy:
            warnings.insert(0, "unverifiable: no checksums (a backup of the old system); row counts checked only")
        wanted = list(self.options.tables) or [n for n in info.order if n in info.tables]
        unknown = [n for n in wanted if n not in info.tables]
        if unknown:
            raise ConfigError(f"table '{unknown[0]}' is not in backup {info.id}; "
                              f"it holds: {', '.join(sorted(info.tables))}")
        names = []
        for n in wanted:
            if session.scope.get(n) is None:
                msg = (f"table {n} ({info.tables[n].record_count} rows in the backup) is no longer a tenant table "
                       f"of this database: its rows cannot be restored")
                (warnings if self.options.allow_dropped_columns else problems).append(
                    msg + ("" if self.options.allow_dropped_columns else "; pass --allow-dropped-columns to restore without it"))
            else:
                names.append(n)
        if not self.options.tables:
            for s in session.scope.tables:
                if s.table.key_name not in info.tables:
                    warnings.append(f"table {s.table.key_name} is not in the backup (new since?): left as it is")
        plans_: dict[str, TablePlan] = {}
        secret = self.ctx.key_for(info)  # refuses, naming the key, before anything is read
        for i, name in enumerate(names, 1):
            entry = info.tables[name]
            self.emit(Event("table", f"reading {name} from the backup", self.org_id, name, step=i, steps=len(names)))
            blocks = prefetch(b for part in entry.parts for b in iter_part_blocks(self.ctx.store, part, secret))
            try:
                st = session.stage(name, blocks, lambda n, name=name, i=i: self.emit(
                    Event("progress", "", self.org_id, name, n, 0, i, len(names))),
                    compare=not (known and name in known))
            except IntegrityError as err:
                raise IntegrityError(f"the backup is damaged: {err}") from None
            tp = TablePlan(name, entry.record_count)
            if st.rows != entry.record_count:
                tp.problems.append(f"{name}: the backup holds {st.rows} rows, its summary says {entry.record_count}")
            table = st.scope.table
            current = {c.name: c for c in table.columns}
            backup_cols = [c["name"] for c in entry.columns] if entry.columns else session.staged_keys(st)
            backup_types = {c["name"]: c["type"] for c in entry.columns}
            skipped: set[str] = set()
            for col in backup_cols:
                if col not in current:
                    n = session.non_null_count(st, col)
                    msg = f"column {name}.{col} no longer exists: {n} row(s) hold a value for it"
                    if self.options.allow_dropped_columns:
                        warnings.append(msg + " (skipped, as allowed)")
                    else:
                        tp.problems.append(msg + "; pass --allow-dropped-columns to restore without it")
                elif backup_types.get(col) and backup_types[col] != current[col].type:
                    change = f"column {name}.{col} changed type from {backup_types[col]} to {current[col].type}"
                    n = session.unconvertible_count(st, col, current[col].type)
                    if not n:
                        warnings.append(change + ("" if n is None else ": every value converts"))
                    elif self.options.allow_dropped_columns:
                        warnings.append(f"{change}: {n} row(s) hold values that do not fit; the column is skipped "
                                        f"(restored rows take its default), as allowed")
                        skipped.add(col)
                    else:  # skipped in the dry run too, so the rest is still checked; the apply is refused
                        tp.problems.append(f"{change}: {n} row(s) hold values that do not fit; pass "
                                           f"--allow-dropped-columns to restore without that column")
                        skipped.add(col)
            for col in current:
                if col not in backup_cols and not current[col].generated:
                    warnings.append(f"column {name}.{col} is new since the backup: restored rows take its default")
            st.columns = [c for c in backup_cols if c in current and not current[c].generated and c not in skipped]
            st.text_columns = {c["name"] for c in entry.columns if c.get("encoding") == "text"}
            st.unreadable = skipped
            plans_[name] = tp
        if not isinstance(session, RestoreSession):
            return self._finish_rest(session, names, plans_, warnings, problems, known, apply, fingerprint, log, info)
        for name in names:
            if known and name in known:
                for k in ("current_rows", "to_insert", "to_update", "to_delete", "unchanged", "key", "key_kind"):
                    setattr(plans_[name], k, known[name][k])
            else:
                session.compare(session.staged[name], plans_[name])
        session.quiet_triggers()
        session.delete_current(names, self.options.mode)
        restored = 0
        for name in [n for n in session.scope.names() if n in names]:  # parents first
            plans_[name].restored = session.insert(session.staged[name], self.options.mode)
            restored += plans_[name].restored
            self._check_cancel()
        if self.options.mode == "missing-only":
            for name in names:
                if not plans_[name].key:
                    warnings.append(f"table {name} has no key: missing-only cannot tell which rows are missing; left as is")
                plans_[name].to_update = plans_[name].to_delete = 0
                plans_[name].unchanged = plans_[name].record_count - plans_[name].restored
                plans_[name].to_insert = plans_[name].restored
        self.emit(Event("message", "checking references", self.org_id))
        for d in session.dangling(names):
            (warnings if d.other_tenant else problems).append(d.describe())
        for tp in plans_.values():
            problems.extend(tp.problems)
        return {n: plans_[n] for n in names}, warnings, problems, restored

    def _finish_rest(self, session, names, plans_, warnings, problems, known, apply, fingerprint, log, info):
        """Compare, replace and check references on the server, in one RPC (one transaction)."""
        for tp in plans_.values():
            problems.extend(tp.problems)
        if problems and apply:  # refused before anything is sent
            return {n: plans_[n] for n in names}, warnings, problems, 0
        self.emit(Event("message", "restoring on the server" if apply else "rehearsing the restore on the server",
                        self.org_id))
        report = session.run(names, self.options.mode, apply, known=known, fingerprint=fingerprint,
                             metadata=log, backup_id=info.id)
        for name in names:
            got = report["tables"].get(name, {})
            for k in ("current_rows", "to_insert", "to_update", "to_delete", "unchanged", "restored", "key", "key_kind"):
                if k in got:
                    setattr(plans_[name], k, got[k])
        warnings += report.get("warnings", [])
        problems += report.get("problems", [])
        self.server_fingerprint = report.get("fingerprint")
        self.sequences_moved = report.get("sequences_moved", [])
        return {n: plans_[n] for n in names}, warnings, problems, int(report.get("total_records_restored") or 0)

    def _check_cancel(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled("restore cancelled; nothing was changed")

    def _result(self, info: BackupInfo, name: str | None, tables: dict, warnings: list, problems: list,
                restored: int, plan_id: str | None, message: str, success: bool) -> dict:
        return {
            "success": success,
            "message": message,
            "plan_id": plan_id,
            "summary": {"organization_id": self.org_id, "organization_name": name, "backup_id": info.id,
                        "backup_date": info.date, "total_tables": len(tables),
                        "total_records_restored": restored, "errors": len(problems)},
            "tables": {n: t.to_json() for n, t in tables.items()},
            "warnings": warnings,
            "problems": problems,
        }


class RestoreDryRunJob(_RestoreBase):
    """Changes nothing, ever: the restore is performed inside a transaction that rolls back."""

    async def run(self) -> dict:
        self.check_prepared()
        self.bind_loop()
        info = await asyncio.to_thread(find_backup, self.ctx.store, self.org_id, self.backup_ref)
        if why := replace_refusal(info.partial, self.options.mode, self.options.accept_partial):
            raise ConfigError(why)
        history = self.ctx.history()
        log_id = await asyncio.to_thread(history.start, "dry_run", self.org_id,
                                         {"options": self.options.key()}, info.id)
        try:
            result = await asyncio.to_thread(retry_busy, self._run, info, cancelled=self.cancelled)
        except TenantBackupError as err:
            await asyncio.to_thread(history.finish, log_id, "cancelled" if isinstance(err, Cancelled) else "failed",
                                    errors=[str(err)], backup_id=info.id)
            raise
        except BaseException as err:
            await asyncio.to_thread(history.finish, log_id, "failed", errors=[f"internal error: {err!r}"],
                                    backup_id=info.id)
            raise
        await asyncio.to_thread(
            history.finish, log_id, "completed" if result["success"] else "completed_with_errors",
            records=result["summary"]["total_records_restored"], tables=result["summary"]["total_tables"],
            errors=result["problems"], metadata={"plan_id": result["plan_id"], "options": self.options.key()},
            backup_id=info.id)
        result["warnings"] += history.warnings
        result["partial"], result["partial_reasons"] = info.partial, info.partial_reasons
        self.emit(Event("finished", result["message"], self.org_id))
        return result

    def _run(self, info: BackupInfo) -> dict:
        with self._open_session(snapshot=True) as session:
            self._session = session
            try:
                fingerprint = session.fingerprint() if self.ctx.direct else None
                name = session.tenant_name() or info.organization_name
                tables, warnings, problems, restored = self._walk(session, info)
                if not self.ctx.direct:  # the server's own, read in the dry run's transaction
                    fingerprint = self.server_fingerprint
                else:
                    self.emit(Event("message", "rolling back the rehearsal", self.org_id))
                    session.roll_back_and_tidy({n: t.restored for n, t in tables.items()})
            finally:
                self._session = None
        now = _now()
        plan = Plan(new_plan_id(), self.org_id, name, info.id, info.date, self.options.key(), fingerprint,
                    now.isoformat(timespec="seconds"), expiry(now, self.ctx.config.plan_ttl_minutes),
                    {n: t.to_json() for n, t in tables.items()}, warnings, problems)
        plans.save(plan)
        ok = not problems
        verb = "would restore" if ok else "cannot restore"
        message = (f"Dry run completed. {verb.capitalize()} {count(restored, 'record')} in {count(len(tables), 'table')} of "
                   f"{name or self.org_id} from backup {info.id}"
                   + ("" if ok else f": {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")))
        return self._result(info, name, tables, warnings, problems, restored, plan.plan_id if ok else None, message, ok)


class RestoreApplyJob(_RestoreBase):
    """Safety backup first, then one transaction, bound to the dry run's plan."""

    def __init__(self, ctx: Context, org_id: str, backup_ref: str, plan_id: str, on_event: EventSink = ignore,
                 options: RestoreOptions | None = None):
        self.plan = plans.load(plan_id)
        opts = options or (RestoreOptions(self.plan.options["mode"], tuple(self.plan.options["tables"]),
                                          self.plan.options["allow_dropped_columns"]) if self.plan else RestoreOptions())
        super().__init__(ctx, org_id, backup_ref, opts, on_event)
        self.plan_id = plan_id
        self.safety_backup_id: str | None = None

    def prepare(self) -> list[str]:
        problems = super().prepare()
        if problems:
            return problems
        if not self.plan_id:
            return ["a restore needs the plan of a dry run: run tenant-backup restore --dry-run first, "
                    "then --apply --plan PLAN_ID"]
        ref = self.backup_ref
        if self.plan is not None and len(ref) == 10 and self.plan.backup_date == ref:
            ref = self.plan.backup_id  # a date names the plan's backup when it is of that day
        if self.plan is None and plans.was_applied(self.plan_id):
            return [PlanError(f"plan {self.plan_id} was already applied; to restore again, run a new dry run")]
        why = why_plan_unusable(self.plan, self.org_id, ref, self.options, _now())
        return [PlanError(why)] if why else []

    async def run(self) -> dict:
        self.check_prepared()
        self.bind_loop()
        info = await asyncio.to_thread(find_backup, self.ctx.store, self.org_id, self.plan.backup_id)
        if why := replace_refusal(info.partial, self.options.mode, self.options.accept_partial):
            raise ConfigError(why)
        history = self.ctx.history()
        started = time.monotonic()
        try:
            result = await asyncio.to_thread(retry_busy, self._run, info, cancelled=self.cancelled)
        except TenantBackupError as err:
            log_id = await asyncio.to_thread(history.start, "restore", self.org_id,
                                             {"plan_id": self.plan_id, "safety_backup_id": self.safety_backup_id},
                                             info.id)
            await asyncio.to_thread(history.finish, log_id, "cancelled" if isinstance(err, Cancelled) else "failed",
                                    errors=[str(err)], backup_id=info.id)
            if self.safety_backup_id and not isinstance(err, Cancelled):
                raise type(err)(f"{err} (safety backup {self.safety_backup_id} was taken)") from None
            raise
        except BaseException as err:  # an internal error still leaves its restore row in the history
            log_id = await asyncio.to_thread(history.start, "restore", self.org_id,
                                             {"plan_id": self.plan_id, "safety_backup_id": self.safety_backup_id},
                                             info.id)
            await asyncio.to_thread(history.finish, log_id, "failed", errors=[f"internal error: {err!r}"],
                                    backup_id=info.id)
            raise
        plans.discard(self.plan_id)
        result["safety_backup_id"] = self.safety_backup_id
        result["seconds"] = round(time.monotonic() - started, 3)
        self.emit(Event("finished", result["message"], self.org_id))
        return result

    def _run(self, info: BackupInfo) -> dict:
        with self.ctx.tenant_lock(self.org_id) as lock, apply_marker(self.ctx, self.org_id, self.plan_id, info.id):
            self.emit(Event("message", "taking a safety backup of the current state", self.org_id))
            safety = BackupJob(self.ctx, self.org_id, "safety", on_event=self.on_event,
                               allow_missing_tenant=True, hold_lock=False)
            safety.cancelled = self.cancelled
            safety._loop, safety._loop_thread = self._loop, self._loop_thread
            safety_result = safety.run_blocking()  # already on a worker thread, under our lock
            self.safety_backup_id = safety_result.id
            self._check_cancel()
            if not self.ctx.direct:
                return self._run_rest(info, lock)
            with RestoreSession(self.ctx.url, self.ctx.config, self.org_id, self.cancelled) as session:
                self._session = session
                try:
                    session.lock([s for s in session.scope.tables])
                    if session.fingerprint() != self.plan.fingerprint:
                        raise TenantBackupError("the data changed since the dry run; run it again")
                    name = session.tenant_name() or info.organization_name or self.plan.organization_name
                    tables, warnings, problems, restored = self._walk(session, info, known=self.plan.tables)
                    if problems:
                        raise TenantBackupError(f"the restore was refused and nothing was changed: {problems[0]}")
                    moved = session.move_sequences(list(tables))
                    session.log_restore({"plan_id": self.plan_id, "safety_backup_id": self.safety_backup_id,
                                         "options": self.options.key(), "sequences_moved": moved,
                                         "tables": {n: t.restored for n, t in tables.items()}},
                                        restored, len(tables), info.id)
                    session.commit()
                finally:
                    self._session = None
        return self._applied(info, name, tables, warnings, restored)

    def _run_rest(self, info: BackupInfo, lock) -> dict:
        """Over REST the server locks the tables, re-checks the fingerprint, restores, moves the
        sequences and writes the history row in the one transaction of its restore function."""
        with self._open_session(snapshot=False) as session:
            self._session = session
            try:
                name = session.tenant_name() or info.organization_name or self.plan.organization_name
                log = {"plan_id": self.plan_id, "safety_backup_id": self.safety_backup_id,
                       "options": self.options.key()}
                if lock.lost:  # the lease expired and another job took the tenant: do not restore over it
                    raise TenantBackupError(f"the lock on organization {self.org_id} was lost before the restore; "
                                            f"nothing was changed; run the dry run again")
                tables, warnings, problems, restored = self._walk(session, info, known=self.plan.tables, apply=True,
                                                                  fingerprint=self.plan.fingerprint, log=log)
                if problems:
                    raise TenantBackupError(f"the restore was refused and nothing was changed: {problems[0]}")
            finally:
                self._session = None
        return self._applied(info, name, tables, warnings, restored)

    def _applied(self, info: BackupInfo, name: str | None, tables: dict, warnings: list, restored: int) -> dict:
        message = (f"Restored {count(restored, 'record')} in {count(len(tables), 'table')} of {name or self.org_id} from backup "
                   f"{info.id}; safety backup {self.safety_backup_id} holds the state before")
        return self._result(info, name, tables, warnings, [], restored, self.plan_id, message, True)
