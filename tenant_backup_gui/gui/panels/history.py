"""The history panel: backup_logs, filtered by type, status and (by default) the selected organization."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QTableWidgetItem, QVBoxLayout, QWidget

from ...core import history as h
from ...core import manifest as mf
from ..formatting import local, num, size, title_label
from .table import Table

TYPE_FILTER = (h.MANUAL, h.DAILY_TENANT, h.DAILY, h.SAFETY, h.RESTORE, h.DRY_RUN, h.CLEANUP)
STATUS_FILTER = (h.COMPLETED, h.COMPLETED_WITH_ERRORS, h.FAILED, h.CANCELLED, h.IN_PROGRESS)


def history_detail(row: dict) -> str:
    """What the Detail column says of a history row: its first error, else its first warning, else
    which backups it made or used."""
    errors = row.get("errors") or []
    meta = row.get("metadata") or {}
    warnings = meta.get("warnings") or []
    more = lambda xs: f" (+{len(xs) - 1} more)" if len(xs) > 1 else ""  # noqa: E731
    if errors:
        return f"{errors[0]}{more(errors)}"
    if warnings:
        return f"warning: {warnings[0]}{more(warnings)}"
    if row.get("backup_type") == h.RESTORE and meta.get("safety_backup_id"):
        return f"from {row.get('backup_id')}; safety backup {meta['safety_backup_id']}"
    if row.get("backup_type") == h.DRY_RUN and row.get("backup_id"):
        mode = (meta.get("options") or {}).get("mode")
        return f"{mode + ' ' if mode else ''}from {row['backup_id']}"
    if row.get("backup_type") == h.DAILY and "successful_tenants" in meta:
        return f"{meta['successful_tenants']} ok, {meta.get('failed_tenants', 0)} failed"
    return f"backup {row['backup_id']}" if row.get("backup_id") else ""


class HistoryPanel(QWidget):
    filters_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        bar = QHBoxLayout()
        title = title_label("History")
        self.type = QComboBox()
        self.type.setAccessibleName("history type filter")
        self.type.addItems(["all types", *TYPE_FILTER])
        self.status = QComboBox()
        self.status.setAccessibleName("history status filter")
        self.status.addItems(["any status", *STATUS_FILTER])
        self.only_tenant = QCheckBox("only this organization")
        self.only_tenant.setChecked(True)
        for w in (self.type, self.status):
            w.currentIndexChanged.connect(lambda _=None: self.filters_changed.emit())
        self.only_tenant.toggled.connect(lambda _=None: self.filters_changed.emit())
        bar.addWidget(title)
        bar.addStretch(1)
        bar.addWidget(self.only_tenant)
        bar.addWidget(self.type)
        bar.addWidget(self.status)
        self.table = Table(["Started", "Type", "Status", "Records", "Size", "Duration", "Who", "Detail"], "history")
        lay.addLayout(bar)
        lay.addWidget(self.table)

    def filters(self) -> tuple[str | None, str | None]:
        """(type, status) chosen, None for all."""
        return (self.type.currentText() if self.type.currentIndex() > 0 else None,
                self.status.currentText() if self.status.currentIndex() > 0 else None)

    def fill(self, items: list[dict]) -> None:
        rows, colors = [], []
        for row in items:
            took = h.duration(row)
            sized = mf.history_size(row)
            detail = QTableWidgetItem(history_detail(row))
            detail.setToolTip(detail.text())
            rows.append([local(row["started_at"]), row["backup_type"], row["status"], num(row["records_backed_up"]),
                         size(sized) if sized else "", f"{took:.1f} s" if took is not None else "—",
                         f"{row['run_by'] or ''}@{row['run_host'] or ''}", detail])
            colors.append(QColor("#b00020") if row["status"] in h.ENDED_BADLY else
                          QColor("#b26a00") if row["status"] == h.COMPLETED_WITH_ERRORS else None)
        self.table.fill(rows, items, colors)
        self.table.align_right((3, 4, 5))
