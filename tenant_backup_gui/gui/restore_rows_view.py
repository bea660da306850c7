"""The rows a restore's dry run changes, for the owner to check before typing the organization's
name: per table, each row it inserts, updates, deletes or leaves different (paged, searchable),
and the chosen row whole, now and in the backup side by side (the backup browser's record view).
The rows come from the dry run's spool on disk (services/restore_rows.py): a page is read from it
when shown, never the whole table."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QDialog, QHeaderView, QSplitter, QVBoxLayout, QWidget

from ..core.report import KIND_WORDS
from .backup_browser import show_side_by_side
from .backup_rows import _item, _table, paging_bar
from .formatting import num

PAGE = 100
KIND_COLORS = {"insert": QColor("#1b7f3b"), "delete": QColor("#b00020"), "update": QColor("#8a5a00"),
               "left": QColor("#555555"), "relink": QColor("#1f5fa8"), "conflict": QColor("#b00020")}
# Why a restore of chosen rows writes a row (RestoreRow.why), for a person.
WHY_WORDS = {"chosen": "chosen", "dependent": "depends on a chosen row", "parent": "a parent a restored row needs"}
KIND_TIPS = {"relink": "exists now; its link, cleared when the row it points at was deleted, is put back",
             "conflict": "exists now and differs from the backup: kept as it is (Overwrite would make it the backup's)",
             "left": "differs from the backup: kept as it is"}


def why_text(row) -> str:
    return WHY_WORDS.get(row.why or "", row.why or "")


class RestoreRowsDialog(QDialog):
    """One dry run's changed rows; `table` is shown first."""

    def __init__(self, spool, table: str | None = None, parent=None):
        super().__init__(parent)
        self.spool = spool
        self.offset = 0
        self.more = False
        self.setWindowTitle("Rows the restore changes")
        self.setObjectName("restoreRows")
        self.resize(1000, 640)
        lay = QVBoxLayout(self)
        self.table = QComboBox()
        self.table.setAccessibleName("table whose rows are shown")
        for name in spool.tables():
            c = spool.counts[name]
            self.table.addItem(f"{name}  (" + ", ".join(f"{KIND_WORDS[k]} {num(c[k])}" for k in KIND_WORDS
                                                        if c.get(k)) + ")", name)
        self.table.currentIndexChanged.connect(lambda _=0: self.load(0))
        bar = paging_bar(self, "Search these rows (key, label, any value)…")
        bar.insertWidget(0, self.table, 1)
        lay.addLayout(bar)
        split = QSplitter(Qt.Vertical)
        self.rows = _table(["Change", "Key", "Label", "Why", "Columns (now → backup)"], "restore rows")
        self.rows.itemSelectionChanged.connect(self._row_chosen)
        split.addWidget(self.rows)
        self.record = _table(["Column", "Now", "Backup"], "restore record")
        self.record.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        split.addWidget(self.record)
        split.setSizes([360, 260])
        lay.addWidget(split, 1)
        if table is not None and (i := self.table.findData(table)) >= 0:
            self.table.setCurrentIndex(i)
        self.load(0)

    def current_table(self) -> str | None:
        return self.table.currentData()

    def load(self, offset: int) -> None:
        name = self.current_table()
        self.rows.setRowCount(0)
        self.record.setRowCount(0)
        if name is None:
            self.page.setText("no row changes")
            return
        rows, self.more = self.spool.page(name, offset, PAGE, self.search.text().strip())
        self.offset = offset
        self.rows.setRowCount(len(rows))
        for r, row in enumerate(rows):
            kind = _item(KIND_WORDS[row.kind], row)
            kind.setForeground(KIND_COLORS.get(row.kind, QColor("#000000")))
            kind.setToolTip(KIND_TIPS.get(row.kind, ""))
            self.rows.setItem(r, 0, kind)
            self.rows.setItem(r, 1, _item(row.key_text))
            self.rows.setItem(r, 2, _item(row.label or ""))
            self.rows.setItem(r, 3, _item(why_text(row)))
            self.rows.setItem(r, 4, _item("; ".join(f"{c.column}: {c.now if c.now is not None else 'NULL'} → "
                                                    f"{c.backup if c.backup is not None else 'NULL'}"
                                                    for c in row.changes)))
        self.rows.setColumnHidden(3, not any(row.why for row in rows))  # only chosen rows say why
        self.rows.resizeColumnsToContents()
        first = offset + 1 if rows else 0
        self.page.setText(f"{num(first)}–{num(offset + len(rows))}")
        self.prev.setEnabled(offset > 0)
        self.next.setEnabled(self.more)
        if rows:
            self.rows.selectRow(0)
            self._row_chosen()

    def _row_chosen(self) -> None:
        row = self.rows.currentRow()
        if row < 0 or self.rows.item(row, 0) is None:
            return
        rr = self.rows.item(row, 0).data(Qt.UserRole)
        show_side_by_side(self.record, rr.now, rr.backup, {c.column for c in rr.changes}, ("Now", "Backup"))
        self.record.resizeColumnsToContents()


def open_rows(parent: QWidget, spool, table: str | None) -> RestoreRowsDialog:
    dlg = RestoreRowsDialog(spool, table, parent)
    dlg.show()
    return dlg
