"""One table of a backup, a page of rows at a time in key order, with a search field: the one row
view of the backup browser (gui/backup_browser.py) and of the restore wizard's chosen-rows picker
(gui/row_picker.py). Each page is a ShowJob (services/browse.py) run by its owner's JobRunner, so
the window never freezes and a newer page replaces one still being read. Checkable: each row has
a tick, and the ticks are kept across pages, searches and tables (`chosen`)."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ..services.browse import RowPage, ShowJob
from .formatting import num
from .panels.table import Table

PAGE = 100
NULL = "NULL"


def _table(headers: list[str], name: str) -> QTableWidget:
    """The main window's table (one row selected, read-only), its columns sized by hand: a row
    value can be long."""
    t = Table(headers, name)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
    return t


def _item(text, payload=None) -> QTableWidgetItem:
    item = QTableWidgetItem(NULL if text is None else str(text))
    if text is None:
        item.setForeground(QColor("#888888"))
    if payload is not None:
        item.setData(Qt.UserRole, payload)
    return item


def _key(rec) -> tuple[str, ...]:
    """A row's key as the restore names it (text): the same row ticked on a page read from the backup
    or among the rows deleted since (gui/row_picker.py) is one choice."""
    return tuple(None if k is None else str(k) for k in rec.key)


def paging_bar(owner, placeholder: str) -> QHBoxLayout:
    """A search field, Previous, the page's range and Next, set on `owner` as search, prev, page and
    next; `owner` has `offset` and `load(offset)` (this row view, and the dry run's row list)."""
    bar = QHBoxLayout()
    owner.search = QLineEdit()
    owner.search.setPlaceholderText(placeholder)
    owner.search.setAccessibleName("search rows")
    owner.search.setClearButtonEnabled(True)
    owner.search.returnPressed.connect(lambda: owner.load(0))
    owner.prev = QPushButton("◀ Previous")
    owner.prev.clicked.connect(lambda: owner.load(max(0, owner.offset - PAGE)))
    owner.next = QPushButton("Next ▶")
    owner.next.clicked.connect(lambda: owner.load(owner.offset + PAGE))
    owner.page = QLabel("")
    bar.addWidget(owner.search, 1)
    for w in (owner.prev, owner.page, owner.next):
        bar.addWidget(w)
    return bar


class OwnJobs:
    """For a window that reads through a JobRunner of its own (`self.runner`, keyed by `self.org`):
    the backup browser and the chosen-rows picker."""

    def busy(self) -> bool:
        return self.runner.busy()

    def _submit(self, title: str, make_job, done) -> asyncio.Task:
        task = self.runner.submit(self.org, title, make_job)
        task.add_done_callback(lambda t: t.cancelled() or t.result() is None or done(t.result()))
        return task

    def cancel_jobs(self) -> None:
        for row in list(self.runner.rows):
            row.job.cancel()


class _SpaceTicks(QObject):
    """Space ticks the selected row, whichever of its cells has the focus (the keyboard's way)."""

    def __init__(self, pager: "RowPager"):
        super().__init__(pager)
        self.pager = pager

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.KeyPress and event.key() == Qt.Key_Space and not event.modifiers():
            return self.pager.toggle_current()
        return False


class RowPager(QWidget):
    """`submit(title, make_job, done)` runs a job for the owner (its progress row, its Cancel);
    `cancel()` stops the owner's jobs. `status` says what is shown or being read."""

    page_shown = Signal(object)  # the services.browse.RowPage now shown
    status = Signal(str)
    ticked = Signal()  # `chosen` changed

    def __init__(self, ctx, org: str, backup_id: str, submit, cancel, checkable: bool = False, parent=None):
        super().__init__(parent)
        self.ctx, self.org, self.backup_id = ctx, org, backup_id
        self.submit, self.cancel, self.checkable = submit, cancel, checkable
        self.table: str | None = None
        self.offset = self.total = 0
        self.key: list[str] = []
        self.chosen: dict[tuple[str, tuple], object] = {}  # (table, key) -> Record, in the order ticked
        self.fixed: list | None = None  # rows given whole (show_fixed): paged and searched here, not read again
        self.fixed_note = ""
        self._filling = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(paging_bar(self, "Search this table's values…"))
        self.rows = _table(["Key", "Label"], "rows to tick" if checkable else "browser rows")
        if checkable:
            self.rows.setToolTip("Tick the rows to put back (Space ticks the selected row)")
            self.rows.itemChanged.connect(self._tick_changed)
            self.rows.installEventFilter(_SpaceTicks(self))
        lay.addWidget(self.rows, 1)

    def show_table(self, name: str) -> asyncio.Task | None:
        """A table chosen: its first page, the search cleared."""
        self.table = name
        self.fixed = None
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        return self.load(0)

    def show_fixed(self, name: str, key: list[str], records: list, note: str) -> None:
        """These rows of a table (the picker's rows deleted since the backup), paged and searched here."""
        self.table, self.fixed, self.fixed_note = name, records, note
        self.key = list(key)
        self.load(0)

    def load(self, offset: int) -> asyncio.Task | None:
        if not self.table:
            return None
        if self.fixed is not None:
            text = self.search.text().strip()
            rows = [r for r in self.fixed if not text or text.casefold() in " ".join(
                [r.key_text, r.label or ""] + [v or "" for v in r.values.values()]).casefold()]
            self._show_page(RowPage(self.table, [], self.key, len(rows), offset, rows[offset:offset + PAGE],
                                    search=text or None))
            return None
        self.cancel()  # a newer page replaces one still being read
        table, text = self.table, self.search.text().strip() or None
        self.status.emit(f"reading {table}…")
        return self.submit(f"Read {table}", lambda ev: ShowJob(
            self.ctx, self.org, self.backup_id, table, search=text, limit=PAGE, offset=offset, on_event=ev),
            self._show_page)

    def _show_page(self, page) -> None:
        if page.table != self.table:
            return
        self.offset, self.total, self.key = page.offset, page.total, list(page.key)
        self._filling = True
        try:
            self.rows.setColumnCount(2)
            self.rows.setHorizontalHeaderLabels(["Key", "Label"])
            self.rows.setRowCount(len(page.records))
            for r, rec in enumerate(page.records):
                key = _item(rec.key_text, rec)
                if self.checkable and page.key:  # a keyless table's rows cannot be named: not tickable
                    key.setFlags(key.flags() | Qt.ItemIsUserCheckable)
                    key.setCheckState(Qt.Checked if (page.table, _key(rec)) in self.chosen else Qt.Unchecked)
                self.rows.setItem(r, 0, key)
                self.rows.setItem(r, 1, _item(rec.label))
        finally:
            self._filling = False
        self.rows.resizeColumnToContents(0)
        first = page.offset + 1 if page.records else 0
        what = f" holding “{page.search}”" if page.search else ""
        self.page.setText(f"{num(first)}–{num(page.offset + len(page.records))} of {num(page.total)}")
        self.prev.setEnabled(page.offset > 0)
        self.next.setEnabled(page.offset + len(page.records) < page.total)
        self.status.emit(f"{page.table}: {num(page.total)} row{'' if page.total == 1 else 's'}"
                         f"{self.fixed_note if self.fixed is not None else ''}{what}, in key order ({', '.join(page.key) or 'no key'})"
                         + ("" if page.key or not self.checkable else " — a table without a key: its rows cannot be "
                            "chosen one by one"))
        if page.records:
            self.rows.selectRow(0)
        self.page_shown.emit(page)

    # ------------------------------------------------------------ ticks
    def _tick_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 0 or not item.flags() & Qt.ItemIsUserCheckable:
            return
        rec = item.data(Qt.UserRole)
        k = (self.table, _key(rec))
        if item.checkState() == Qt.Checked:
            self.chosen[k] = rec
        else:
            self.chosen.pop(k, None)
        self.ticked.emit()

    def tick(self, row: int, on: bool = True) -> None:
        item = self.rows.item(row, 0)
        if item is not None and item.flags() & Qt.ItemIsUserCheckable:
            item.setCheckState(Qt.Checked if on else Qt.Unchecked)

    def toggle_current(self) -> bool:
        item = self.rows.item(self.rows.currentRow(), 0) if self.rows.currentRow() >= 0 else None
        if item is None or not item.flags() & Qt.ItemIsUserCheckable:
            return False
        self.tick(item.row(), item.checkState() != Qt.Checked)
        return True

    def clear_ticks(self) -> None:
        self.chosen.clear()
        self._filling = True
        for r in range(self.rows.rowCount()):
            item = self.rows.item(r, 0)
            if item is not None and item.flags() & Qt.ItemIsUserCheckable:
                item.setCheckState(Qt.Unchecked)
        self._filling = False
        self.ticked.emit()
