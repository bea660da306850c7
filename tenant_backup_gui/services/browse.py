"""Look inside a backup without restoring it: its tables, a table's rows in key order (paged), one
record by key, the rows holding a text. Read straight from the store through the backup reader,
which checks every part against the manifest as it streams; nothing is shown before the table's
parts have been read to their end and found intact, so a damaged backup is refused in one line.
Reading is bounded by the summary: only the parts it lists, each checked for its declared size
first. Memory stays bounded: a page is a heap of offset+limit rows, more goes through sorted runs
on disk (services/sorted_runs.py)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import heapq
from dataclasses import dataclass, field

from ..core import manifest as mf
from ..core import rowview as rv
from ..core.errors import Cancelled, ConfigError, IntegrityError
from ..core.events import Event, EventSink, ignore
from ..core.manifest import TableEntry
from ..stores.backups import find_backup, iter_part_blocks, prefetch, read_summary
from ..stores.part_reader import READ_CHUNK
from .context import Context
from .job import Job
from .sorted_runs import SortedRuns

HEAP_LIMIT = 10_000  # offset+limit beyond this: sorted runs on disk instead of a heap


@dataclass
class TableInfo:
    name: str
    rows: int
    bytes: int
    parts: int
    key: list[str]
    columns: list[str]

    def to_json(self) -> dict:
        return {"name": self.name, "rows": self.rows, "bytes": self.bytes, "parts": self.parts,
                "key": self.key, "columns": self.columns}


@dataclass
class BackupContents:
    id: str
    organization_id: str
    organization_name: str | None
    type: str
    legacy: bool
    tables: list[TableInfo]
    files: dict | None  # {"objects", "bytes"}; None: the backup holds no files
    warnings: list[str] = field(default_factory=list)  # first: UNSIGNED, when this installation did not sign it

    def to_json(self) -> dict:
        return {"id": self.id, "organization_id": self.organization_id, "organization_name": self.organization_name,
                "type": "legacy" if self.legacy else self.type, "tables": [t.to_json() for t in self.tables],
                "files": self.files, "signed": not self.warnings, "warnings": self.warnings}


@dataclass
class Record:
    key: tuple
    key_text: str
    label: str
    values: dict  # column -> text exactly as PostgreSQL wrote it, or None (NULL)

    @classmethod
    def of(cls, view: rv.TableView, line: bytes) -> "Record":
        row = rv.parse_row(line)
        key = view.key_of(line, row)
        return cls(key, view.key_text(key), view.label(row, key), {c: rv.show(v) for c, v in row.items()})

    def to_json(self) -> dict:
        return {"key": self.key_text, "label": self.label, "values": self.values}


@dataclass
class RowPage:
    table: str
    columns: list[str]
    key: list[str]
    total: int  # rows of the table (or matching the search)
    offset: int
    records: list[Record] = field(default_factory=list)
    search: str | None = None
    csv_path: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"table": self.table, "columns": self.columns, "key": self.key, "total": self.total,
                "offset": self.offset, "search": self.search, "rows": [r.to_json() for r in self.records],
                "warnings": self.warnings, **({"csv": self.csv_path} if self.csv_path else {})}


def table_view(entry: TableEntry, first_line: bytes | None = None) -> rv.TableView:
    """An old-system table has no manifest columns or key: its rows' own fields, keyed by `id`."""
    columns = entry.columns
    key = list(entry.key)
    if not columns and first_line:
        columns = [{"name": c} for c in rv.parse_row(first_line)]
        key = ["id"] if "id" in [c["name"] for c in columns] else []
    return rv.TableView.of(entry.name, columns, key)


class BackupReader:
    """One backup of one tenant, opened for reading: the summary read now, its parts' sizes
    checked against the store's listing, the key it needs found before any part is read. Looking
    changes nothing, so a backup this installation did not sign is shown too, but said so first
    (`origin_warning`): what it shows may have been written by anyone who can write the store."""

    def __init__(self, job: Job, ctx: Context, org_id: str, ref: str):
        self.job, self.ctx, self.org = job, ctx, org_id
        found = find_backup(ctx.store, org_id, ref)
        trust = ctx.trust(accept_unsigned=True)
        self.info, _ = read_summary(ctx.store, found, trust)
        self.origin_warning = trust.warning(self.info.origin, found.id)
        if self.info.organization_id.strip().lower() != org_id:
            raise IntegrityError(f"backup {found.id} names organization {self.info.organization_id} in its "
                                 f"summary, not {org_id}; it cannot be shown")
        self._check_sizes()
        self.secret = ctx.key_for(self.info)

    def _check_sizes(self) -> None:
        listed = {o.key: o.size for o in self.ctx.store.list(mf.backup_dir(self.org, self.info.id) + "/")}
        for t in self.info.tables.values():
            for p in t.parts:
                if p.key not in listed:
                    raise IntegrityError(f"backup {self.info.id} is damaged: part {p.key} is missing; use another one")
                if p.sha256 is not None and listed[p.key] != p.bytes:
                    raise IntegrityError(f"backup {self.info.id} is damaged: {p.key} does not match its checksum; "
                                         f"this backup cannot be trusted: use another one")

    def entry(self, table: str) -> TableEntry:
        if table not in self.info.tables:
            raise ConfigError(f"table '{table}' is not in backup {self.info.id}; it holds: "
                              f"{', '.join(sorted(self.info.tables)) or 'no tables'}")
        return self.info.tables[table]

    def blocks(self, entry: TableEntry, step: int = 1, steps: int = 1, ahead: bool = True):
        """The table's blocks of lines, checked as they stream; progress and cancel per block.
        ahead: decompress the next block on a thread meanwhile (one more block held: a block of
        repetitive rows is ~30 MB once decompressed, so two readers in step go without)."""
        def produce():
            for p in entry.parts:
                yield from iter_part_blocks(self.ctx.store, p, self.secret)
        rows = size = 0
        try:
            for block, n in prefetch(produce(), depth=1) if ahead else produce():
                if self.job.cancelled.is_set():
                    raise Cancelled("cancelled")
                rows += n
                size += len(block)
                self.job.emit(Event("progress", "", self.org, entry.name, rows, size, step, steps))
                yield block
        except IntegrityError as err:
            raise IntegrityError(f"backup {self.info.id} is damaged: {err}") from None

    def check_stored(self, entry: TableEntry) -> None:
        """The table's parts' stored bytes against their checksums, without decompressing them:
        for a table a diff finds unchanged from the manifests alone."""
        for p in entry.parts:
            sha, size = hashlib.sha256(), 0
            with self.ctx.store.open_reader(p.key) as fh:
                while chunk := fh.read(READ_CHUNK):
                    if self.job.cancelled.is_set():
                        raise Cancelled("cancelled")
                    sha.update(chunk)
                    size += len(chunk)
            if size != p.bytes or sha.hexdigest() != p.sha256:
                raise IntegrityError(f"backup {self.info.id} is damaged: {p.key} does not match its checksum; "
                                     f"this backup cannot be trusted: use another one")

    def view(self, entry: TableEntry) -> rv.TableView:
        first = None
        if not entry.columns:
            first = next((b.split(b"\n", 1)[0] for b in self.blocks(entry)), None)
        return table_view(entry, first)

    def contents(self) -> BackupContents:
        i = self.info
        tables = [TableInfo(n, t.record_count, sum(p.stored for p in t.parts), len(t.parts), list(t.key),
                            [c["name"] for c in t.columns]) for n in i.order if (t := i.tables.get(n))]
        files = None if i.files is None else {"objects": len(i.files), "bytes": sum(e.size for e in i.files)}
        return BackupContents(i.id, i.organization_id, i.organization_name, i.type, i.legacy, tables, files,
                              [self.origin_warning] if self.origin_warning else [])


class ShowJob(Job):
    """`show`: the backup's tables; or one table's rows (a page in key order, one key, or the rows
    holding a text), optionally all of them to a CSV file."""

    def __init__(self, ctx: Context, org_id: str, backup: str, table: str | None = None, key: str | None = None,
                 search: str | None = None, limit: int = 50, offset: int = 0, csv_path: str | None = None,
                 on_event: EventSink = ignore):
        super().__init__(on_event)
        self.ctx, self.org_id, self.backup = ctx, (org_id or "").strip().lower(), backup
        self.table, self.key, self.search = table, key, search
        self.limit, self.offset, self.csv_path = limit, offset, csv_path

    def prepare(self) -> list[str]:
        problems = []
        if not mf.is_uuid(self.org_id):
            problems.append(f"'{self.org_id}' is not an organization id (a UUID); list them with: tenant-backup tenants")
        if (self.key or self.search or self.csv_path) and not self.table:
            problems.append("--key, --search and --csv need --table: name the table to look in")
        if self.key is not None and self.search is not None:
            problems.append("give --key or --search, not both")
        if self.limit < 1 or self.offset < 0:
            problems.append("--limit must be at least 1 and --offset at least 0")
        return problems + self.ctx.store.problems()

    async def run(self):
        self.check_prepared()
        self.bind_loop()
        return await asyncio.to_thread(self.run_blocking)

    def run_blocking(self):
        reader = BackupReader(self, self.ctx, self.org_id, self.backup)
        if not self.table:
            return reader.contents()
        entry = reader.entry(self.table)
        view = reader.view(entry)
        self.emit(Event("table", f"reading {entry.name} ({entry.record_count:,} rows)", self.org_id, entry.name,
                        step=1, steps=1))
        page = RowPage(entry.name, list(view.columns), list(view.key), 0, self.offset, search=self.search,
                       warnings=[reader.origin_warning] if reader.origin_warning else [])
        chosen = self._chosen(view, reader.blocks(entry))
        if self.csv_path:
            page.total = self._to_csv(view, chosen)
            page.csv_path = self.csv_path
        elif self.key is None and not self.search and self.offset + self.limit <= HEAP_LIMIT:
            page.total, picked = _first_rows(view, reader.blocks(entry), self.offset + self.limit)
            page.records = [Record.of(view, line) for _, line in picked[self.offset:]]
        elif self.offset + self.limit <= HEAP_LIMIT:
            page.total, picked = _smallest(chosen, self.offset + self.limit)
            page.records = [Record.of(view, line) for _, line in picked[self.offset:]]
        else:
            with SortedRuns() as runs:
                for keys, ls in chosen:
                    for k, line in zip(keys, ls):
                        runs.add(k, line)
                page.total = runs.count
                picked = [line for i, (_, line) in enumerate(runs) if i < self.offset + self.limit]
            page.records = [Record.of(view, line) for line in picked[self.offset:]]
        self.emit(Event("finished", f"{entry.name}: {page.total:,} rows", self.org_id, entry.name, page.total))
        return page

    def _chosen(self, view: rv.TableView, blocks):
        """(sort keys, lines) of the rows asked for, a block at a time: every row, one key's, or the
        rows holding the search text. Whole blocks are skipped by a bytes test where one can tell."""
        want = needle = folded = None
        if self.key is not None:
            try:
                want = view.parse_key(self.key)
            except ValueError as err:
                raise ConfigError(str(err)) from None
            needle = view.key_needle(want)
        elif self.search:
            folded = rv.needle_bytes(self.search)
        for block in blocks:
            if (needle is not None and needle not in block) or (folded is not None and folded not in block.lower()):
                continue
            ls = block[:-1].split(b"\n")
            if want is not None:
                ls = [line for line in ls if (needle is None or line.startswith(needle)) and view.key_of(line) == want]
                yield [view.sort_key_of(line) for line in ls], ls
            elif self.search:
                ls = [line for line in ls if (folded is None or rv.may_match(line, folded))
                      and rv.matches(rv.parse_row(line), self.search)]
                yield [view.sort_key_of(line) for line in ls], ls
            else:
                yield view.block_sort_keys(ls), ls

    def _to_csv(self, view: rv.TableView, chosen) -> int:
        """Every (matching) row in key order, one column per column: a spreadsheet opens it as is
        (UTF-8 with a byte-order mark, NULL as an empty cell)."""
        with SortedRuns() as runs:
            for keys, ls in chosen:
                for k, line in zip(keys, ls):
                    runs.add(k, line)
            try:
                with open(self.csv_path, "w", newline="", encoding="utf-8-sig") as fh:
                    out = csv.writer(fh)
                    out.writerow(view.columns)
                    for _, line in runs:
                        values = Record.of(view, line).values
                        out.writerow(["" if values.get(c) is None else values[c] for c in view.columns])
            except OSError as err:
                raise ConfigError(f"cannot write {self.csv_path}: {err.strerror}") from None
            return runs.count


def _smallest(chosen, n: int) -> tuple[int, list[tuple[bytes, bytes]]]:
    """(how many rows, the n first in key order), holding n rows (and one block) at most: each
    block's n first are picked by a sort in C, then merged with the best so far."""
    total = 0
    best: list[tuple[bytes, int, bytes]] = []
    for keys, ls in chosen:
        first = sorted(range(len(keys)), key=keys.__getitem__)[:n]
        best = heapq.nsmallest(n, best + [(keys[i], total + i, ls[i]) for i in first])
        total += len(ls)
    return total, [(k, line) for k, _, line in best]


def _first_rows(view: rv.TableView, blocks, n: int) -> tuple[int, list[tuple[bytes, bytes]]]:
    """_smallest for a whole table: where a block's keys read in one scan (a single leading key
    column, the usual `id`), its n smallest keys are sorted in C and only their n lines are found
    (by their key's bytes): no block is split into a million lines to show fifty of them."""
    total = 0
    best: list[tuple[bytes, int, bytes]] = []
    for block in blocks:
        got = view.block_keys(block)
        if got is None:
            ls = block[:-1].split(b"\n")
            rows = _smallest([(view.block_sort_keys(ls), ls)], n)[1]
            count = len(ls)
        else:
            kind, keys = got
            rows = [(rv.sort_key((str(k),)) if kind == "int" else b"\x01" + k, _line_of(view, block, kind, k))
                    for k in sorted(keys)[:n]]
            count = len(keys)
        best = heapq.nsmallest(n, best + [(k, total + i, line) for i, (k, line) in enumerate(rows)])
        total += count
    return total, [(k, line) for k, _, line in best]


def _line_of(view: rv.TableView, block: bytes, kind: str, key) -> bytes:
    """The line of `block` that starts with this key (keys of a table's key column are unique)."""
    head = b"{" + rv.json.dumps(view.key[0], ensure_ascii=False).encode() + b":"
    needle = head + (str(key).encode() if kind == "int" else b'"' + key + b'"')
    at = -1
    while True:
        at = block.find(needle, at + 1)
        if at < 0:
            raise IntegrityError(f"table {view.name}: a row's key was read but its line not found")
        end = at + len(needle)
        if (at == 0 or block[at - 1] == 0x0A) and block[end:end + 1] in (b",", b"}"):
            return block[at:block.index(b"\n", at)]
