"""The restore wizard: backup → mode and tables → dry run → confirm → apply → result.

Its Next button on the dry-run page stays disabled until a dry run of exactly the current choices
succeeded; any change of backup, mode or tables throws that dry run away. The apply runs the
dry run's plan and nothing else."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QCheckBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QPlainTextEdit, QProgressBar, QPushButton,
                               QRadioButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWizard, QWizardPage)

from ..core import report
from ..core.errors import TenantBackupError
from ..core.events import Event
from ..core.plan import RestoreOptions
from ..core.results import DryRunReport, RestoreResult
from ..services.restore import RestoreApplyJob, RestoreDryRunJob
from .formatting import num, size, style_title

PAGE_BACKUP, PAGE_OPTIONS, PAGE_DRY_RUN, PAGE_CONFIRM, PAGE_APPLY, PAGE_RESULT = range(6)


DESTRUCTIVE = ("QPushButton { background: #b00020; color: white; font-weight: bold; padding: 4px 12px; }"
               "QPushButton:disabled { background: #e7b3bb; color: #fff; }")
WARNING = "background: #fff4e5; color: #663c00; border: 1px solid #ffb74d; padding: 6px;"


def _backup_label(b) -> str:
    local = b.created_at.astimezone()
    kind = "old system, no checksums" if b.legacy else b.type
    mark = ("   — PARTIAL: rows missing" if b.partial else "") + ("" if b.signed else "   — UNSIGNED")
    return f"{local:%Y-%m-%d %H:%M:%S}   {kind}   {num(b.total_records)} records{mark}"


def _rows(n: int) -> str:
    return report.rows(n, num)


def files_text(f: dict | None, shown: int = 8, done: bool = False) -> str:
    """The files section of a dry run (or, done, of an apply), in the window's number format."""
    return "\n".join(report.files_lines(f, done=done, shown=shown, num=num, size=size))


def verdict(result, mode: str, partial: bool) -> str:
    """The dry run in one plain sentence (core/report.py), in the window's number format."""
    return report.verdict(result, mode, partial, num)


def _failure(err: BaseException) -> str:
    """One line for any error: ours say what to do; anything else is named, never swallowed."""
    return str(err) if isinstance(err, TenantBackupError) else f"internal error: {type(err).__name__}: {err}"


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
        self.setSubTitle("Replace everything, or only put back what was deleted since the backup.")
        lay = QVBoxLayout(self)
        self.partial = QLabel()
        self.partial.setObjectName("partialWarning")
        self.partial.setWordWrap(True)
        self.partial.setStyleSheet(WARNING)
        self.partial.setVisible(False)
        lay.addWidget(self.partial)
        self.replace = QRadioButton("Replace: the organization becomes exactly the backup")
        self.missing = QRadioButton("Missing rows only: put back rows deleted since the backup, change nothing else")
        self.replace.setChecked(True)
        self.defaulted_for = None  # the backup whose default mode was set
        group = QButtonGroup(self)
        for b in (self.replace, self.missing):
            group.addButton(b)
            lay.addWidget(b)
            b.toggled.connect(lambda _=False: self.wiz.invalidate())
        lay.addWidget(QLabel("Tables (all checked: the whole organization):"))
        self.tables = QListWidget()
        self.tables.setAccessibleName("tables to restore")
        self.tables.itemChanged.connect(lambda _=None: self.wiz.invalidate())
        lay.addWidget(self.tables)
        self.files = QCheckBox()  # shown when the backup holds the organization's Storage objects
        self.files.setObjectName("restoreFiles")
        self.files.setChecked(True)
        self.files.setVisible(False)
        self.files.toggled.connect(lambda _=False: self.wiz.invalidate())
        lay.addWidget(self.files)
        self.trust = QCheckBox()  # shown for a backup this installation did not sign (core/signing.py)
        self.trust.setObjectName("trustUnsigned")
        self.trust.setStyleSheet("color: #b00020; font-weight: bold;")
        self.trust.setVisible(False)
        self.trust.toggled.connect(lambda _=False: (self.wiz.invalidate(), self.completeChanged.emit()))
        lay.addWidget(self.trust)

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
        self.trust.setText("This backup is NOT signed by this installation (an old-system backup, one written where "
                           "no backup key was reachable, or one changed since). Anyone who can write the backup folder "
                           "could have written it. Yes, I know where it came from: use it anyway.")
        self.files.setVisible(b.files is not None)
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
        names = [self.tables.item(i).data(Qt.UserRole) for i in range(self.tables.count())]
        checked = [n for i, n in enumerate(names) if self.tables.item(i).checkState() == Qt.Checked]
        mode = "missing-only" if self.missing.isChecked() else "replace"
        # A dry run changes nothing: the replace of a partial backup is accepted on the confirm page, by a tick.
        return RestoreOptions(mode, () if len(checked) == len(names) else tuple(checked),
                              accept_partial=self.wiz.backup.partial and mode == "replace",
                              files="with" if self.files.isChecked() or self.wiz.backup.files is None else "none")

    def isComplete(self) -> bool:
        if not self.wiz.backup.signed and not self.trust.isChecked():
            return False
        return any(self.tables.item(i).checkState() == Qt.Checked for i in range(self.tables.count())) \
            or self.tables.count() == 0


class DryRunPage(QWizardPage):
    def __init__(self, wiz: "RestoreWizard"):
        super().__init__()
        self.wiz = wiz
        self.setTitle("Dry run")
        self.setSubTitle("Checks every checksum and compares the backup with today's data. Changes nothing.")
        lay = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.run_button = QPushButton("Run the dry run")
        self.run_button.setAccessibleName("run the dry run")
        self.run_button.clicked.connect(self.start)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.status = QLabel("Not run yet.")
        self.status.setWordWrap(True)
        self.status.setObjectName("dryRunStatus")
        bar.addWidget(self.run_button)
        bar.addWidget(self.progress, 1)
        lay.addLayout(bar)
        lay.addWidget(self.status)
        self.verdict = QLabel()
        self.verdict.setObjectName("verdict")
        self.verdict.setWordWrap(True)
        style_title(self.verdict)
        lay.addWidget(self.verdict)
        self.table = QTableWidget(0, 7)
        self.table.setObjectName("dryRunTable")
        self.table.setHorizontalHeaderLabels(["Table", "In backup", "Now", "Insert", "Update", "Delete", "Unchanged"])
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)  # more rows in view
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        lay.addWidget(self.table, 1)
        self.files = QLabel()  # the tenant's Storage objects ([[files]] rules), when the backup has them
        self.files.setObjectName("dryRunFiles")
        self.files.setWordWrap(True)
        self.files.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.files.setAccessibleName("dry run files")
        self.files.hide()
        lay.addWidget(self.files)
        self.notes = QPlainTextEdit()
        self.notes.setReadOnly(True)
        self.notes.setMaximumHeight(80)
        self.notes.setAccessibleName("dry run warnings and problems")
        lay.addWidget(self.notes)
        self.task = None

    def initializePage(self) -> None:
        if self.wiz.plan is None and self.task is None:
            self.start()

    def start(self) -> None:
        if self.task is not None and not self.task.done():
            return
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        self.wiz.plan = None
        self.completeChanged.emit()
        choices = self.wiz.choices()
        self.run_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.status.setText("Running the dry run…")
        self.table.setRowCount(0)
        self.verdict.clear()
        self.notes.clear()
        job = RestoreDryRunJob(self.wiz.ctx, self.wiz.tenant["id"], self.wiz.backup.id, choices[1],
                               on_event=self._event, trust_unsigned=self.wiz.trust_unsigned())
        self.wiz.running = job
        try:
            result = await job.run()
        except Exception as err:  # noqa: BLE001 - whatever it was, the page is usable again
            self.status.setText(f"The dry run failed: {_failure(err)}")
            self.status.setStyleSheet("color: #b00020")
            return
        finally:
            self.wiz.running = None
            self.run_button.setEnabled(True)
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
        self.show_result(result)
        if result.success and self.wiz.choices() == choices:
            self.wiz.plan = result
        self.completeChanged.emit()

    def _event(self, ev: Event) -> None:
        if ev.steps:
            self.progress.setRange(0, ev.steps)
            self.progress.setValue(max(0, ev.step - 1))
        if ev.table and ev.kind == "progress":
            self.status.setText(f"Reading {ev.table}: {_rows(ev.rows)}")

    def show_result(self, r) -> None:
        self.status.setText("The dry run passed: nothing was changed." if r.success else "The dry run found problems.")
        self.status.setStyleSheet("" if r.success else "color: #b00020")
        partial = self.wiz.backup.partial
        self.verdict.setText(verdict(r, self.wiz.choices()[1].mode, partial))
        self.verdict.setStyleSheet("color: #b00020" if not r.success else "color: #8a4b00" if partial else "")
        self.table.setRowCount(len(r.tables))
        changes = lambda t: t.problems or t.to_insert or t.to_update or t.to_delete  # noqa: E731
        # what changes (or cannot) first: the owner reads those rows, not the unchanged hundred
        ordered = sorted(r.tables.items(), key=lambda kv: not changes(kv[1]))
        for row, (name, t) in enumerate(ordered):
            values = [name, t.record_count, t.current_rows, t.to_insert, t.to_update, t.to_delete, t.unchanged]
            for col, v in enumerate(values):
                item = QTableWidgetItem(num(v) if isinstance(v, int) else str(v))
                if col and isinstance(v, int):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if t.problems:
                    item.setForeground(QColor("#b00020"))
                if changes(t):
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                self.table.setItem(row, col, item)
        self.files.setText(files_text(r.files))
        self.files.setVisible(bool(r.files))
        self.notes.setPlainText("\n".join([f"PROBLEM: {p}" for p in r.problems] +
                                          [f"warning: {w}" for w in r.warnings]) or "No warnings.")

    def invalidate(self) -> None:
        self.table.setRowCount(0)
        self.files.clear()
        self.files.hide()
        self.verdict.clear()
        self.notes.clear()
        self.status.setText("The choices changed: run the dry run again.")
        self.status.setStyleSheet("")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.wiz.plan is not None


class ConfirmPage(QWizardPage):
    def __init__(self, wiz: "RestoreWizard"):
        super().__init__()
        self.wiz = wiz
        self.setTitle("Confirm")
        self.setSubTitle("The last step before the organization's data is changed.")
        lay = QVBoxLayout(self)
        self.text = QLabel()
        self.text.setWordWrap(True)
        lay.addWidget(self.text)
        self.accept_partial = QCheckBox()
        self.accept_partial.setObjectName("acceptPartial")
        self.accept_partial.setStyleSheet("color: #b00020; font-weight: bold;")
        self.accept_partial.toggled.connect(lambda _: self.completeChanged.emit())
        lay.addWidget(self.accept_partial)
        self.name = QLineEdit()
        self.name.setAccessibleName("type the organization's name to confirm")
        self.name.textChanged.connect(lambda _: self.completeChanged.emit())
        lay.addWidget(self.name)
        self.hint = QLabel()
        lay.addWidget(self.hint)
        lay.addStretch(1)

    def initializePage(self) -> None:
        p = self.wiz.plan
        mode = self.wiz.choices()[1].mode
        name = self.wiz.tenant["name"] or self.wiz.tenant["id"]
        self.setButtonText(QWizard.NextButton, f"Restore {name}")
        deleted = {n: t.to_delete for n, t in p.tables.items() if t.to_delete}
        risky = self.wiz.backup.partial and mode == "replace"
        self.accept_partial.setVisible(risky)
        self.accept_partial.setChecked(False)
        self.accept_partial.setText(
            f"The backup is partial. Yes, delete {_rows(sum(deleted.values()))} it lacks"
            + (": " + ", ".join(f"{num(v)} in {n}" for n, v in deleted.items()) if deleted else "")
            + " — I know they will be gone (the safety backup keeps them).")
        self.text.setText(
            f"<b>{'Replace' if mode == 'replace' else 'Put back missing rows of'} "
            f"{self.wiz.tenant['name']}</b> with backup {p.backup_id}: {num(p.restored)} records "
            f"in {len(p.tables)} tables.<br><br>The dry run: "
            f"{verdict(p, mode, self.wiz.backup.partial)}<br><br>A <b>safety backup</b> of the current state is taken first: "
            f"it is listed with the backups and undoes this restore.<br><br>"
            f"Type the organization's name, <b>{self.wiz.tenant['name']}</b>, to confirm:")
        self.name.clear()

    def isComplete(self) -> bool:
        ok = self.name.text().strip() == (self.wiz.tenant["name"] or "")
        self.hint.setText("" if ok or not self.name.text() else "The name does not match.")
        return ok and (self.accept_partial.isHidden() or self.accept_partial.isChecked())


class ApplyPage(QWizardPage):
    applied = Signal()

    def __init__(self, wiz: "RestoreWizard"):
        super().__init__()
        self.wiz = wiz
        self.setTitle("Restoring")
        self.setSubTitle("A safety backup first, then one transaction: all of it or nothing.")
        lay = QVBoxLayout(self)
        self.progress = QProgressBar()
        self.status = QLabel()
        self.status.setWordWrap(True)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addStretch(1)
        self.done = False
        self.task = None

    def initializePage(self) -> None:
        self.done = False
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        self.progress.setRange(0, 0)
        self.status.setText("Taking a safety backup, then restoring in one transaction…")
        self.wiz.button(QWizard.BackButton).setEnabled(False)
        options = replace(self.wiz.choices()[1], accept_partial=self.wiz.page(PAGE_CONFIRM).accept_partial.isChecked())
        job = RestoreApplyJob(self.wiz.ctx, self.wiz.tenant["id"], self.wiz.backup.id, self.wiz.plan.plan_id,
                              on_event=self._event, options=options, trust_unsigned=self.wiz.trust_unsigned())
        self.wiz.running = job
        self.wiz.result, self.wiz.changed = None, []
        try:
            self.wiz.result = await job.run()
        except Exception as err:  # noqa: BLE001 - whatever it was, the wizard moves on to say so
            self.wiz.error = _failure(err)
            self.wiz.changed = list(job.changed)
        finally:
            self.wiz.running = None
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
        self.done = True
        self.status.setText("Done." if self.wiz.result else
                            "The restore failed. " + report.failed_text(self.wiz.error, self.wiz.changed))
        self.completeChanged.emit()
        self.applied.emit()
        self.wiz.next()

    def _event(self, ev: Event) -> None:
        if ev.message:
            self.status.setText(ev.message)
        elif ev.table and ev.kind == "progress":
            self.status.setText(f"{ev.table}: {_rows(ev.rows)}")

    def isComplete(self) -> bool:
        return self.done


class ResultPage(QWizardPage):
    def __init__(self, wiz: "RestoreWizard"):
        super().__init__()
        self.wiz = wiz
        self.setTitle("Result")
        self.setSubTitle("What the restore did, and how to undo it.")
        lay = QVBoxLayout(self)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.text.setObjectName("resultText")
        lay.addWidget(self.text)
        self.rows = QPlainTextEdit()  # one line per table: a hundred tables scroll, they do not push the page
        self.rows.setReadOnly(True)
        self.rows.setAccessibleName("restored rows per table")
        lay.addWidget(self.rows, 1)
        self.undo = QPushButton("Undo this restore…")
        self.undo.setAccessibleName("undo this restore")
        self.undo.clicked.connect(self.wiz.undo)
        bar = QHBoxLayout()
        bar.addWidget(self.undo)
        bar.addStretch(1)
        lay.addLayout(bar)

    def initializePage(self) -> None:
        r = self.wiz.result
        if r is None:
            self.setTitle("The restore failed")
            self.text.setText(report.failed_text(self.wiz.error, self.wiz.changed))
            self.rows.setVisible(False)
            self.undo.setVisible(False)
            return
        self.text.setText(report.applied_text(r, self.wiz.tenant["name"], num, size))
        self.rows.setPlainText("\n".join([f"{n}: {_rows(t.restored)}" for n, t in r.tables.items()]
                                         + [f"warning: {w}" for w in r.warnings]))
        self.rows.setVisible(True)
        self.undo.setVisible(True)


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
        self.setWindowTitle(f"Restore {tenant['name']}")
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
        super().reject()

    def undo(self) -> None:
        if self.result:
            self.undo_requested.emit(self.result.safety_backup_id)
            self.accept()
