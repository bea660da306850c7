"""The organizations panel: a search box over the tenants, those needing attention flagged."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QLineEdit, QStyle, QTableWidgetItem, QVBoxLayout, QWidget

from ..formatting import local
from .table import Table


NAME, LAST, STATUS = 1, 2, 3


class OrganizationsPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search organizations by name or id…")
        self.search.setAccessibleName("search organizations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.filter)
        self.table = Table(["", "Organization", "Last backup", "Status", "ID"], "organizations", key=lambda t: t["id"])
        self.table.setColumnHidden(4, True)  # searchable, and in the name's tooltip: not worth the width
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        lay.addWidget(self.search)
        lay.addWidget(self.table)

    def selected(self) -> dict | None:
        return self.table.current_payload()

    def fill(self, tenants: list[dict]) -> None:
        """The tenants, keeping the selection (Table.fill); else the first one to look at."""
        warn = self.style().standardIcon(QStyle.SP_MessageBoxWarning)
        rows = []
        for t in tenants:
            flag = QTableWidgetItem()
            if t["attention"]:
                flag.setIcon(warn)
                flag.setToolTip(t["why"])
                flag.setData(Qt.AccessibleTextRole, t["why"])
            name = QTableWidgetItem(t["name"] or "(no name)")
            name.setToolTip(t["id"])
            status = QTableWidgetItem(t["status"])
            status.setToolTip(t["why"] or t["status"])
            rows.append([flag, name, local(t["last_ok"]), status, t["id"]])
        self.table.fill(rows, tenants, [QColor("#777777") if t["deleted"] else None for t in tenants])
        self.filter(self.search.text())
        if tenants and self.table.currentRow() < 0:
            self._select_first_to_look_at(tenants)
        self.fit_columns()

    def _select_first_to_look_at(self, payloads: list[dict]) -> None:
        """The first active organization needing attention (failed or stale), else the first active one."""
        visible = [r for r in range(len(payloads)) if not self.table.isRowHidden(r)]
        for wanted in (lambda t: t["attention"] and not t["deleted"], lambda t: not t["deleted"], lambda t: True):
            row = next((r for r in visible if wanted(payloads[r])), None)
            if row is not None:
                self.table.selectRow(row)
                return

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.fit_columns()

    def fit_columns(self) -> None:
        """Names and statuses first: "Last backup" gives way when they would be cut (the status
        says how old the last backup is when that matters)."""
        t = self.table
        t.setColumnHidden(LAST, False)
        head = t.horizontalHeader()
        widths = [max(t.sizeHintForColumn(c), head.sectionSizeHint(c)) for c in (0, NAME, LAST, STATUS)]
        t.setColumnHidden(LAST, t.viewport().width() < sum(widths) + 12)

    def filter(self, text: str) -> None:
        text = text.strip().lower()
        for r in range(self.table.rowCount()):
            t = self.table.item(r, 0).data(Qt.UserRole)
            hay = f"{t['name'] or ''} {t['id']}".lower()
            self.table.setRowHidden(r, bool(text) and text not in hay)
