"""The backups panel: the selected organization's backups, newest first, with their state."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QTableWidgetItem, QVBoxLayout, QWidget

from ...core.partial import state_label
from ..formatting import num, size, title_label
from .table import Table


class BackupsPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        self.title = title_label("Backups")
        self.title.setObjectName("backupsTitle")
        self.table = Table(["Date", "Time", "Type", "Records", "Size", "State", "ID"], "backups")
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)
        lay.addWidget(self.title)
        lay.addWidget(self.table)

    def selected(self):
        return self.table.current_payload()

    def clear(self) -> None:
        self.table.setRowCount(0)
        self.title.setText("Backups")

    def fill(self, tenant: dict, items: list) -> None:
        self.title.setText(f"Backups of {tenant['name']} ({len(items)})")
        rows, colors = [], []
        for b in items:
            local = b.created_at.astimezone()
            state = QTableWidgetItem(state_label(b.complete, b.legacy, b.partial, b.problem))
            if b.partial:
                state.setToolTip("\n".join(b.partial_reasons))
            rows.append([local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S"), "legacy" if b.legacy else b.type,
                         num(b.total_records), size(b.total_size), state, b.id])
            colors.append(QColor("#b00020") if not b.complete else QColor("#b26a00") if b.partial else None)
        self.table.fill(rows, items, colors)
        self.table.align_right((3, 4))
