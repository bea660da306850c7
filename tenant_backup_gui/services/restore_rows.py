"""The rows a restore's dry run changes, kept on disk for the CLI's listing and the wizard's pages.

The engine lists them on the server (resources/sql/restore_rows.sql) from the same comparison as
its counts; here they are read a page at a time while the dry run's session is open and written,
one JSON line per row, to a file per table in a private temporary folder. Reading back streams
the file: a search or a page never holds a whole table in memory (the 1.7 M-row tenant's 5 %
changed is 85,000 rows)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import weakref
from collections import Counter
from typing import Iterator

from ..core.errors import ConfigError
from ..core.results import RestoreRow


class RowSpool:
    """Per table: its changed rows (RestoreRow) in key order, and how many of each kind."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="tenant-backup-rows-")
        self.counts: dict[str, Counter] = {}
        self._files: dict[str, str] = {}
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, True)

    @classmethod
    def read(cls, session, names: list[str]) -> "RowSpool":
        """Every listed table's rows, from a session whose dry run listed them (session.row_pages);
        the server's copy is removed afterwards."""
        spool = cls()
        try:
            for name in names:
                spool.add(name, (RestoreRow.from_engine(r) for page in session.row_pages(name) for r in page))
        finally:
            session.rows_done()
        return spool

    def add(self, name: str, rows) -> None:
        path = os.path.join(self.folder, f"{len(self._files)}.jsonl")
        counts = Counter()
        with open(path, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r.to_json(records=True), ensure_ascii=False) + "\n")
                counts[r.kind] += 1
        self._files[name], self.counts[name] = path, counts

    def tables(self) -> list[str]:
        """The tables with at least one listed row, in restore order."""
        return [n for n, c in self.counts.items() if sum(c.values())]

    def rows(self, name: str, search: str = "", kinds: tuple[str, ...] = ()) -> Iterator[RestoreRow]:
        """A table's rows in key order; search: those whose key, label or changed values hold it."""
        path = self._files.get(name)
        if path is None:
            return
        needle = search.casefold()
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                row = RestoreRow.from_json(json.loads(line))
                if kinds and row.kind not in kinds:
                    continue
                if needle and not row.matches(needle):
                    continue
                yield row

    def page(self, name: str, offset: int, limit: int, search: str = "") -> tuple[list[RestoreRow], bool]:
        """Rows offset .. offset+limit of a table (after the search), and whether more follow."""
        out: list[RestoreRow] = []
        for i, row in enumerate(self.rows(name, search)):
            if i < offset:
                continue
            if len(out) == limit:
                return out, True
            out.append(row)
        return out, False

    def to_json(self) -> dict:
        """{table: [row, …]} for --json (the CLI asked for the rows: it prints them all)."""
        return {n: [r.to_json() for r in self.rows(n)] for n in self.tables()}

    def write_csv(self, path: str) -> int:
        """Every row, one line per changed column (inserted and deleted rows: one line). Returns rows written."""
        try:
            fh = open(path, "w", newline="", encoding="utf-8-sig")
        except OSError as err:
            raise ConfigError(f"cannot write {path}: {err.strerror}") from None
        n = 0
        with fh:
            out = csv.writer(fh)
            out.writerow(["table", "change", "key", "label", "column", "now", "backup"])
            for name in self.tables():
                for r in self.rows(name):
                    n += 1
                    for c in r.changes or [None]:
                        out.writerow([name, r.kind, r.key_text, r.label] + ([c.column, c.now, c.backup] if c else
                                                                             ["", "", ""]))
        return n

    def close(self) -> None:
        self._cleanup()
