"""What changed between a backup and another one, or the tenant's rows now: rows added, removed and
changed (with the columns, old → new) per table, and the files added, removed and changed.

Rows now are read as a backup reads them (the source's snapshot and export: the one definition of
a tenant's rows in rows.sql, on either road), read-only, nothing written anywhere. Per table, the
older side's lines are hashed (and spilled to a temporary file); the newer side's lines whose exact
text the older side holds are unchanged and cost nothing more. Only the rest is keyed, put in key
order on disk (sorted runs) and merged, so memory holds a hash per row, never a table."""

from __future__ import annotations

import asyncio
import csv
from dataclasses import dataclass, field

from ..core import files as cf
from ..core import manifest as mf
from ..core import rowview as rv
from ..core.errors import Cancelled, ConfigError, TenantBackupError
from ..core.events import Event, EventSink, ignore
from .browse import BackupReader, Record
from .context import Context
from .job import Job
from .sorted_runs import SortedRuns

KEEP = 1000  # row changes kept per table for display; a CSV file gets them all


@dataclass
class RowChange:
    kind: str  # "added" | "removed" | "changed"
    key: str
    label: str
    changes: list[rv.Change] = field(default_factory=list)
    old: dict | None = None
    new: dict | None = None

    def to_json(self) -> dict:
        return {"kind": self.kind, "key": self.key, "label": self.label,
                "changes": [{"column": c.column, "old": c.old, "new": c.new} for c in self.changes],
                **({"old": self.old} if self.old is not None and self.kind == "removed" else {}),
                **({"new": self.new} if self.new is not None and self.kind == "added" else {})}


@dataclass
class TableDiff:
    name: str
    key: list[str]
    added: int = 0
    removed: int = 0
    changed: int = 0
    unchanged: int = 0
    rows: list[RowChange] = field(default_factory=list)  # the first KEEP, in key order

    @property
    def differs(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_json(self) -> dict:
        return {"name": self.name, "key": self.key, "added": self.added, "removed": self.removed,
                "changed": self.changed, "unchanged": self.unchanged, "rows": [r.to_json() for r in self.rows],
                "more_rows": max(0, self.added + self.removed + self.changed - len(self.rows))}


@dataclass
class FileChange:
    kind: str
    bucket: str
    path: str
    old_sha256: str | None
    new_sha256: str | None

    def to_json(self) -> dict:
        return {"kind": self.kind, "bucket": self.bucket, "path": self.path, "old_sha256": self.old_sha256,
                "new_sha256": self.new_sha256}


@dataclass
class DiffResult:
    old: str
    new: str  # a backup id, or "now"
    tables: list[TableDiff]
    files: list[FileChange] | None  # None: neither side holds files (or no [[files]] rules to read them now)
    csv_path: str | None = None
    warnings: list[str] = field(default_factory=list)  # UNSIGNED, for a side this installation did not sign

    def to_json(self) -> dict:
        return {"old": self.old, "new": self.new, "tables": [t.to_json() for t in self.tables],
                "files": None if self.files is None else [f.to_json() for f in self.files],
                "warnings": self.warnings, **({"csv": self.csv_path} if self.csv_path else {})}


class TableDiffer:
    """One table: feed the older side's blocks, then the newer side's, then finish()."""

    def __init__(self, view: rv.TableView, keep: int = KEEP, sink=None, reread=lambda: ()):
        """reread(): the older side's blocks again, read only when some of its rows are not in
        the newer side (a table that only grew, or did not change, is read once)."""
        self.view, self.keep, self.sink, self.reread = view, keep, sink, reread
        self.result = TableDiff(view.name, list(view.key))
        self._hashes: set[int] = set()
        self._old_rows = 0
        self._new = SortedRuns()

    def old(self, block: bytes) -> None:
        ls = block[:-1].split(b"\n")
        self._old_rows += len(ls)
        self._hashes.update(map(hash, ls))

    def new(self, block: bytes) -> None:
        """A line whose exact text the older side holds is unchanged: its hash leaves the set, so
        what remains at the end is the older side's rows the newer one lacks (one hash per row is
        all that is held; a keyless table's identical rows count once)."""
        ls = block[:-1].split(b"\n")
        hs = list(map(hash, ls))
        common = self._hashes.intersection(hs)
        self._hashes.difference_update(common)
        if len(common) < len(hs):
            for line, h in zip(ls, hs):
                if h not in common:
                    self._new.add(self.view.sort_key_of(line), line)

    def both(self, old_blocks, new_blocks) -> None:
        """Two backups' blocks of one table, read in step: blocks are cut from the same gzip
        stream the same way, so while the rows are the same so are the blocks, and equal blocks
        are counted unchanged without a line being looked at (a table that only grew costs its
        tail). From the first difference on, every older block, then every newer one."""
        old_blocks, new_blocks = iter(old_blocks), iter(new_blocks)
        for a in old_blocks:
            b = next(new_blocks, None)
            if b is not None and a == b:
                self.result.unchanged += a.count(b"\n")
                continue
            self.old(a)
            for rest in old_blocks:
                self.old(rest)
            if b is not None:
                self.new(b)
            break
        for b in new_blocks:
            self.new(b)

    def finish(self) -> TableDiff:
        only_old, self._hashes = self._hashes, set()
        old = SortedRuns()
        try:
            if only_old:
                for block in self.reread():
                    for line in block[:-1].split(b"\n"):
                        if hash(line) in only_old:
                            old.add(self.view.sort_key_of(line), line)
            self.result.unchanged += self._old_rows - old.count
            self._merge(iter(old), iter(self._new))
        finally:
            old.close()
            self._new.close()
        return self.result

    def _merge(self, old, new) -> None:
        a, b = next(old, None), next(new, None)
        while a is not None or b is not None:
            if b is None or (a is not None and a[0] < b[0]):
                self._record("removed", old_line=a[1])
                a = next(old, None)
            elif a is None or b[0] < a[0]:
                self._record("added", new_line=b[1])
                b = next(new, None)
            else:
                self._record("changed", a[1], b[1])
                a, b = next(old, None), next(new, None)

    def _record(self, kind: str, old_line: bytes | None = None, new_line: bytes | None = None) -> None:
        o = Record.of(self.view, old_line) if old_line is not None else None
        n = Record.of(self.view, new_line) if new_line is not None else None
        changes = rv.compare(o.values, n.values) if o and n else []
        if o and n and not changes:
            self.result.unchanged += 1  # the same values in other text (an old-system backup's spacing)
            return
        setattr(self.result, kind, getattr(self.result, kind) + 1)
        either = n or o
        rc = RowChange(kind, either.key_text, either.label, changes, o.values if o else None, n.values if n else None)
        if len(self.result.rows) < self.keep:
            self.result.rows.append(rc)
        if self.sink is not None:
            self.sink(self.view.name, rc)


class DiffJob(Job):
    """`diff`: backup → another backup, or backup → the tenant's rows now."""

    def __init__(self, ctx: Context, org_id: str, backup: str, against: str = "now", table: str | None = None,
                 csv_path: str | None = None, on_event: EventSink = ignore, keep: int = KEEP):
        super().__init__(on_event)
        self.ctx, self.org_id, self.backup, self.against = ctx, (org_id or "").strip().lower(), backup, against
        self.table, self.csv_path, self.keep = table, csv_path, keep
        self._snapshot = None

    def prepare(self) -> list[str]:
        problems = []
        if not mf.is_uuid(self.org_id):
            problems.append(f"'{self.org_id}' is not an organization id (a UUID); list them with: tenant-backup tenants")
        if self.against == "now" and (missing := self.ctx.settings.database_problem()) is not None:
            problems.append(missing)
        return problems + self.ctx.store.problems()

    def cancel(self) -> None:
        super().cancel()
        if self._snapshot is not None:
            self._snapshot.cancel()

    async def run(self) -> DiffResult:
        self.check_prepared()
        self.bind_loop()
        return await asyncio.to_thread(self.run_blocking)

    def run_blocking(self) -> DiffResult:
        old = BackupReader(self, self.ctx, self.org_id, self.backup)  # refused here, before anything is read
        new = None if self.against == "now" else BackupReader(self, self.ctx, self.org_id, self.against)
        if self.table:
            for r in [old] + ([new] if new else []):
                r.entry(self.table)
        writer = _CsvChanges(self.csv_path) if self.csv_path else None
        try:
            if new is None:
                tables = self._against_now(old, writer)
                files = self._files_now(old)
            else:
                tables = self._against_backup(old, new, writer)
                files = diff_files(old.info, new.info)
        finally:
            if writer:
                writer.close()
        result = DiffResult(old.info.id, "now" if new is None else new.info.id, tables, files, self.csv_path,
                            [r.origin_warning for r in (old, new) if r is not None and r.origin_warning])
        self.emit(Event("finished", f"{sum(t.differs for t in tables)} of {len(tables)} tables differ", self.org_id))
        return result

    def _files_now(self, old: BackupReader) -> list[FileChange] | None:
        """The backup's objects against the tenant's in Storage now, judged as a restore's dry run
        judges them (size, ETag, type, cache control: a listing shows them; nothing is downloaded,
        so a changed object's hash now is not known). None: no [[files]] rules to read them by."""
        if old.info.files is None or not self.ctx.config.files:
            return None
        self.emit(Event("message", "listing the organization's files now", self.org_id))
        files = self.ctx.files(self.org_id, None, self.cancelled.is_set)
        now = files.list_now()
        then = {(e.bucket, e.path): e for e in old.info.files}
        out = []
        for k in sorted(set(then) | set(now)):
            e, meta = then.get(k), now.get(k)
            if e is not None and meta is None and not cf.under_rules(self.ctx.config.files, self.org_id, *k):
                meta = files.lookup(*k)  # a key a row names, outside the prefixes: looked up alone
            if meta is None:
                out.append(FileChange("removed", k[0], k[1], e.sha256, None))
            elif e is None:
                out.append(FileChange("added", k[0], k[1], None, None))
            elif not e.same_object(meta):
                out.append(FileChange("changed", k[0], k[1], e.sha256, None))
        return out

    def _names(self, *sides: list[str]) -> list[str]:
        names: list[str] = []
        for side in sides:
            names += [n for n in side if n not in names]
        return [n for n in names if not self.table or n == self.table]

    def _against_backup(self, old: BackupReader, new: BackupReader, writer) -> list[TableDiff]:
        names = self._names(old.info.order, new.info.order)
        out = []
        for i, name in enumerate(names, 1):
            self.emit(Event("table", f"comparing {name}", self.org_id, name, step=i, steps=len(names)))
            a, b = old.info.tables.get(name), new.info.tables.get(name)
            if a and b and a.parts and _same_parts(a, b):  # the same bytes, checked against the same checksums
                old.check_stored(a)
                new.check_stored(b)
                out.append(TableDiff(name, list(a.key), unchanged=a.record_count))
                continue
            differ = TableDiffer(old.view(a) if a else new.view(b), self.keep, writer,
                                 lambda a=a, i=i: old.blocks(a, i, len(names)) if a else ())
            differ.both(old.blocks(a, i, len(names), ahead=False) if a else (),
                        new.blocks(b, i, len(names), ahead=False) if b else ())
            out.append(differ.finish())
        return out

    def _against_now(self, old: BackupReader, writer) -> list[TableDiff]:
        org = self.org_id
        with self.ctx.snapshot() as snap:
            self._snapshot = snap
            try:
                if snap.tenant(org) is None:
                    raise TenantBackupError(f"organization {org} does not exist in {self.ctx.config.tenant_table} "
                                            f"now; show the backup instead (tenant-backup show)")
                scope = {s.table.key_name: s for s in self.ctx.scope(snap.catalog).tables}
                names = self._names(old.info.order, list(scope))
                snap.lock_tables([scope[n] for n in names if n in scope])
                snap.prepare_export([scope[n] for n in names if n in scope], org)
                out = []
                for i, name in enumerate(names, 1):
                    self.emit(Event("table", f"comparing {name}", org, name, step=i, steps=len(names)))
                    a, ts = old.info.tables.get(name), scope.get(name)
                    view = old.view(a) if a and (a.columns or not ts) else _now_view(ts, a)
                    differ = TableDiffer(view, self.keep, writer,
                                         lambda a=a, i=i: old.blocks(a, i, len(names)) if a else ())
                    for block in old.blocks(a, i, len(names), ahead=False) if a else ():  # the set grows meanwhile
                        differ.old(block)
                    if ts is not None:
                        try:
                            snap.export(ts, org, 1 << 20, lambda batch, n: differ.new(bytes(batch)), self.cancelled)
                        except Cancelled:
                            raise Cancelled("cancelled") from None
                    out.append(differ.finish())
                return out
            finally:
                self._snapshot = None


def _same_parts(a, b) -> bool:
    """Two backups' parts of a table hold the same rows when their checksums are equal (parts are
    written deterministically: the same rows in the same order give the same gzip bytes). Both
    backups' parts were checked against their listing when opened; an old-system file has no
    checksum and is always read."""
    return len(a.parts) == len(b.parts) and all(
        p.sha256 is not None and p.sha256 == q.sha256 and p.bytes == q.bytes and p.rows == q.rows
        and (p.offset, p.length) == (q.offset, q.length)  # packed: the same range of the same file
        for p, q in zip(a.parts, b.parts))


def _now_view(ts, entry) -> rv.TableView:
    cols = [{"name": c.name, "type": c.type} for c in ts.table.columns]
    key = list(ts.table.row_key[0])
    if entry is not None and not entry.columns:  # an old-system backup: keyed by id, as it was shown
        key = ["id"] if "id" in [c["name"] for c in cols] else []
    return rv.TableView.of(ts.table.key_name, cols, key)


def diff_files(old: mf.BackupInfo, new: mf.BackupInfo) -> list[FileChange] | None:
    if old.files is None and new.files is None:
        return None
    a = {(e.bucket, e.path): e.sha256 for e in old.files or []}
    b = {(e.bucket, e.path): e.sha256 for e in new.files or []}
    out = []
    for k in sorted(set(a) | set(b)):
        if k not in b:
            out.append(FileChange("removed", k[0], k[1], a[k], None))
        elif k not in a:
            out.append(FileChange("added", k[0], k[1], None, b[k]))
        elif a[k] != b[k]:
            out.append(FileChange("changed", k[0], k[1], a[k], b[k]))
    return out


class _CsvChanges:
    """Every row change, one line per changed column (added and removed rows: one line)."""

    def __init__(self, path: str):
        try:
            self.fh = open(path, "w", newline="", encoding="utf-8-sig")
        except OSError as err:
            raise ConfigError(f"cannot write {path}: {err.strerror}") from None
        self.out = csv.writer(self.fh)
        self.out.writerow(["table", "change", "key", "label", "column", "old", "new"])

    def __call__(self, table: str, rc: RowChange) -> None:
        if rc.kind == "changed":
            for c in rc.changes:
                self.out.writerow([table, rc.kind, rc.key, rc.label, c.column, c.old, c.new])
        else:
            self.out.writerow([table, rc.kind, rc.key, rc.label, "", "", ""])

    def close(self) -> None:
        self.fh.close()

