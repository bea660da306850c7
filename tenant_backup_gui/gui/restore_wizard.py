"""The restore wizard: backup → mode and tables → dry run → confirm → apply → result.

Its Next button on the dry-run page stays disabled until a dry run of exactly the current choices
succeeded; any change of backup, mode or tables throws that dry run away. The apply runs the
dry run's plan and nothing else.

The pages from the dry run on are gui/wizard_run_pages.py; this module re-exports them and the
PAGE_* ids, so callers keep importing from here."""

from __future__ import annotations

import textwrap

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QLabel, QListWidget, QListWidgetItem, QRadioButton,
                               QStackedWidget, QVBoxLayout, QWidget, QWizard, QWizardPage)

from ..core.plan import RestoreOptions
from ..core.results import DryRunReport, RestoreResult
from .formatting import num, size
from .row_picker import RowPicker, relink_box
from .wizard_run_pages import (PAGE_APPLY, PAGE_BACKUP, PAGE_CONFIRM, PAGE_DRY_RUN, PAGE_OPTIONS,  # noqa: F401 - re-exported
                               PAGE_RESULT, ApplyPage, ConfirmPage, DryRunPage, ResultPage, _rows, files_text, verdict)

DESTRUCTIVE = ("QPushButton { background: #b00020; color: white; font-weight: bold; padding: 4px 12px; }"
               "QPushButton:disabled { background: #e7b3bb; color: #fff; }")
WARNING = "background: #fff4e5; color: #663c00; border: 1px solid #ffb74d; padding: 6px;"
UNSIGNED = ("This backup is NOT signed by this installation (an old-system backup, one written where no backup key "
            "was reachable, or one changed since). Anyone who can write the backup folder could have written it. "
            "Yes, I know where it came from: use it anyway.")


def wrapped(text: str, width: int = 110) -> str:
    """A tick's long text in lines: a QCheckBox does not wrap, and one line widened the wizard past 1280 px."""
    return textwrap.fill(text, width)


def _backup_label(b) -> str:
    local = b.created_at.astimezone()
    kind = "old system, no checksums" if b.legacy else b.type
    mark = ("   — PARTIAL: rows missing" if b.partial else "") + ("" if b.signed else "   — UNSIGNED")
    return f"{local:%Y-%m-%d %H:%M:%S}   {kind}   {num(b.total_records)} records{mark}"


def partial_warning(b) -> str:
    return ("⚠ This backup is PARTIAL — the old system stopped reading early:\n"
            + "\n".join(f"  • {why}" for why in b.partial_reasons)
            + "\nReplace would delete every current row it lacks: Missing rows only is chosen for you.")


class BackupPage(QWizardPage):
    def __init__(self, wiz: "RestoreWizard"):
        super().__init__()
        self.wiz = wiz
        self.setTitle("Choose the backup")
        self.setSubTitle(f"Restore {wiz.tenant['name']} from one of its complete backups (newest first).")
        lay = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setAccessibleName("backups to restore from")
        for b in wiz.backups:
            if not b.complete:
                continue
            item = QListWidgetItem(_backup_label(b))
            item.setData(Qt.UserRole, b)
            item.setToolTip(f"backup {b.id}" + ("\n" + "\n".join(b.partial_reasons) if b.partial else ""))
            if b.partial:
                item.setForeground(QColor("#8a4b00"))
            self.list.addItem(item)
            if b.id == wiz.backup.id:
                self.list.setCurrentItem(item)
        self.list.currentItemChanged.connect(self._changed)
        lay.addWidget(self.list)

    def _changed(self, item, _prev=None) -> None:
        if item is not None:
            self.wiz.backup = item.data(Qt.UserRole)
            self.wiz.invalidate()
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.list.currentItem() is not None


class OptionsPage(QWizardPage):
    def __init__(self, wiz: "RestoreWizard"):
        super().__init__()
        self.wiz = wiz
        self.setTitle("What to restore")
        self.setSubTitle("Replace everything, put back what was deleted since the backup, or only the rows you choose.")
        lay = QVBoxLayout(self)
        self.partial = QLabel()
        self.partial.setObjectName("partialWarning")
        self.partial.setWordWrap(True)
        self.partial.setStyleSheet(WARNING)
        self.partial.setVisible(False)
        lay.addWidget(self.partial)
        self.replace = QRadioButton("&Replace: the organization becomes exactly the backup")
        self.missing = QRadioButton("&Missing rows only: put back rows deleted since the backup, change nothing else")
        self.chosen = QRadioButton("&Chosen rows…: put back only the rows you tick in the backup (and what they need)")
        self.chosen.setObjectName("chosenRows")
        self.replace.setChecked(True)
        self.defaulted_for = None  # the backup whose default mode was set
        group = QButtonGroup(self)
        for b in (self.replace, self.missing, self.chosen):
            group.addButton(b)
            lay.addWidget(b)
            b.toggled.connect(lambda _=False: self._mode_changed())
        self.stack = QStackedWidget()  # the tables (replace, missing rows only), or the rows to tick
        whole = QWidget()
        wl = QVBoxLayout(whole)
        wl.setContentsMargins(0, 0, 0, 0)
        wl.addWidget(QLabel("Tables (all checked: the whole organization):"))
        self.tables = QListWidget()
        self.tables.setAccessibleName("tables to restore")
        self.tables.itemChanged.connect(lambda _=None: self.wiz.invalidate())
        wl.addWidget(self.tables)
        self.stack.addWidget(whole)
        self.picker = RowPicker(wiz.ctx, wiz.tenant["id"])
        self.picker.changed.connect(lambda: (self.wiz.invalidate(), self.completeChanged.emit()))
        self.stack.addWidget(self.picker)
        lay.addWidget(self.stack, 1)
        self.relink = relink_box()
        self.relink.toggled.connect(lambda _=False: self.wiz.invalidate())
        lay.addWidget(self.relink)
        self.files = QCheckBox()  # shown when the backup holds the organization's Storage objects
        self.files.setObjectName("restoreFiles")
        self.files.setChecked(True)
        self.files.setVisible(False)
        self.files.toggled.connect(lambda _=False: self.wiz.invalidate())
        lay.addWidget(self.files)
        self.trust = QCheckBox(wrapped(UNSIGNED))  # shown for a backup this installation did not sign (core/signing.py)
        self.trust.setObjectName("trustUnsigned")
        self.trust.setStyleSheet("color: #b00020; font-weight: bold;")
        self.trust.setVisible(False)
        self.trust.toggled.connect(lambda _=False: (self.wiz.invalidate(), self.completeChanged.emit()))
        lay.addWidget(self.trust)
        self.relink.setVisible(False)  # Replace: every link is the backup's anyway

    def _mode_changed(self) -> None:
        """Chosen rows show the backup's rows to tick (and never touch files); the relink tick
        belongs to the modes that keep today's rows."""
        rows = self.chosen.isChecked()
        self.stack.setCurrentIndex(1 if rows else 0)
        self.relink.setVisible(not self.replace.isChecked())
        self.files.setVisible(not rows and self.wiz.backup.files is not None)
        if rows:
            self.picker.set_backup(self.wiz.backup)
            if self.isVisible():
                self.picker.shown()
            self.wiz.fit_for_rows()
        self.wiz.invalidate()
        self.completeChanged.emit()

    def initializePage(self) -> None:
        self.tables.blockSignals(True)
        self.tables.clear()
        b = self.wiz.backup
        self.partial.setVisible(b.partial)
        self.partial.setText(partial_warning(b) if b.partial else "")
        if self.defaulted_for != b.id:  # a partial backup defaults to the mode that deletes nothing
            self.defaulted_for = b.id
            (self.missing if b.partial else self.replace).setChecked(True)
        self.trust.setVisible(not b.signed)
        if self.trust.isChecked() and b.signed:
            self.trust.setChecked(False)
        self.files.setVisible(b.files is not None and not self.chosen.isChecked())
        self.picker.set_backup(b)
        if self.chosen.isChecked():
            self.picker.shown()
        if b.files is not None:
            self.files.setText(f"Also the organization's files ({num(len(b.files))} objects, "
                               f"{size(sum(e.size for e in b.files))})")
        for name in b.order or sorted(b.tables):
            if name not in b.tables:
                continue
            item = QListWidgetItem(f"{name}  ({_rows(b.tables[name].record_count)})")
            item.setData(Qt.UserRole, name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked)
            self.tables.addItem(item)
        self.tables.blockSignals(False)

    def options(self) -> RestoreOptions:
        if self.chosen.isChecked():  # chosen rows never touch files
            return RestoreOptions("rows", rows=self.picker.rows(), with_dependents=self.picker.dependents.isChecked(),
                                  overwrite=self.picker.overwrite.isChecked(), relink=self.relink.isChecked(),
                                  files="none")
        names = [self.tables.item(i).data(Qt.UserRole) for i in range(self.tables.count())]
        checked = [n for i, n in enumerate(names) if self.tables.item(i).checkState() == Qt.Checked]
        mode = "missing-only" if self.missing.isChecked() else "replace"
        # A dry run changes nothing: the replace of a partial backup is accepted on the confirm page, by a tick.
        return RestoreOptions(mode, () if len(checked) == len(names) else tuple(checked),
                              accept_partial=self.wiz.backup.partial and mode == "replace",
                              files="with" if self.files.isChecked() or self.wiz.backup.files is None else "none",
                              relink=self.relink.isChecked() or mode == "replace")

    def isComplete(self) -> bool:
        if not self.wiz.backup.signed and not self.trust.isChecked():
            return False
        if self.chosen.isChecked():
            return bool(self.picker.pager.chosen)
        return any(self.tables.item(i).checkState() == Qt.Checked for i in range(self.tables.count())) \
            or self.tables.count() == 0


class RestoreWizard(QWizard):
    """One restore of one tenant. `undo_requested` carries the safety backup's id."""

    undo_requested = Signal(str)

    def __init__(self, ctx, tenant: dict, backup, backups: list, parent=None):
        super().__init__(parent)
        self.ctx, self.tenant, self.backup, self.backups = ctx, tenant, backup, backups
        self.plan: DryRunReport | None = None
        self.result: RestoreResult | None = None
        self.error = ""
        self.changed: list[str] = []  # what a failed apply may have changed (RestoreApplyJob.changed)
        self.running = None
        # Restoring the safety backup a restore took is that restore's undo (services/restore_base.py is_undo).
        self.setWindowTitle(f"{'Undo the restore of' if backup.type == 'safety' else 'Restore'} {tenant['name']}")
        self.setObjectName("restoreWizard")
        self.setOption(QWizard.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.NoCancelButtonOnLastPage, True)
        self.pages = [BackupPage(self), OptionsPage(self), DryRunPage(self), ConfirmPage(self), ApplyPage(self),
                      ResultPage(self)]
        for i, p in enumerate(self.pages):
            self.setPage(i, p)
        self.setWizardStyle(QWizard.ModernStyle)  # one header style for every page, on every platform
        self.currentIdChanged.connect(self._style_next)
        self.resize(820, 560)

    def _style_next(self, page_id: int) -> None:
        """The button that changes the organization's data looks like it."""
        self.button(QWizard.NextButton).setStyleSheet(DESTRUCTIVE if page_id == PAGE_CONFIRM else "")

    def fit_for_rows(self) -> None:
        """The rows to tick need room: a bigger wizard, still within a 1280 × 800 screen."""
        self.resize(max(self.width(), 1040), max(self.height(), 720))

    def trust_unsigned(self) -> bool:
        """The owner ticked the box naming the risk of a backup this installation did not sign."""
        return self.pages[PAGE_OPTIONS].trust.isChecked()

    def choices(self) -> tuple[str, RestoreOptions]:
        return self.backup.id, self.pages[PAGE_OPTIONS].options()

    def invalidate(self) -> None:
        """A choice changed: the dry run no longer describes what would be applied."""
        self.plan = None
        self.pages[PAGE_DRY_RUN].task = None
        self.pages[PAGE_DRY_RUN].invalidate()

    def reject(self) -> None:
        if self.running is not None:
            self.running.cancel()
        self.pages[PAGE_OPTIONS].picker.cancel_jobs()  # a page of rows still being read
        super().reject()

    def undo(self) -> None:
        if self.result:
            self.undo_requested.emit(self.result.safety_backup_id)
            self.accept()
