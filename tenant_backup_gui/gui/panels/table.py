"""The table every panel shows: whole rows selected, read-only, each row carrying its payload."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem


class Table(QTableWidget):
    def __init__(self, headers: list[str], name: str, parent=None):
        super().__init__(0, len(headers), parent)
        self.setHorizontalHeaderLabels(headers)
        self.setObjectName(name)
        self.setAccessibleName(name)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)

    def fill(self, rows: list[list[str]], payloads: list, colors: list | None = None) -> None:
        self.setSortingEnabled(False)
        self.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, v in enumerate(values):
                item = v if isinstance(v, QTableWidgetItem) else QTableWidgetItem(str(v))
                if c == 0:
                    item.setData(Qt.UserRole, payloads[r])
                if colors and colors[r] is not None:
                    item.setForeground(colors[r])
                self.setItem(r, c, item)

    def current_payload(self):
        row = self.currentRow()
        if row < 0 or self.item(row, 0) is None:
            return None
        return self.item(row, 0).data(Qt.UserRole)

    def align_right(self, columns: tuple[int, ...]) -> None:
        for r in range(self.rowCount()):
            for c in columns:
                self.item(r, c).setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
