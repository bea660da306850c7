"""Restore one tenant: a dry run that must come first, then one atomic apply of exactly that plan.

Both run THE restore engine (SQL installed by `setup`, reached through a road's session: see
sources/restore_engine.py) over the backup's lines, re-read and re-hashed as they stream. The dry
run pins the bytes it read (SHA-256 of the summary and of every part) in its plan; the apply
refuses a backup that changed since. The apply's safety backup is taken only once every refusal
check has passed: plan, key, helpers, bytes, fingerprint, and that every row belongs to the
tenant.

This module holds the dry run; the apply is services/restore_apply.py and what both share
(reading, pinning and staging a backup) services/restore_base.py."""

from __future__ import annotations

import asyncio

from ..core import history as h
from ..core.errors import ConfigError
from ..core.events import Event
from ..core.manifest import BackupInfo
from ..core.partial import replace_refusal
from ..core.report import change_words
from ..core.results import DryRunReport
from ..core.plan import Plan, expiry, new_plan_id
from ..platform import plans
from ..stores.backups import find_backup
from .contention import retry_busy
from .restore_apply import RestoreApplyJob  # noqa: F401 - re-exported: callers import both jobs from here
from .restore_base import _RestoreBase, _error_text, _files_words, _now, is_undo


class RestoreDryRunJob(_RestoreBase):
    """Changes nothing, ever: the restore is performed inside a transaction that rolls back.
    show_rows: also list every row it would change (services/restore_rows.py), in the result's `rows`."""

    def __init__(self, *args, show_rows: bool = False, **kw):
        super().__init__(*args, **kw)
        self.show_rows = show_rows

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
            records=sum(result.changes) + result.relinked, tables=len(result.changed_tables),
            errors=result.problems, metadata={"plan_id": result.plan_id, "options": self.options.key(),
                                              "mode": self.options.mode, "chosen_keys": self.options.chosen_count,
                                              "undo": is_undo(info), "left_different": result.left_different,
                                              "relinked": result.relinked},
            backup_id=info.id)
        result.warnings += history.warnings
        result.partial, result.partial_reasons = info.partial, info.partial_reasons
        self.emit(Event("finished", result.message, self.org_id))
        return result

    def _run(self, info: BackupInfo) -> DryRunReport:
        pins: dict[str, str] = {}
        names, plans_, warnings, problems, report, restored, spool = [], {}, [], [], {}, 0, None
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
                    report = session.dry_run(names, self.options.mode, list_rows=self.show_rows)
                    restored = self._report(names, plans_, report, warnings, problems)
                    if self.show_rows:
                        self.emit(Event("message", "reading the rows it changes", self.org_id))
                        from .restore_rows import RowSpool
                        spool = RowSpool.read(session, names)
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
        said = f"Would {change_words(list(tables.values()), done=False)}" if ok else "Cannot restore"
        message = (f"Dry run completed. {said} of {name or self.org_id} from backup {info.id}"
                   + _files_words(step, "would upload", "would delete")
                   + ("" if ok else f": {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")))
        return self._outcome(DryRunReport, info, name, tables, warnings, problems, restored,
                             plan.plan_id if ok else None, message, ok, step, rows=spool)
