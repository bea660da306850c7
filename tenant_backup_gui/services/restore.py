"""Restore one tenant: a dry run that must come first, then one atomic apply of exactly that plan.

Both run THE restore engine (SQL installed by `setup`, reached through a road's session: see
sources/restore_engine.py) over the backup's lines, re-read and re-hashed as they stream. The dry
run pins the bytes it read (SHA-256 of the summary and of every part) in its plan; the apply
refuses a backup that changed since. The apply's safety backup is taken only once every refusal
check has passed: plan, key, helpers, bytes, fingerprint, and that every row belongs to the
tenant."""

from __future__ import annotations

import asyncio
import time
from contextlib import nullcontext
from datetime import datetime, timezone

from ..core import history as h
from ..core import manifest as mf
from ..core.errors import Cancelled, ConfigError, ConnectionFailed, IntegrityError, PlanError, TenantBackupError
from ..core.events import FILES_UNIT, Event, EventSink, ignore
from ..core.manifest import BackupInfo
from ..core.partial import replace_refusal
from ..core.files import FILES_MODES
from ..core.report import files_words
from ..core.results import DryRunReport, RestoreResult
from ..core.text import count
from ..core.plan import MODES, Plan, RestoreOptions, TablePlan, expiry, new_plan_id, why_plan_unusable
from ..platform import plans
from ..stores.backups import find_backup, iter_part_blocks, prefetch, read_summary
from .backup import BackupJob
from .contention import retry_busy
from .context import Context
from .job import Job
from .leftovers import apply_marker
from .restore_files import plan_files

CHANGED = "the backup changed since the dry run ({}); run the dry run again"
PLAN_COUNTS = ("current_rows", "to_insert", "to_update", "to_delete", "unchanged", "restored", "key", "key_kind")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _RestoreBase(Job):
    def __init__(self, ctx: Context, org_id: str, backup_ref: str, options: RestoreOptions,
                 on_event: EventSink = ignore, trust_unsigned: bool = False):
        super().__init__(on_event)
        self.trust_unsigned = trust_unsigned  # the owner's word: a backup this installation did not sign
        self._origin_warning: str | None = None
        self.ctx = ctx
        self.org_id = (org_id or "").strip().lower()
        self.backup_ref = backup_ref
        self.options = options
        self._session = None

    def prepare(self) -> list[str]:
        problems = []
        if not mf.is_uuid(self.org_id):
            problems.append(f"'{self.org_id}' is not an organization id (a UUID); list them with: tenant-backup tenants")
        if self.options.mode not in MODES:
            problems.append(f"unknown mode '{self.options.mode}' (use {' or '.join(MODES)})")
        if self.options.files not in FILES_MODES:
            problems.append(f"unknown files option '{self.options.files}' (use {', '.join(FILES_MODES)})")
        if (missing := self.ctx.settings.database_problem()) is not None:
            problems.append(missing)
        return problems

    def cancel(self) -> None:
        super().cancel()
        if self._session is not None:
            self._session.cancel()

    def _read(self, info: BackupInfo, pins: dict[str, str], expected: dict[str, str] | None) -> BackupInfo:
        """The summary, read now and pinned (the apply: compared with the dry run's pin first)."""
        trust = self.ctx.trust(self.trust_unsigned)
        fresh, digest = read_summary(self.ctx.store, info, trust)  # the signature first: refused before any part
        self._origin_warning = trust.warning(fresh.origin, info.id)
        if expected is not None and expected.get(info.summary_key) != digest:
            raise TenantBackupError(CHANGED.format(f"its summary {info.summary_key} differs"))
        if fresh.organization_id.strip().lower() != self.org_id:
            raise IntegrityError(f"backup {info.id} names organization {fresh.organization_id} in its summary, "
                                 f"not {self.org_id}; nothing was changed")
        pins[info.summary_key] = digest
        return fresh

    def _blocks(self, parts, secret, pins: dict[str, str], expected: dict[str, str] | None):
        """Every part's blocks, checked against the summary as they stream and, for an apply,
        against the dry run's pins once each part is read (before the engine sees any row)."""
        for part in parts:
            yield from iter_part_blocks(self.ctx.store, part, secret, pins)
            if expected is not None and expected.get(part.key) != pins.get(part.key):
                raise TenantBackupError(CHANGED.format(f"part {part.key} differs"))

    def _stage(self, session, info: BackupInfo, pins: dict, expected: dict | None = None
               ) -> tuple[list[str], dict, list, list]:
        """Stream the backup's tables to the engine and decide, per column, what can be written
        back. Returns (tables, their plans, warnings, problems)."""
        session.review = not info.signed  # the dry run lists what the structural proofs cannot judge
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
            blocks = prefetch(self._blocks(entry.parts, secret, pins, expected))
            try:
                st = session.stage(name, blocks, lambda n, name=name, i=i: self.emit(
                    Event("progress", "", self.org_id, name, n, 0, i, len(names))))
            except IntegrityError as err:
                raise IntegrityError(f"the backup is damaged: {err}") from None
            tp = TablePlan(name, entry.record_count)
            if st.rows != entry.record_count:
                tp.problems.append(f"{name}: the backup holds {st.rows} rows, its summary says {entry.record_count}")
            table = st.scope.table
            current = {c.name: c for c in table.columns}
            backup_cols = [c["name"] for c in entry.columns] if entry.columns else list(session.staged_info(st)["keys"])
            backup_types = {c["name"]: c["type"] for c in entry.columns}
            dropped = [c for c in backup_cols if c not in current]
            changed = {c: current[c].type for c in backup_cols
                       if c in current and backup_types.get(c) and backup_types[c] != current[c].type}
            facts = session.staged_info(st, dropped, changed) if dropped or changed else {}
            skipped: set[str] = set()
            for col in dropped:
                n = int(facts["non_null"].get(col) or 0)
                msg = f"column {name}.{col} no longer exists: {n} row(s) hold a value for it"
                if self.options.allow_dropped_columns:
                    warnings.append(msg + " (skipped, as allowed)")
                else:
                    tp.problems.append(msg + "; pass --allow-dropped-columns to restore without it")
            for col, type_ in changed.items():
                change = f"column {name}.{col} changed type from {backup_types[col]} to {type_}"
                n = facts["unconvertible"].get(col)
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
            self._check_cancel()
        for tp in plans_.values():
            problems.extend(tp.problems)
        return names, plans_, warnings, problems

    def _report(self, names: list[str], plans_: dict, report: dict, warnings: list, problems: list) -> int:
        """The engine's report into the table plans; returns the rows restored."""
        for name in names:
            got = report["tables"].get(name, {})
            for k in PLAN_COUNTS:
                if k in got:
                    setattr(plans_[name], k, got[k])
        warnings += report.get("warnings", [])
        problems += report.get("problems", [])
        return int(report.get("total_records_restored") or 0)

    def _files_step(self, info: BackupInfo, warnings: list | None = None):
        """The files section (restore_files.plan_files) under this restore's options; its
        warnings join the restore's."""
        try:
            step = plan_files(self.ctx, self.org_id, info, self.options.mode, self.options.files,
                              self.ctx.key_for(info), self.cancelled.is_set)
        except IntegrityError as err:
            raise IntegrityError(f"the backup is damaged: {err}") from None
        if step is not None and warnings is not None:
            warnings += step.warnings
        return step

    def _check_copies(self, step, tail: str = "") -> None:
        """Every copy the files step would upload, re-read against its hash before anything changes."""
        if step is not None and step.upload:
            self.emit(Event("message", "checking the files' copies", self.org_id))
            try:
                step.files.check_copies(step.upload)
            except IntegrityError as err:
                raise IntegrityError(f"the backup is damaged: {err}{tail}") from None

    def _check_cancel(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled("restore cancelled; nothing was changed")

    def _outcome(self, cls, info: BackupInfo, name: str | None, tables: dict, warnings: list, problems: list,
                 restored: int, plan_id: str | None, message: str, success: bool, step=None, **more):
        warnings = ([self._origin_warning] if self._origin_warning else []) + warnings
        return cls(success, message, plan_id, self.org_id, name, info.id, info.date, restored, tables, warnings,
                   problems, step.section if step is not None and step.section else None, signed=info.signed, **more)


class RestoreDryRunJob(_RestoreBase):
    """Changes nothing, ever: the restore is performed inside a transaction that rolls back."""

    async def run(self) -> DryRunReport:
        self.check_prepared()
        self.bind_loop()
        info = await asyncio.to_thread(find_backup, self.ctx.store, self.org_id, self.backup_ref)
        if why := replace_refusal(info.partial, self.options.mode, self.options.accept_partial):
            raise ConfigError(why)
        history = self.ctx.history()
        log_id = await asyncio.to_thread(history.start, h.DRY_RUN, self.org_id,
                                         {"options": self.options.key()}, info.id)
        try:
            result = await asyncio.to_thread(retry_busy, self._run, info, cancelled=self.cancelled)
        except BaseException as err:
            await asyncio.to_thread(history.finish, log_id, h.ended_by(err), errors=[_error_text(err)],
                                    backup_id=info.id)
            raise
        await asyncio.to_thread(
            history.finish, log_id, h.COMPLETED if result.success else h.COMPLETED_WITH_ERRORS,
            records=result.restored, tables=len(result.tables),
            errors=result.problems, metadata={"plan_id": result.plan_id, "options": self.options.key()},
            backup_id=info.id)
        result.warnings += history.warnings
        result.partial, result.partial_reasons = info.partial, info.partial_reasons
        self.emit(Event("finished", result.message, self.org_id))
        return result

    def _run(self, info: BackupInfo) -> DryRunReport:
        pins: dict[str, str] = {}
        names, plans_, warnings, problems, report, restored = [], {}, [], [], {}, 0
        if self.options.files == "only":
            info = self._read(info, pins, None)
            name = info.organization_name
        else:
            with self.ctx.restore_session(self.org_id, self.cancelled, snapshot=True) as session:
                self._session = session
                try:
                    info = self._read(info, pins, None)
                    name = session.tenant_name() or info.organization_name
                    names, plans_, warnings, problems = self._stage(session, info, pins)
                    self.emit(Event("message", "rehearsing the restore", self.org_id))
                    report = session.dry_run(names, self.options.mode)
                    restored = self._report(names, plans_, report, warnings, problems)
                    self.emit(Event("message", "rolling back the rehearsal", self.org_id))
                    session.tidy({n: plans_[n].restored for n in names})
                finally:
                    self._session = None
        step = self._files_step(info, warnings)
        self._check_copies(step)  # what the dry run passes, the apply can do: the same check as its
        tables = {n: plans_[n] for n in names}
        now = _now()
        plan = Plan(new_plan_id(), self.org_id, name, info.id, info.date, self.options.key(), report.get("fingerprint"),
                    now.isoformat(timespec="seconds"), expiry(now, self.ctx.config.plan_ttl_minutes),
                    {n: t.to_json() for n, t in tables.items()}, warnings, problems, pins,
                    step.section if step else {})
        plans.save(plan)
        ok = not problems
        verb = "would restore" if ok else "cannot restore"
        message = (f"Dry run completed. {verb.capitalize()} {count(restored, 'record')} in {count(len(tables), 'table')} of "
                   f"{name or self.org_id} from backup {info.id}" + _files_words(step, "would upload", "would delete")
                   + ("" if ok else f": {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")))
        return self._outcome(DryRunReport, info, name, tables, warnings, problems, restored,
                             plan.plan_id if ok else None, message, ok, step)


def _files_words(step, upload: str, delete: str) -> str:
    return files_words(step.section if step is not None else None, upload, delete)


def _error_text(err: BaseException) -> str:
    """What a history row says of the error that stopped its run."""
    return str(err) if isinstance(err, TenantBackupError) else f"internal error: {err!r}"


class RestoreApplyJob(_RestoreBase):
    """Every refusal check, then the safety backup, then one transaction, bound to the dry run's plan."""

    def __init__(self, ctx: Context, org_id: str, backup_ref: str, plan_id: str, on_event: EventSink = ignore,
                 options: RestoreOptions | None = None, trust_unsigned: bool = False):
        self.plan = plans.load(plan_id)
        opts = options or (RestoreOptions(self.plan.options["mode"], tuple(self.plan.options["tables"]),
                                          self.plan.options["allow_dropped_columns"],
                                          files=self.plan.options.get("files", "with"))
                           if self.plan else RestoreOptions())
        super().__init__(ctx, org_id, backup_ref, opts, on_event, trust_unsigned)
        self.plan_id = plan_id
        self.safety_backup_id: str | None = None
        self.started_at: datetime | None = None
        # What a failed apply may have changed, in words, as it happens: empty means nothing was.
        self.changed: list[str] = []

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

    async def run(self) -> RestoreResult:
        """A successful apply's history row is the engine's, written in the restore's own
        transaction: it is there exactly when the restore is. A failed one's is written here, after
        the failure. Both carry the job's start (metadata.started_at), from which a row's duration
        counts (core/history.started): staging, checks and the safety backup included."""
        self.check_prepared()
        self.bind_loop()
        info = await asyncio.to_thread(find_backup, self.ctx.store, self.org_id, self.plan.backup_id)
        if why := replace_refusal(info.partial, self.options.mode, self.options.accept_partial):
            raise ConfigError(why)
        history = self.ctx.history()
        started = time.monotonic()
        self.started_at = _now()
        try:
            result = await asyncio.to_thread(retry_busy, self._run, info, cancelled=self.cancelled)
        except BaseException as err:  # an internal error too leaves its restore row in the history
            log_id = await asyncio.to_thread(history.start, h.RESTORE, self.org_id, {
                "plan_id": self.plan_id, "safety_backup_id": self.safety_backup_id,
                "started_at": self.started_at.isoformat(), "changed": self.changed}, info.id)
            await asyncio.to_thread(history.finish, log_id, h.ended_by(err), errors=[_error_text(err)],
                                    backup_id=info.id)
            if isinstance(err, TenantBackupError) and not isinstance(err, Cancelled):
                said = [f"safety backup {self.safety_backup_id} was taken"] if self.safety_backup_id else []
                said += [c for c in self.changed if c not in str(err)]
                if said:
                    raise type(err)(f"{err} ({'; '.join(said)})") from None
            raise
        plans.discard(self.plan_id)
        result.seconds = round(time.monotonic() - started, 3)
        self.emit(Event("finished", result.message, self.org_id))
        return result

    def _run(self, info: BackupInfo) -> RestoreResult:
        """Every refusal check first — bytes, key, helpers, fingerprint, every row the tenant's —
        then the safety backup, then the restore, in one transaction."""
        if not self.plan.files:
            raise TenantBackupError(f"plan {self.plan_id} pins no backup bytes (an older version made it); "
                                    f"run the dry run again")
        only = self.options.files == "only"
        with self.ctx.tenant_lock(self.org_id) as lock, apply_marker(self.ctx, self.org_id, self.plan_id, info.id):
            rows = nullcontext() if only else self.ctx.restore_session(self.org_id, self.cancelled, snapshot=False)
            with rows as session:  # files only: no rows' session at all
                self._session = session
                try:
                    pins: dict[str, str] = {}
                    info = self._read(info, pins, self.plan.files)
                    names, plans_, warnings, problems, restored = [], {}, [], [], 0
                    name = info.organization_name or self.plan.organization_name
                    if not only:
                        name = session.tenant_name() or name
                        names, plans_, warnings, problems = self._stage(session, info, pins, self.plan.files)
                        if problems:
                            raise TenantBackupError(f"the restore was refused and nothing was changed: {problems[0]}")
                        self.emit(Event("message", "checking the restore", self.org_id))
                        session.check(names, self.options.mode, self.plan.fingerprint)
                    step = self._files_step(info, warnings)
                    # The rows are pinned by their fingerprint; the files by what the dry run showed. A
                    # retry after its uploads (a safety backup exists) finds them done: that is no change.
                    if self.safety_backup_id is None and (step.section if step else {}) != (self.plan.files_section or {}):
                        raise TenantBackupError(f"the organization's files in Storage changed since the dry run; nothing "
                                                f"was changed; run the dry run again to see what the restore would do now")
                    self._check_copies(step, "; nothing was changed")
                    self._check_cancel()
                    # A retry after the app got in the way (services/contention.py) passed the same
                    # fingerprint check: the data is the one the first safety backup holds, so it serves.
                    if self.safety_backup_id is None:
                        self.emit(Event("message", "taking a safety backup of the current state", self.org_id))
                        safety = BackupJob(self.ctx, self.org_id, "safety", on_event=self.on_event,
                                           allow_missing_tenant=True, hold_lock=False)
                        safety.cancelled = self.cancelled
                        safety.bind_like(self)
                        self.safety_backup_id = safety.run_blocking().id  # on a worker thread, under our lock
                    self._check_cancel()
                    if getattr(lock, "lost", False):  # the lease expired and another job took the tenant
                        raise TenantBackupError(f"the lock on organization {self.org_id} was lost before the restore; "
                                                f"nothing was changed; run the dry run again")
                    if step is not None and step.upload:  # before the rows: extra files harm nothing if they fail
                        self.emit(Event("message", f"uploading {count(len(step.upload), 'file')}", self.org_id))
                        self.changed.append(f"files may have been uploaded to Storage (of {len(step.upload)} to "
                                            f"upload); the rows were not changed")
                        step.files.upload(step.upload, lambda n, b: self.emit(
                            Event("progress", "", self.org_id, "files", n, b, n, len(step.upload), FILES_UNIT)))
                        self.changed[-1] = (f"{count(len(step.upload), 'file')} were uploaded to Storage before "
                                            f"the rows were restored")
                    if not only:
                        self.emit(Event("message", "restoring", self.org_id))
                        try:
                            report = session.apply(names, self.options.mode, known=self.plan.tables,
                                                   fingerprint=self.plan.fingerprint, backup_id=info.id,
                                                   metadata={"plan_id": self.plan_id,
                                                             "safety_backup_id": self.safety_backup_id,
                                                             "options": self.options.key(),
                                                             "started_at": self.started_at.isoformat()})
                        except ConnectionFailed:
                            if not self.ctx.direct:  # the server got the call; its answer was lost
                                self.changed.append("the restore may still finish on the server: check the "
                                                    "history (tenant-backup history) before running it again")
                            raise
                        restored = self._report(names, plans_, report, warnings, problems)
                        if problems:
                            raise TenantBackupError(f"the restore was refused and nothing was changed: {problems[0]}")
                        session.commit()
                    if step is not None and step.delete:  # only once the rows are committed
                        self.emit(Event("message", f"deleting {count(len(step.delete), 'file')}", self.org_id))
                        try:
                            step.files.delete(step.delete)
                        except TenantBackupError as err:  # the restore happened: say what is left over
                            warnings.append(f"the restore is done, but {count(len(step.delete), 'extra file')} of the "
                                            f"organization could not be deleted ({err}); run the same restore again "
                                            f"after a dry run to delete them")
                finally:
                    self._session = None
        tables = {n: plans_[n] for n in names}
        message = (f"Restored {count(restored, 'record')} in {count(len(tables), 'table')} of {name or self.org_id} "
                   f"from backup {info.id}" + _files_words(step, "uploaded", "deleted")
                   + f"; safety backup {self.safety_backup_id} holds the state before")
        return self._outcome(RestoreResult, info, name, tables, warnings, [], restored, self.plan_id, message, True,
                             step, safety_backup_id=self.safety_backup_id)
