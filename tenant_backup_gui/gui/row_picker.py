"""The restore wizard's "Chosen rows…": the backup's rows to tick, per table, paged and searchable
(the backup browser's row view, gui/backup_rows.py), and the three ticks that say what else a
restore of chosen rows does. The ticks are kept across tables, pages and searches; a count says
how many are chosen. What it gives the wizard is RestoreOptions' rows, with_dependents, overwrite
and relink (core/plan.py): the engine (resources/sql/restore_choice.sql) does the rest."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSplitter, QVBoxLayout,
                               QWidget)

from .backup_rows import OwnJobs, RowPager, _item, _table
from .formatting import num
from .jobs import JobRunner

NONE_TICKED = "Tick at least one row"


def relink_box() -> QCheckBox:
    """Missing rows only and chosen rows: links the deletions cleared (ON DELETE SET NULL) come back."""
    box = QCheckBox("Put back &links cleared when they were deleted")
    box.setObjectName("relink")
    box.setToolTip("A row that exists now and lost its link (set to NULL) when the row it pointed at was deleted "
                   "gets that link back, when this restore brings that row back")
    box.setChecked(True)
    return box


class RowPicker(QWidget, OwnJobs):
    """The tables of one backup on the left (with how many rows of each are ticked), the chosen
    table's rows on the right. `changed`: a tick or an option changed."""

    changed = Signal()

    def __init__(self, ctx, org: str, parent=None):
        super().__init__(parent)
        self.ctx, self.org = ctx, org
        self.backup = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        panel = QVBoxLayout()  # a page being read: its progress row and Cancel
        self.runner = JobRunner(panel, self)
        self.runner.failed.connect(lambda _t, message, _d: message == "cancelled" or self.status.setText(message))
        split = QSplitter(Qt.Horizontal)
        self.tables = _table(["Table", "Rows"], "tables to choose rows from")
        self.tables.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.tables.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.tables.horizontalHeader().setStretchLastSection(False)
        self.tables.itemSelectionChanged.connect(self._table_chosen)
        split.addWidget(self.tables)
        self.pager = RowPager(ctx, org, "", self._submit, self.cancel_jobs, checkable=True)
        self.pager.search.setPlaceholderText("Search this table's rows in the backup (a name, an email, any value)…")
        self.pager.ticked.connect(self._ticked)
        self.pager.status.connect(lambda text: self.status.setText(text))
        right = QWidget()
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(0, 0, 0, 0)
        self.deleted_only = QCheckBox("Only rows d&eleted since the backup")
        self.deleted_only.setObjectName("deletedOnly")
        self.deleted_only.setToolTip("The rows of this table the backup holds and the organization does not hold now "
                                     "(compared with the data now: tenant-backup diff --against now)")
        self.deleted_only.toggled.connect(lambda _=False: self._table_chosen())
        rlay.addWidget(self.deleted_only)
        rlay.addWidget(self.pager, 1)
        split.addWidget(right)
        split.setSizes([260, 640])
        lay.addWidget(split, 1)
        self.status = QLabel("")
        self.status.setObjectName("pickerStatus")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        lay.addLayout(panel)
        bar = QHBoxLayout()
        self.count = QLabel(NONE_TICKED)
        self.count.setObjectName("chosenCount")
        self.count.setAccessibleName("how many rows are ticked")
        self.clear = QPushButton("&Untick all")
        self.clear.setEnabled(False)
        self.clear.clicked.connect(self.pager.clear_ticks)
        bar.addWidget(self.count, 1)
        bar.addWidget(self.clear)
        lay.addLayout(bar)
        self.dependents = QCheckBox("With the rows that &depend on them (a customer's rentals, invoices and their "
                                    "lines: any depth)")
        self.dependents.setObjectName("withDependents")
        self.dependents.setChecked(True)
        self.overwrite = QCheckBox("&Overwrite rows that exist now and differ")
        self.overwrite.setObjectName("overwrite")
        self.overwrite.setToolTip("Otherwise such rows are conflicts: listed by the dry run and kept as they are")
        self.overwrite_why = QLabel("Unticked, a chosen or dependent row that exists now and differs from the backup "
                                    "is a conflict: listed by the dry run, kept as it is.")
        self.overwrite_why.setWordWrap(True)
        self.overwrite_why.setStyleSheet("color: #555555; margin-left: 22px;")
        for w in (self.dependents, self.overwrite):
            w.toggled.connect(lambda _=False: self.changed.emit())
        for w in (self.dependents, self.overwrite, self.overwrite_why):
            lay.addWidget(w)

    # ------------------------------------------------------------ the backup
    def set_backup(self, backup) -> None:
        """The wizard's backup (stores' BackupInfo): its tables; ticks of another backup are dropped."""
        if self.backup is not None and self.backup.id == backup.id:
            return
        self.cancel_jobs()
        self.backup = backup
        self.pager.backup_id = backup.id
        self.pager.table = None
        self.pager.chosen.clear()
        self.pager.rows.setRowCount(0)
        names = [n for n in (backup.order or sorted(backup.tables)) if n in backup.tables]
        self.tables.blockSignals(True)
        self.tables.setRowCount(len(names))
        for r, name in enumerate(names):
            self.tables.setItem(r, 0, _item(name, name))
            count = _item(num(backup.tables[name].record_count))
            count.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            self.tables.setItem(r, 1, count)
        self.tables.blockSignals(False)
        self._ticked()

    def shown(self) -> None:
        """The picker came into view: the first table's rows, if none is shown yet."""
        if self.pager.table is None and self.tables.rowCount():
            self.tables.selectRow(0)
            if self.pager.table is None:  # the row was selected already: no signal
                self._table_chosen()

    def select_table(self, name: str) -> None:
        for r in range(self.tables.rowCount()):
            if self.tables.item(r, 0).data(Qt.UserRole) == name:
                self.tables.selectRow(r)
                return

    def _table_chosen(self) -> None:
        row = self.tables.currentRow()
        if row < 0:
            return
        name = self.tables.item(row, 0).data(Qt.UserRole)
        if not self.deleted_only.isChecked():
            self.pager.show_table(name)
            return
        # The bad day's question: which of the backup's rows are gone now? The diff against now answers it.
        self.pager.table = name
        self.cancel_jobs()
        self.status.setText(f"comparing {name} with the data now…")
        from ..services.browse_diff import KEEP, DiffJob
        self._submit(f"Compare {name} with now", lambda ev: DiffJob(self.ctx, self.org, self.backup.id, "now", name,
                                                                    on_event=ev), lambda result: self._deleted(name, result, KEEP))

    def _deleted(self, name: str, result, keep: int) -> None:
        if self.pager.table != name or not self.deleted_only.isChecked():
            return
        from ..services.browse import Record
        t = next((t for t in result.tables if t.name == name), None)
        key = list(t.key) if t else []
        gone = [rc for rc in (t.rows if t else []) if rc.kind == "removed" and rc.old is not None]
        records = [Record(tuple(rc.old.get(k) for k in key), rc.key, rc.label, rc.old) for rc in gone]
        more = t is not None and t.removed > len(gone)
        self.pager.show_fixed(name, key, records, " deleted since the backup" + (
            f" (the first {num(keep)} of {num(t.removed)}: search to narrow)" if more else ""))

    # ------------------------------------------------------------ the choice
    def rows(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The ticked rows as RestoreOptions.rows, in the order ticked."""
        return tuple((table, key) for table, key in self.pager.chosen)

    def _ticked(self) -> None:
        per: dict[str, int] = {}
        for table, _ in self.pager.chosen:
            per[table] = per.get(table, 0) + 1
        for r in range(self.tables.rowCount()):
            name = self.tables.item(r, 0).data(Qt.UserRole)
            self.tables.item(r, 0).setText(f"{name}  ✓ {num(per[name])}" if name in per else name)
        n = len(self.pager.chosen)
        self.count.setText(f"{num(n)} row{'' if n == 1 else 's'} chosen"
                           + (f" in {num(len(per))} tables" if len(per) > 1 else "") if n else NONE_TICKED)
        self.count.setStyleSheet("" if n else "color: #b00020")
        self.clear.setEnabled(bool(n))
        self.changed.emit()
