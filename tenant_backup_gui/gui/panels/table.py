"""The table every panel shows: whole rows selected, read-only, each row carrying its payload.
A refresh keeps the selection on the same thing (a backup, a tenant, a history entry), found by
its key, never on the same row number: a new backup above it must not move the owner's choice."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem


class Table(QTableWidget):
    def __init__(self, headers: list[str], name: str, parent=None, key: Callable | None = None):
        super().__init__(0, len(headers), parent)
        self.key = key or (lambda payload: payload)
        self.setHorizontalHeaderLabels(headers)
        self.setObjectName(name)
        self.setAccessibleName(name)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setTabKeyNavigation(False)  # Tab leaves for the next pane; the arrows move within
        self.setWordWrap(False)  # one line a row, cut with "…" (wrapped names hid the widths columns need)
        self.verticalHeader().setVisible(False)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)

    def current_key(self):
        payload = self.current_payload()
        return None if payload is None else self.key(payload)

    def fill(self, rows: list[list[str]], payloads: list, colors: list | None = None) -> None:
        """New rows; the selected payload stays selected where it went, or nothing is (one
        itemSelectionChanged then, none while the rows are rewritten)."""
        kept = self.current_key()
        self.blockSignals(True)
        try:
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
            row = next((r for r, p in enumerate(payloads) if kept is not None and self.key(p) == kept), -1)
            if row >= 0:
                self.selectRow(row)
            else:
                self.clearSelection()
                self.setCurrentIndex(self.model().index(-1, -1))
        finally:
            self.blockSignals(False)
        if self.current_key() != kept:
            self.itemSelectionChanged.emit()

    def current_payload(self):
        row = self.currentRow()
        if row < 0 or self.item(row, 0) is None:
            return None
        return self.item(row, 0).data(Qt.UserRole)

    def align_right(self, columns: tuple[int, ...]) -> None:
        for r in range(self.rowCount()):
            for c in columns:
                self.item(r, c).setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
