"""The history panel: backup_logs, filtered by type, status and (by default) the selected organization."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QTableWidgetItem, QVBoxLayout, QWidget

from ...core import history as h
from ...core import manifest as mf
from ..formatting import local, num, size, title_label
from .table import Table

TYPE_FILTER = (h.MANUAL, h.DAILY_TENANT, h.DAILY, h.SAFETY, h.RESTORE, h.DRY_RUN, h.CLEANUP)
SIZE, DURATION, WHO, DETAIL, ORGANIZATION = 4, 5, 6, 7, 8
GIVE_WAY = (WHO, DURATION, SIZE)  # hidden in this order when Detail would get less than DETAIL_WIDTH
WHO_WIDTH, DETAIL_WIDTH = 120, 340
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
        # Organization is the last logical column (tests and readers index the others), shown second.
        self.table = Table(["Started", "Type", "Status", "Records", "Size", "Duration", "Who", "Detail", "Organization"],
                           "history", key=lambda row: row.get("id"))
        head = self.table.horizontalHeader()
        head.moveSection(ORGANIZATION, 1)
        head.setStretchLastSection(False)  # the last visual column is Detail, stretched below
        head.setSectionResizeMode(DETAIL, QHeaderView.Interactive)  # fit_detail: what is left, never a sliver
        head.setSectionResizeMode(WHO, QHeaderView.Interactive)
        self.table.setColumnHidden(ORGANIZATION, True)
        lay.addLayout(bar)
        lay.addWidget(self.table)

    def filters(self) -> tuple[str | None, str | None]:
        """(type, status) chosen, None for all."""
        return (self.type.currentText() if self.type.currentIndex() > 0 else None,
                self.status.currentText() if self.status.currentIndex() > 0 else None)

    def fill(self, items: list[dict], names: dict[str, str] | None = None) -> None:
        """The rows; with more than one organization among them, an Organization column naming each."""
        names = names or {}
        orgs = {row.get("organization_id") for row in items if row.get("organization_id")}
        rows, colors = [], []
        for row in items:
            took = h.duration(row)
            sized = mf.history_size(row)
            detail = QTableWidgetItem(history_detail(row))
            detail.setToolTip(detail.text())
            who = QTableWidgetItem(f"{row['run_by'] or ''}@{row['run_host'] or ''}")
            who.setToolTip(who.text())
            org_id = row.get("organization_id")
            org = QTableWidgetItem(names.get(org_id) or org_id or "all")
            org.setToolTip(org_id or "every organization")
            rows.append([local(row["started_at"]), row["backup_type"], row["status"], num(row["records_backed_up"]),
                         size(sized) if sized else "", f"{took:.1f} s" if took is not None else "—",
                         who, detail, org])
            colors.append(QColor("#b00020") if row["status"] in h.ENDED_BADLY else
                          QColor("#b26a00") if row["status"] == h.COMPLETED_WITH_ERRORS else None)
        self.table.fill(rows, items, colors)
        self.table.align_right((3, 4, 5))
        self.table.setColumnHidden(ORGANIZATION, len(orgs) < 2)
        self.fit_detail()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.fit_detail()

    def fit_detail(self) -> None:
        """Detail takes what the other columns leave, at least DETAIL_WIDTH (or its text): in a
        narrow window Who, then Duration, then Size give way (all in the entry's dialog) before the
        one column saying what happened shrinks to a sliver; past that the table scrolls sideways."""
        t = self.table
        wanted = min(max(t.sizeHintForColumn(DETAIL), 60), DETAIL_WIDTH)
        for c in GIVE_WAY:
            t.setColumnHidden(c, False)
        head = t.horizontalHeader().sectionSizeHint(WHO)
        t.setColumnWidth(WHO, max(head, min(t.sizeHintForColumn(WHO), WHO_WIDTH)))  # user@host: cut, whole in its tooltip
        others = lambda: sum(t.columnWidth(c) for c in range(t.columnCount())  # noqa: E731
                             if c != DETAIL and not t.isColumnHidden(c))
        for c in GIVE_WAY:
            if t.viewport().width() - others() >= wanted:
                break
            t.setColumnHidden(c, True)
        t.setColumnWidth(DETAIL, max(t.viewport().width() - others(), wanted))
