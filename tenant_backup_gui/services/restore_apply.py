"""The apply of a restore: every refusal check, then the safety backup, then one transaction,
bound to the plan a dry run (services/restore.py) saved. Its own module for size; importers
name it through services/restore.py."""

from __future__ import annotations

import asyncio
import time
from contextlib import nullcontext
from datetime import datetime

from ..core import history as h
from ..core.errors import Cancelled, ConfigError, ConnectionFailed, PlanError, TenantBackupError
from ..core.events import FILES_UNIT, Event, EventSink, ignore
from ..core.manifest import BackupInfo
from ..core.partial import replace_refusal
from ..core.report import change_words
from ..core.results import RestoreResult
from ..core.text import count
from ..core.plan import RestoreOptions, TablePlan, why_plan_unusable
from ..platform import plans
from ..stores.backups import find_backup
from .backup import BackupJob
from .contention import retry_busy
from .context import Context
from .leftovers import apply_marker
from .restore_base import _RestoreBase, _error_text, _files_words, _now, is_undo


class RestoreApplyJob(_RestoreBase):
    """Every refusal check, then the safety backup, then one transaction, bound to the dry run's plan."""

    def __init__(self, ctx: Context, org_id: str, backup_ref: str, plan_id: str, on_event: EventSink = ignore,
                 options: RestoreOptions | None = None, trust_unsigned: bool = False):
        self.plan = plans.load(plan_id)
        opts = options or (RestoreOptions.from_key(self.plan.options) if self.plan else RestoreOptions())
        super().__init__(ctx, org_id, backup_ref, opts, on_event, trust_unsigned)
        self.plan_id = plan_id
        self.safety_backup_id: str | None = None
        self.started_at: datetime | None = None
        # What a failed apply may have changed, in words, as it happens: empty means nothing was.
        self.changed: list[str] = []

    def what(self, info: BackupInfo) -> dict:
        """What the history row of this restore says it is: its mode, the chosen keys, whether it
        undoes a restore (it restores the safety backup a restore took), and what it changes (the
        dry run's counts, which the fingerprint proves still hold) — not the tenant's size."""
        tables = [TablePlan(n, 0, **{k: t.get(k, 0) for k in ("to_insert", "to_update", "to_delete", "left_different",
                                                              "relinked")})
                  for n, t in self.plan.tables.items()]
        return {"mode": self.options.mode, "chosen_keys": self.options.chosen_count, "undo": is_undo(info),
                "records_changed": sum(t.to_insert + t.to_update + t.to_delete + t.relinked for t in tables),
                "tables_changed": sum(1 for t in tables if t.to_insert or t.to_update or t.to_delete or t.relinked),
                "left_different": sum(t.left_different for t in tables),
                "relinked": sum(t.relinked for t in tables)}

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
                "started_at": self.started_at.isoformat(), "changed": self.changed, **self.what(info)}, info.id)
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
                                                             "started_at": self.started_at.isoformat(),
                                                             **self.what(info)})
                        except ConnectionFailed:
                            if not self.ctx.direct:  # the server got the call; its answer was lost
                                self.changed.append("the restore may still finish on the server: check the "
                                                    "history (tenant-backup history) before running it again")
                            raise
                        restored = self._report(names, plans_, report, warnings, problems)
                        for n in names:  # what it left as it is: the dry run's count (the data is the one it saw)
                            plans_[n].left_different = int(self.plan.tables.get(n, {}).get("left_different") or 0)
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
        message = (f"{'Undid the restore' if is_undo(info) else 'Restored'}: "
                   f"{change_words(list(tables.values()), done=True)} of {name or self.org_id} "
                   f"from backup {info.id}" + _files_words(step, "uploaded", "deleted")
                   + f"; safety backup {self.safety_backup_id} holds the state before")
        return self._outcome(RestoreResult, info, name, tables, warnings, [], restored, self.plan_id, message, True,
                             step, safety_backup_id=self.safety_backup_id, undo=is_undo(info))
