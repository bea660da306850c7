"""What the dry run and the apply of a restore share: reading and pinning a backup, staging it
in the engine, deciding per column what can be written back, and the files step.

Its own module so services/restore.py (the dry run) and services/restore_apply.py (the apply)
each stay one concern; import the jobs from services/restore.py."""

from __future__ import annotations

from datetime import datetime, timezone

from ..core import manifest as mf
from ..core.errors import Cancelled, ConfigError, IntegrityError, TenantBackupError
from ..core.events import Event, EventSink, ignore
from ..core.manifest import BackupInfo
from ..core.files import FILES_MODES
from ..core.report import files_words
from ..core.plan import MODES, RestoreOptions, TablePlan
from ..stores.backups import iter_part_blocks, prefetch, read_summary
from .context import Context
from .job import Job
from .restore_files import plan_files

CHANGED = "the backup changed since the dry run ({}); run the dry run again"
PLAN_COUNTS = ("current_rows", "to_insert", "to_update", "to_delete", "unchanged", "left_different", "restored",
               "key", "key_kind", "relinked")


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
        session.choice = self.options.choice()
        warnings: list[str] = list(info.warnings) if info.legacy else []
        problems: list[str] = []
        if info.legacy:
            warnings.insert(0, "unverifiable: no checksums (a backup of the old system); row counts checked only")
        chosen = self.options.mode == "rows"
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
        if not self.options.tables and not chosen:
            for s in session.scope.tables:
                if s.table.key_name not in info.tables:
                    warnings.append(f"table {s.table.key_name} is not in the backup (new since?): left as it is")
        plans_: dict[str, TablePlan] = {}
        secret = self.ctx.key_for(info)  # refuses, naming the key, before anything is read
        kept, totals = None, {}
        if chosen:  # only the lines that could be chosen rows, dependents, parents or links back
            kept, totals = self._pick_lines(session, info, names, secret, pins, expected)
            names = list(kept)
        for i, name in enumerate(names, 1):
            entry = info.tables[name]
            if kept is None:
                self.emit(Event("table", f"reading {name} from the backup", self.org_id, name, step=i, steps=len(names)))
                blocks = prefetch(self._blocks(entry.parts, secret, pins, expected))
            else:
                blocks = [(b"".join(line + b"\n" for line in kept[name]), len(kept[name]))] if kept[name] else []
            try:
                st = session.stage(name, blocks, lambda n, name=name, i=i: self.emit(
                    Event("progress", "", self.org_id, name, n, 0, i, len(names))))
            except IntegrityError as err:
                raise IntegrityError(f"the backup is damaged: {err}") from None
            tp = TablePlan(name, entry.record_count)
            read = totals.get(name, st.rows)
            if read != entry.record_count:
                tp.problems.append(f"{name}: the backup holds {read} rows, its summary says {entry.record_count}")
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

    def _pick_lines(self, session, info: BackupInfo, names: list[str], secret, pins: dict, expected: dict | None
                    ) -> tuple[dict[str, list[bytes]], dict[str, int]]:
        """Chosen rows: the lines of the tables the foreign keys connect to the chosen ones that
        could be chosen, dependent, a missing parent or a link to put back (services/restore_choice.py);
        every part those tables hold is still read whole and checked against its hash."""
        from .restore_choice import LinePicker
        steps = {"n": 0}

        def on_table(name: str) -> None:
            steps["n"] += 1
            self.emit(Event("table", f"looking for the chosen rows in {name}", self.org_id, name))
            self._check_cancel()

        def read(name: str):
            try:
                yield from prefetch(self._blocks(info.tables[name].parts, secret, pins, expected))
            except IntegrityError as err:
                raise IntegrityError(f"the backup is damaged: {err}") from None

        picker = LinePicker(session.scope, self.options.chosen(), self.options.with_dependents, read, names, on_table,
                            relink=self.options.relink)
        kept = picker.pick()
        return kept, picker.totals()

    def _report(self, names: list[str], plans_: dict, report: dict, warnings: list, problems: list) -> int:
        """The engine's report into the table plans; returns the rows restored."""
        for name in names:
            got = report["tables"].get(name, {})
            for k in PLAN_COUNTS:
                if k in got:
                    setattr(plans_[name], k, got[k])
            if self.options.mode == "rows":  # the rows this restore reads of the backup: the chosen ones
                plans_[name].record_count = int(got.get("record_count") or 0) if not getattr(self, "plan", None) \
                    else int(self.plan.tables.get(name, {}).get("record_count") or 0)
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
                   problems, step.section if step is not None and step.section else None, signed=info.signed,
                   backup_type=info.type, backup_created_at=info.created_at, **more)



def is_undo(info: BackupInfo) -> bool:
    """Restoring a safety backup undoes the restore that took it."""
    return info.type == "safety"


def _files_words(step, upload: str, delete: str) -> str:
    return files_words(step.section if step is not None else None, upload, delete)


def _error_text(err: BaseException) -> str:
    """What a history row says of the error that stopped its run."""
    return str(err) if isinstance(err, TenantBackupError) else f"internal error: {err!r}"
