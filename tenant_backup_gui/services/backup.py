"""Back up one tenant: one snapshot, every table in scope, parts then summary."""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .. import __version__
from ..core import manifest as mf
from ..core.errors import Cancelled, ConfigError, ConnectionFailed, TenantBackupError
from ..core.history import BACKUP_ROW_TYPES
from ..core.events import FILES_UNIT, Event, EventSink, ignore
from ..core.encryption import key_id
from ..core.manifest import TableEntry
from ..sources.interfaces import Snapshot
from ..stores.backups import BackupWriter
from .context import Context
from .export_plan import plan_items, table_entry
from .lanes import Lending, TableLanes
from .job import Job

LOG_TYPES = BACKUP_ROW_TYPES


def default_jobs() -> int:
    """Parallel work by default: one per core, at most 4 (past that the database, not us, is the limit)."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class BackupResult:
    id: str
    organization_id: str
    organization_name: str | None
    date: str
    type: str
    total_records: int
    total_size: int
    tables: dict[str, dict]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    summary_key: str = ""
    files: dict | None = None  # {"count", "bytes"} of the tenant's files it holds; None without [[files]] rules
    signed: bool = True  # False: written where no backup key was reachable (core/signing.py)

    def to_json(self) -> dict:
        return {
            "id": self.id, "organization_id": self.organization_id, "organization_name": self.organization_name,
            "date": self.date, "type": self.type, "total_records": self.total_records, "total_size": self.total_size,
            "tables": self.tables, "warnings": self.warnings, "seconds": round(self.seconds, 3),
            "summary": self.summary_key, "files": self.files, "signed": self.signed,
        }


class BackupJob(Job):
    def __init__(self, ctx: Context, org_id: str, backup_type: str = "manual", on_event: EventSink = ignore,
                 allow_missing_tenant: bool = False, hold_lock: bool = True, jobs: int | None = None,
                 lending: Lending | None = None):
        """hold_lock=False: the caller (a restore) already holds the tenant's lock. jobs: tables
        exported at once (default: [backup] jobs, else the cores, at most 4). lending: `daily`'s
        idle pooled connections, which may join as more lanes (services/lanes.py)."""
        super().__init__(on_event)
        self.lending = lending
        self.lanes = 1
        self.jobs = max(1, jobs or ctx.config.backup_jobs or default_jobs())
        self.hold_lock = hold_lock
        self.ctx = ctx
        self.org_id = org_id.strip().lower() if isinstance(org_id, str) else org_id
        self.backup_type = backup_type
        self.coalesce_progress = backup_type == "daily"  # services/job.py: a nightly's thousands of tenants
        self.allow_missing_tenant = allow_missing_tenant
        self._snapshot = None  # the road's Snapshot (sources/interfaces.py)
        self._lock = None

    def prepare(self) -> list[str]:
        problems = []
        if not mf.is_uuid(self.org_id or ""):
            problems.append(f"'{self.org_id}' is not an organization id (a UUID); list them with: tenant-backup tenants")
        if self.backup_type not in mf.BACKUP_TYPES:
            problems.append(f"unknown backup type '{self.backup_type}' (use {', '.join(mf.BACKUP_TYPES)})")
        if (missing := self.ctx.settings.database_problem()) is not None:
            problems.append(missing)
        if (files := self.ctx.files_problem()) is not None:
            problems.append(files)
        problems += self.ctx.store.problems()
        return problems

    def cancel(self) -> None:
        super().cancel()
        if self._snapshot is not None:
            self._snapshot.cancel()

    async def run(self) -> BackupResult:
        self.check_prepared()
        self.bind_loop()
        return await asyncio.to_thread(self.run_blocking)

    def run_blocking(self) -> BackupResult:
        """The whole backup on the calling thread, history included (a restore calls this for its
        safety backup while it holds the tenant's lock)."""
        history = self.ctx.history()
        log_id = history.start(LOG_TYPES[self.backup_type], self.org_id, {"store": self.ctx.store.describe()})
        try:
            result = self._run()
        except TenantBackupError as err:
            history.finish(log_id, "cancelled" if isinstance(err, Cancelled) else "failed", errors=[str(err)])
            raise
        except BaseException as err:
            history.finish(log_id, "failed", errors=[f"internal error: {err!r}"])
            raise
        history.finish(log_id, "completed", records=result.total_records, size=result.total_size,
                       tables=len(result.tables), backup_id=result.id,
                       metadata={"backup_id": result.id, "type": result.type, "warnings": result.warnings,
                                 "signed": result.signed,
                                 "store": self.ctx.store.describe(), "lanes": self.lanes})
        result.warnings += history.warnings
        self.emit(Event("finished", f"backup {result.id} of {result.organization_name or result.organization_id}: "
                        f"{result.total_records} rows in {len(result.tables)} tables", self.org_id,
                        rows=result.total_records, bytes=result.total_size))
        return result

    def _run(self) -> BackupResult:
        ctx, org = self.ctx, self.org_id
        started = time.monotonic()
        lock = ctx.tenant_lock(org) if self.hold_lock else nullcontext()
        self._lock = lock
        with self._files_prelude() as prelude, lock:
            if prelude is not None:
                prelude.locked()
            writers: list[BackupWriter] = []
            try:
                with ctx.snapshot() as snap:
                    self._snapshot = snap
                    try:
                        rows = self._export(snap, writers)
                    finally:
                        self._snapshot = None
                # The files are copied after the rows' snapshot ends: an hour of copying must not hold
                # the tables' locks (an app's ALTER would queue behind them, and its queries behind it),
                # nor a pooled connection. The keys the rows name are read from the parts written.
                return self._finish(rows, writers, started, prelude)
            except BaseException:
                for w in writers:
                    w.abort()
                raise

    def _export(self, snap: Snapshot, writers: list) -> dict:
        ctx, org = self.ctx, self.org_id
        tenant = snap.tenant(org)
        if tenant is None and not self.allow_missing_tenant:
            raise ConfigError(f"organization {org} does not exist in {ctx.config.tenant_table}; "
                                    f"list them with: tenant-backup tenants")
        scope = ctx.scope(snap.catalog)
        if not scope.tables:
            raise TenantBackupError("no tenant tables found: no table has the tenant column "
                                    f"'{ctx.config.tenant_column}'; check tenant_column and schemas in the config")
        snap.lock_tables(scope.tables)
        snap.prepare_export(scope.tables, org)  # the direct road: every table's query in one round trip
        listed = self._files_listing(snap)
        begun = datetime.now(timezone.utc)
        backup_id = mf.timestamp_id(begun)
        self.emit(Event("started", f"backing up {tenant.name if tenant else org} ({len(scope.tables)} tables)",
                        org, steps=len(scope.tables)))
        secret = ctx.encryption_key()
        writers.append(BackupWriter(ctx.store, org, backup_id, ctx.part_bytes(), secret=secret, lane=1))
        warnings = list(scope.warnings)
        jobs = min(self.jobs, len(scope.tables))
        items = self._items(snap, scope.tables, jobs)
        # Lent lanes take items no own lane has begun: a tenant with no more items than lanes (a
        # small one: its tables in one packed COPY) never has one waiting, and exporting its
        # snapshot for them (pg_export_snapshot, ~1 ms of the server's time) would only cost.
        lendable = self.lending is not None and snap.lendable and len(items) > jobs
        if jobs > 1 or lendable:
            entries = self._export_parallel(snap, scope.tables, items, jobs, writers, warnings, backup_id, secret)
        else:
            entries = [None] * len(scope.tables)
            for item in items:
                for k, entry in zip(item, self._export_item(snap, scope.tables, item, writers[0])):
                    entries[k] = entry
        return {"tenant": tenant, "scope": scope, "begun": begun, "backup_id": backup_id, "secret": secret,
                "entries": entries, "warnings": warnings, "listed": listed}

    def _finish(self, rows: dict, writers: list, started: float, prelude=None) -> BackupResult:
        """The tenant's files, then the summary that makes the backup complete."""
        ctx, org = self.ctx, self.org_id
        tenant, scope, backup_id, entries, warnings = (rows["tenant"], rows["scope"], rows["backup_id"],
                                                       rows["entries"], rows["warnings"])
        secret = rows["secret"]
        for w in writers:
            w.close()  # every part committed (stores/backups.py _commit): the files step reads rows from them
        files = self._backup_files(backup_id, entries, secret, warnings, prelude, rows["listed"])
        if self.cancelled.is_set():
            raise Cancelled("backup cancelled")
        if getattr(self._lock, "lost", False):  # a REST lease that expired and was taken meanwhile
            raise TenantBackupError(f"the lock on organization {org} was lost during the backup (another job "
                                    f"may have changed its data meanwhile); run the backup again")
        summary = mf.build_summary(
            organization_id=org, organization_name=tenant.name if tenant else None, backup_id=backup_id,
            backup_type=self.backup_type, started=rows["begun"], finished=datetime.now(timezone.utc), tables=entries,
            warnings=warnings, tool_version=__version__, source=ctx.source_info(),
            tenant_column=ctx.config.tenant_column, skipped=scope.skipped,
            key_id=key_id(secret) if secret else None, files=files,
            files_rules=[r.to_json() for r in ctx.config.files] if files is not None else None)
        for w in writers[1:]:
            w.close()
        sign_with, unsigned = (secret, None) if secret else ctx.signing_key()  # one key signs and encrypts
        if sign_with is None:  # never a failed backup for it: an unsigned one, said so
            warnings.append(f"UNSIGNED: this backup could not be signed ({unsigned}); restoring it will need "
                            f"--trust-unsigned")
        summary_key = writers[0].finish(summary, sign_with=sign_with)
        return BackupResult(
            id=backup_id, organization_id=org, organization_name=tenant.name if tenant else None,
            date=backup_id[:10], type=self.backup_type, total_records=summary["total_records"],
            total_size=summary["total_size"],
            tables={e.name: {"record_count": e.record_count, "size": sum(p.stored for p in e.parts),
                             "parts": len(e.parts)} for e in entries},
            warnings=warnings, seconds=time.monotonic() - started, summary_key=summary_key, signed=sign_with is not None,
            files=None if files is None else {"count": len(files), "bytes": sum(e.size for e in files)})

    def _files_prelude(self):
        """With [[files]] rules, the files step's set-up (services/files_prelude.py), on a thread
        from now while the lock is taken and the rows export; else nothing."""
        if not self.ctx.config.files or self.ctx.files_problem() is not None:
            return nullcontext()  # the files step says what is missing
        from .files_prelude import FilesPrelude
        return FilesPrelude(self.ctx, self.org_id)

    def _files_listing(self, snap: Snapshot) -> dict | None:
        """With [[files]] rules, the tenant's objects as the rows' snapshot sees them (the direct
        road reads storage.objects: the listing is consistent with the rows, and no HTTP listing
        is paged through); None without rules or where the road cannot (the files step lists)."""
        if not self.ctx.config.files or self.ctx.files_problem() is not None:
            return None
        from ..stores.tenant_files import rule_prefixes
        return snap.storage_listing(rule_prefixes(self.ctx.config.files, self.org_id))

    def _backup_files(self, backup_id: str, entries: list[TableEntry], secret: bytes | None, warnings: list,
                      prelude=None, prefixed: dict | None = None):
        """The tenant's objects in Storage ([[files]] rules), copied into the store unless the last
        backup's listing shows them unchanged; None when no rule is set."""
        files = self.ctx.files(self.org_id, secret, self.cancelled.is_set)
        if files is None:
            return None  # and httpx is never imported: a backup without files does not pay for it
        from ..stores.tenant_files import previous_entries, rows_reader
        org = self.org_id
        self.emit(Event("message", "backing up the tenant's files", org))
        named = files.named(rows_reader(self.ctx.store, {e.name: e for e in entries}, secret))
        # the snapshot's listing (direct road) or Storage's now; the prelude may still be reading the store
        listed = files.current(named, prefixed)
        previous, stored = prelude.result() if prelude is not None else \
            (previous_entries(self.ctx.store, org, backup_id), None)
        progress = lambda n, b: self.emit(Event("progress", "", org, "files", n, b, data=FILES_UNIT))  # noqa: E731
        return files.backup(named, previous, progress, warn=warnings.append, stored=stored, listed=listed)

    def _items(self, snap: Snapshot, tables: list, jobs: int) -> list[tuple[int, ...]]:
        """What the lanes take, in order (export_plan.plan_items), from the sizes the road knows."""
        shares = snap.tenant_shares(tables)  # None: not known on this road (REST): nothing packed
        packs = shares is not None
        if packs:
            sizes = shares
        else:
            sizes = snap.table_sizes(tables) if jobs > 1 else {}  # one lane of its own: scope order, no query
        return plan_items([t.table.key_name for t in tables], sizes, packs, jobs)

    def _export_item(self, snap: Snapshot, tables: list, item: tuple[int, ...], writer: BackupWriter) -> list:
        if len(item) == 1:
            return [self._export_table(snap, tables[item[0]], item[0] + 1, len(tables), writer)]
        return self._export_pack(snap, tables, item, writer)

    def _export_pack(self, snap: Snapshot, tables: list, item: tuple[int, ...], writer: BackupWriter) -> list:
        """Small tables' rows by one COPY (the direct road), each table's stream packed with the
        others' into shared files (stores/part_writer.py, format 3), checked table by table: the
        rows read equal the rows written."""
        org, steps = self.org_id, len(tables)
        rows = [0] * len(item)
        done = {"open": -1, "bytes": 0}

        def open_until(j: int) -> None:  # the tables before j end (empty ones begin and end)
            while done["open"] < j:
                if done["open"] >= 0:
                    writer.end_table()
                done["open"] += 1
                done["bytes"] = 0
                k = item[done["open"]]
                self._table_event(tables[k].table.key_name, k + 1, steps)
                writer.begin_table(tables[k].table.key_name)

        def sink(j: int, lines: bytes, n: int) -> None:
            open_until(j)
            writer.write(lines, n)
            rows[j] += n
            done["bytes"] += len(lines)
            k = item[j]
            self.emit(Event("progress", "", org, tables[k].table.key_name, rows[j], done["bytes"], k + 1, steps))

        writer.begin_pack()
        snap.export_packed([tables[k] for k in item], org, writer.batch_bytes, sink, self.cancelled)
        open_until(len(item) - 1)
        writer.end_table()
        parts = writer.end_pack()
        return [table_entry(tables[k], rows[j], parts[j]) for j, k in enumerate(item)]

    def _table_event(self, name: str, step: int, steps: int) -> None:
        """A table begins. Not within `daily`, whose own events say which tenant is being backed up:
        a hundred events a tenant there only cost (0.3 ms a table in the profile, with progress)."""
        if self.backup_type != "daily":
            self.emit(Event("table", f"exporting {name}", self.org_id, name, step=step, steps=steps))

    def _export_table(self, snap: Snapshot, ts, i: int, steps: int, writer: BackupWriter) -> TableEntry:
        """One table's rows into its parts, checked: the rows read equal the rows written."""
        org, name = self.org_id, ts.table.key_name
        self._table_event(name, i, steps)
        done = {"rows": 0, "bytes": 0}

        def sink(batch: bytes, rows: int) -> None:
            writer.write(batch, rows)
            done["rows"] += rows
            done["bytes"] += len(batch)
            self.emit(Event("progress", "", org, name, done["rows"], done["bytes"], i, steps))

        writer.begin_table(name)
        rows = snap.export(ts, org, writer.batch_bytes, sink, self.cancelled)
        return table_entry(ts, rows, writer.end_table())

    def _export_parallel(self, snap: Snapshot, tables: list, items: list, jobs: int, writers: list,
                         warnings: list, backup_id: str, secret: bytes | None) -> list[TableEntry]:
        """Tables on `jobs` connections that share this snapshot, in the order of `items` (_items),
        and on any connection `daily` lends meanwhile; each lane has its own part writer (its own
        compression thread). The manifest keeps the scope's order."""
        ctx, org = self.ctx, self.org_id
        own = [snap]
        for _ in range(jobs - 1):
            try:
                own.append(snap.worker(tables))
            except ConnectionFailed as err:  # e.g. the server's connection limit: go on with fewer
                warnings.append(f"parallel export used {len(own)} of {jobs} connections: {err}")
                break

        def new_writer() -> BackupWriter:
            writers.append(BackupWriter(ctx.store, org, backup_id, ctx.part_bytes(), secret=secret,
                                        lane=len(writers) + 1))
            return writers[-1]

        def export(lane_snap, item: tuple[int, ...], writer: BackupWriter) -> list[TableEntry]:
            return self._export_item(lane_snap, tables, item, writer)

        lanes = TableLanes(snap, tables, items, export, new_writer, own=len(own))
        own_writers = [writers[0]] + [new_writer() for _ in own[1:]]
        if self.lending is not None and snap.lendable and len(items) > len(own):
            snap.share()  # now, while this connection is idle: a lent lane adopts it later
            self.lending.opened(org, lanes)
        try:
            if len(own) == 1:
                lanes.run(snap, writers[0])
            else:
                with ThreadPoolExecutor(len(own), thread_name_prefix="backup-lane") as pool:
                    for f in [pool.submit(lanes.run, s, w) for s, w in zip(own, own_writers)]:
                        f.result()
        finally:
            lanes.close()
            self.lanes = lanes.lanes
            for w in own[1:]:
                w.__exit__(None, None, None)
        if lanes.errors:
            raise next((e for e in lanes.errors if not isinstance(e, Cancelled)), lanes.errors[0])
        return lanes.entries
