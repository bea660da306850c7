"""Look inside one backup from the window: its tables with counts on the left, a table's rows paged
(with a search field) on the right, every column of the chosen row below; and the same view for
what changed since (the rows now) or to another backup, changed columns highlighted. Every read is
a service job (services/browse.py) run by a JobRunner of the dialog's own, so the window never
freezes and a long scan shows its progress and can be cancelled."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QHeaderView, QInputDialog, QLabel, QPushButton, QSplitter,
                               QTableWidget, QVBoxLayout)

from ..services.browse import ShowJob
from ..services.browse_diff import DiffJob
from .backup_rows import OwnJobs, RowPager, _item, _table
from .formatting import num, size, title_label
from .jobs import JobRunner

CHANGED = QColor("#fff3b0")
KIND_COLORS = {"added": QColor("#1b7f3b"), "removed": QColor("#b00020"), "changed": QColor("#8a5a00")}


def show_side_by_side(record: QTableWidget, old: dict | None, new: dict | None, changed: set[str],
                      headers: tuple[str, str] = ("Before", "After")) -> None:
    """Every column of a row, two versions side by side (None: that side has no such row); the
    changed ones highlighted. The restore wizard's row list shows its records with it too."""
    cols = list(old or new or {})
    cols += [c for c in (new or {}) if c not in cols]
    record.setColumnCount(3)
    record.setHorizontalHeaderLabels(["Column", *headers])
    record.setRowCount(len(cols))
    for r, col in enumerate(cols):
        cells = [_item(col), _item((old or {}).get(col)) if old is not None else _item(""),
                 _item((new or {}).get(col)) if new is not None else _item("")]
        for c, cell in enumerate(cells):
            if col in changed:
                cell.setBackground(CHANGED)
            record.setItem(r, c, cell)


class BackupBrowser(QDialog, OwnJobs):
    """One backup of one tenant. `backups`: the tenant's others, for "Compare with another backup…"."""

    def __init__(self, ctx, tenant: dict, backup, backups: list, parent=None):
        super().__init__(parent)
        self.ctx, self.tenant, self.backup = ctx, tenant, backup
        self.others = [b for b in backups if b.complete and b.id != backup.id]
        self.org = tenant["id"]
        self.table: str | None = None
        self.diff = None  # a DiffResult while comparing
        self.errors: list[str] = []
        self.setWindowTitle(f"Backup {backup.id} of {tenant.get('name') or self.org}")
        self.resize(1180, 720)
        self._build()
        self.load_tables()

    # ------------------------------------------------------------ layout
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        self.heading = title_label(f"Backup {self.backup.id}")
        top.addWidget(self.heading, 1)
        self.compare_now = QPushButton("Compare with now…")
        self.compare_now.clicked.connect(lambda: self.compare("now"))
        self.compare_other = QPushButton("Compare with another backup…")
        self.compare_other.setEnabled(bool(self.others))
        self.compare_other.clicked.connect(self.choose_other)
        self.back = QPushButton("Back to the backup")
        self.back.setVisible(False)
        self.back.clicked.connect(self.leave_compare)
        for b in (self.compare_now, self.compare_other, self.back):
            top.addWidget(b)
        lay.addLayout(top)

        split = QSplitter(Qt.Horizontal)
        self.tables = _table(["Table", "Rows"], "browser tables")
        self.tables.itemSelectionChanged.connect(self._table_chosen)
        self.tables.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.tables.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.tables.horizontalHeader().setStretchLastSection(False)
        split.addWidget(self.tables)
        right = QSplitter(Qt.Vertical)
        panel = QVBoxLayout()  # the jobs' progress rows, under the status line
        self.runner = JobRunner(panel, self)
        self.runner.failed.connect(lambda _title, message, _d: self._failed(message))
        self.pager = RowPager(self.ctx, self.org, self.backup.id, self._submit, self.cancel_jobs)
        self.pager.status.connect(self.status_text)
        self.pager.page_shown.connect(self._page_shown)
        rw = self.pager
        self.search, self.prev, self.next, self.page, self.rows = (rw.search, rw.prev, rw.next, rw.page, rw.rows)
        self.rows.itemSelectionChanged.connect(self._row_chosen)
        right.addWidget(rw)
        self.record = _table(["Column", "Value"], "browser record")
        right.addWidget(self.record)
        right.setSizes([420, 300])
        split.addWidget(right)
        split.setSizes([340, 840])
        lay.addWidget(split, 1)
        self.status = QLabel("")
        self.status.setObjectName("browser status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.status)
        lay.addLayout(panel)

    def status_text(self, text: str) -> None:
        self.status.setText(text)

    # ------------------------------------------------------------ jobs (OwnJobs: busy, _submit, cancel_jobs)
    def _failed(self, message: str) -> None:
        if message != "cancelled":  # a page replaced by a newer one, or the Cancel button
            self.errors.append(message)
        self.status.setText(message)

    def closeEvent(self, event) -> None:
        self.cancel_jobs()
        super().closeEvent(event)

    # ------------------------------------------------------------ the backup
    def load_tables(self) -> asyncio.Task:
        self.status.setText("reading the backup's summary…")
        return self._submit("Open backup", lambda ev: ShowJob(self.ctx, self.org, self.backup.id, on_event=ev),
                            self._show_tables)

    def _show_tables(self, contents) -> None:
        self.contents = contents
        legacy = " — old system: no checksums" if contents.legacy else ""
        legacy += " — UNSIGNED" if contents.warnings else ""  # the why, in the heading's tooltip
        self.heading.setToolTip("\n".join(contents.warnings))
        files = f", {num(contents.files['objects'])} files" if contents.files else ""
        self.heading.setText(f"Backup {contents.id} of {contents.organization_name or self.org}{legacy}")
        self.status.setText(f"{num(len(contents.tables))} tables, {num(sum(t.rows for t in contents.tables))} rows, "
                            f"{size(sum(t.bytes for t in contents.tables))}{files}")
        self._fill_tables([(t.name, num(t.rows)) for t in contents.tables])

    def _fill_tables(self, rows: list[tuple[str, str]], colors: list | None = None) -> None:
        self.tables.blockSignals(True)
        self.tables.setRowCount(len(rows))
        for r, (name, count) in enumerate(rows):
            self.tables.setItem(r, 0, _item(name, name))
            c = _item(count)
            c.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            if colors and colors[r] is not None:
                c.setForeground(colors[r])
            self.tables.setItem(r, 1, c)
        self.tables.blockSignals(False)

    def _table_chosen(self) -> None:
        row = self.tables.currentRow()
        if row < 0:
            return
        self.table = self.tables.item(row, 0).data(Qt.UserRole)
        if self.diff is not None:
            self._show_changes()
        else:
            self.pager.show_table(self.table)

    def select_table(self, name: str) -> None:
        for r in range(self.tables.rowCount()):
            if self.tables.item(r, 0).data(Qt.UserRole) == name:
                self.tables.selectRow(r)
                return

    def load_rows(self, offset: int) -> asyncio.Task | None:
        if not self.table or self.diff is not None:
            return None
        self.pager.table = self.table
        return self.pager.load(offset)

    @property
    def offset(self) -> int:
        return self.pager.offset

    @property
    def total(self) -> int:
        return self.pager.total

    def _page_shown(self, page) -> None:
        self.record.setRowCount(0)
        if page.records:
            self._row_chosen()  # the same row index as the previous page's: no selection signal

    def _row_chosen(self) -> None:
        row = self.rows.currentRow()
        if row < 0 or self.rows.item(row, 0) is None:
            return
        payload = self.rows.item(row, 0).data(Qt.UserRole)
        if self.diff is None:
            self.record.setColumnCount(2)
            self.record.setHorizontalHeaderLabels(["Column", "Value"])
            self.record.setRowCount(len(payload.values))
            for r, (col, value) in enumerate(payload.values.items()):
                self.record.setItem(r, 0, _item(col))
                self.record.setItem(r, 1, _item(value))
        else:
            self._show_change(payload)
        self.record.resizeColumnToContents(0)

    # ------------------------------------------------------------ comparing
    def choose_other(self) -> None:
        ids = [f"{b.id} ({b.type}, {num(b.total_records)} rows)" for b in self.others]
        choice, ok = QInputDialog.getItem(self, "Compare with another backup", "Compare this backup with:", ids, 0, False)
        if ok and choice:
            self.compare(self.others[ids.index(choice)].id)

    def compare(self, against: str) -> asyncio.Task:
        self.cancel_jobs()
        self.status.setText("comparing with the rows now…" if against == "now" else f"comparing with {against}…")
        return self._submit("Compare", lambda ev: DiffJob(self.ctx, self.org, self.backup.id, against, on_event=ev),
                            self._show_diff)

    def _show_diff(self, result) -> None:
        self.diff = result
        self.back.setVisible(True)
        self.search.setEnabled(False)
        for b in (self.prev, self.next):
            b.setEnabled(False)
        other = "the rows now" if result.new == "now" else f"backup {result.new}"
        self.heading.setText(f"From backup {result.old} to {other}")
        differ = [t for t in result.tables if t.differs]
        files = ""
        if result.files:
            files = f"; files: {len(result.files)} added, removed or changed"
        self.status.setText(f"{num(len(differ))} of {num(len(result.tables))} tables differ{files}")
        tables = differ + [t for t in result.tables if not t.differs]
        self._fill_tables([(t.name, f"+{num(t.added)} −{num(t.removed)} ~{num(t.changed)}" if t.differs else "same")
                           for t in tables], [QColor("#8a5a00") if t.differs else None for t in tables])
        self.rows.setRowCount(0)
        self.record.setRowCount(0)
        if tables:
            self.tables.selectRow(0)

    def _show_changes(self) -> None:
        t = next((t for t in self.diff.tables if t.name == self.table), None)
        if t is None:
            return
        self.rows.setColumnCount(4)
        self.rows.setHorizontalHeaderLabels(["Change", "Key", "Label", "Columns changed"])
        self.rows.setRowCount(len(t.rows))
        for r, rc in enumerate(t.rows):
            kind = _item(rc.kind, rc)
            kind.setForeground(KIND_COLORS[rc.kind])
            self.rows.setItem(r, 0, kind)
            self.rows.setItem(r, 1, _item(rc.key))
            self.rows.setItem(r, 2, _item(rc.label))
            self.rows.setItem(r, 3, _item(", ".join(c.column for c in rc.changes)))
        self.rows.resizeColumnsToContents()
        more = t.added + t.removed + t.changed - len(t.rows)
        self.page.setText(f"{num(len(t.rows))} changes" + (f" (and {num(more)} more: tenant-backup diff --csv)"
                                                          if more > 0 else ""))
        self.record.setRowCount(0)
        if t.rows:
            self.rows.selectRow(0)
            self._row_chosen()

    def _show_change(self, rc) -> None:
        show_side_by_side(self.record, rc.old, rc.new, {c.column for c in rc.changes})

    def leave_compare(self) -> None:
        self.diff = None
        self.back.setVisible(False)
        self.search.setEnabled(True)
        self._show_tables(self.contents)
        self.rows.setRowCount(0)
        self.record.setRowCount(0)
