"""The backups panel: the selected organization's backups, newest first, with their state."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableWidgetItem, QVBoxLayout, QWidget

from ...core import signing
from ...core.partial import state_label
from ..formatting import num, size, title_label
from .table import Table

STATE, ID = 5, 6
# Why a backup is not this installation's own, in the State column (the restore asks for a tick first).
ORIGIN = {signing.UNSIGNED: ("UNSIGNED", "not signed: an old-system backup, or written where no backup key was "
                                         "reachable; a restore asks you to trust it first"),
          signing.ALTERED: ("ALTERED", "changed after it was signed: restoring it is refused"),
          signing.OTHER_KEY: ("signed by another key", "signed by a key this installation does not hold")}


def total_bytes(b) -> int:
    """What the backup holds: its table parts and its copies of the tenant's files."""
    return int(b.total_size or 0) + sum(int(f.size or 0) for f in b.files or [])


def state_text(b) -> tuple[str, str]:
    """(the State cell, its tooltip)."""
    label = state_label(b.complete, b.legacy, b.partial, b.problem)
    tips = list(b.partial_reasons) if b.partial else [label]
    origin = ORIGIN.get(b.origin.state) if b.complete else None
    if origin:
        label = f"{label} · {origin[0]}"
        tips.append(origin[1])
    return label, "\n".join(tips)


class BackupsPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        self.title = title_label("Backups")
        self.title.setObjectName("backupsTitle")
        self.table = Table(["Date", "Time", "Type", "Records", "Size", "State", "ID"], "backups", key=lambda b: b.id)
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)
        # State is shown last and takes what is left: a long INCOMPLETE reason is cut there (whole in
        # its tooltip) instead of pushing the ID out of view. Logical columns stay as they were.
        self.table.horizontalHeader().moveSection(ID, STATE)
        self.table.horizontalHeader().setStretchLastSection(False)  # the logical last is the ID
        self.table.horizontalHeader().setSectionResizeMode(STATE, QHeaderView.Stretch)
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
            text, tip = state_text(b)
            state = QTableWidgetItem(text)
            state.setToolTip(tip)
            sized = QTableWidgetItem(size(total_bytes(b)))
            if b.files:
                sized.setToolTip(f"tables {size(b.total_size)}, {num(len(b.files))} files "
                                 f"{size(total_bytes(b) - int(b.total_size or 0))}")
            rows.append([local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S"), "legacy" if b.legacy else b.type,
                         num(b.total_records), sized, state, b.id])
            colors.append(QColor("#b00020") if not b.complete else
                          QColor("#b26a00") if b.partial or not b.signed else None)
        self.table.fill(rows, items, colors)
        self.table.align_right((3, 4))
