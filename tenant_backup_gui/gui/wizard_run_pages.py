"""The restore wizard's pages from the dry run on: dry run → confirm → apply → result, and the
words they show. Their own module so gui/restore_wizard.py stays the wizard and its choosing
pages (backup, options); import everything through gui/restore_wizard.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPlainTextEdit, QProgressBar, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWizard, QWizardPage)

from ..core import report
from ..core.errors import TenantBackupError
from ..core.events import Event
from ..services.restore import RestoreApplyJob, RestoreDryRunJob
from .formatting import num, size, style_title

if TYPE_CHECKING:
    from .restore_wizard import RestoreWizard

PAGE_BACKUP, PAGE_OPTIONS, PAGE_DRY_RUN, PAGE_CONFIRM, PAGE_APPLY, PAGE_RESULT = range(6)


def _rows(n: int) -> str:
    return report.rows(n, num)


def files_text(f: dict | None, shown: int = 8, done: bool = False) -> str:
    """The files section of a dry run (or, done, of an apply), in the window's number format."""
    return "\n".join(report.files_lines(f, done=done, shown=shown, num=num, size=size))


def verdict(result, mode: str, partial: bool) -> str:
    """The dry run in one plain sentence (core/report.py), in the window's number format."""
    return report.verdict(result, mode, partial, num)


def tradeoff(r, options) -> str:
    """What the chosen mode keeps and what it gives up, in one line (issue 21: no page said so)."""
    links = (f"links cleared by the deletions put back: {num(r.relinked)}" if options.relink else
             "links cleared by the deletions stay cleared (the tick on the previous page puts them back)")
    if options.mode == "missing-only":
        return (f"Missing rows only keeps today's work: rows that differ from the backup stay as they are now: "
                f"{num(r.left_different)}; {links}.")
    if options.mode == "rows":
        kept = (f"rows that exist now and differ are overwritten: {num(r.changes[1])}" if options.overwrite else
                f"conflicts (rows that exist now and differ), kept as they are: {num(r.left_different)}"
                if r.left_different else "no conflicts")
        return (f"{_rows(options.chosen_count)} chosen" + (", with the rows that depend on them" if
                                                          options.with_dependents else "") + f"; {kept}; {links}.")
    return "Replace makes the organization exactly the backup: rows added or edited since are deleted or reverted."


def _failure(err: BaseException) -> str:
    """One line for any error: ours say what to do; anything else is named, never swallowed."""
    return str(err) if isinstance(err, TenantBackupError) else f"internal error: {type(err).__name__}: {err}"


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
        self.tradeoff = QLabel()  # what the mode keeps and what it gives up
        self.tradeoff.setObjectName("tradeoff")
        self.tradeoff.setWordWrap(True)
        self.tradeoff.setStyleSheet("color: #555555")
        lay.addWidget(self.tradeoff)
        self.table = QTableWidget(0, 9)
        self.table.setObjectName("dryRunTable")
        self.table.setToolTip("Double-click a table to see its rows the restore changes")
        self.table.setHorizontalHeaderLabels(["Table", "In backup", "Now", "Insert", "Update", "Delete", "Unchanged",
                                              "Left different", "Relink"])
        self.table.cellDoubleClicked.connect(lambda row, _col: self.show_rows(self.table.item(row, 0).text()))
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)  # more rows in view
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        lay.addWidget(self.table, 1)
        self.rows_button = QPushButton("Show the rows it changes…")
        self.rows_button.setAccessibleName("show the rows the restore changes")
        self.rows_button.setEnabled(False)
        self.rows_button.clicked.connect(lambda: self.show_rows(None))
        lay.addWidget(self.rows_button)
        self.rows_dialog = None
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
        self.rows = None  # the dry run's spool of changed rows (services/restore_rows.py)

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
        self.tradeoff.clear()
        self.notes.clear()
        job = RestoreDryRunJob(self.wiz.ctx, self.wiz.tenant["id"], self.wiz.backup.id, choices[1],
                               on_event=self._event, trust_unsigned=self.wiz.trust_unsigned(), show_rows=True)
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
        options = self.wiz.choices()[1]
        self.verdict.setText(verdict(r, options.mode, partial))
        self.tradeoff.setText(tradeoff(r, options) if r.success else "")
        self.table.horizontalHeaderItem(7).setText("Conflicts (kept)" if options.mode == "rows" else "Left different")
        self.verdict.setStyleSheet("color: #b00020" if not r.success else "color: #8a4b00" if partial else "")
        self.table.setRowCount(len(r.tables))
        changes = lambda t: t.problems or t.to_insert or t.to_update or t.to_delete or t.relinked  # noqa: E731
        # what changes (or cannot) first: the owner reads those rows, not the unchanged hundred
        ordered = sorted(r.tables.items(), key=lambda kv: not changes(kv[1]))
        for row, (name, t) in enumerate(ordered):
            values = [name, t.record_count, t.current_rows, t.to_insert, t.to_update, t.to_delete, t.unchanged,
                      t.left_different, t.relinked]
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
        self.rows = r.rows
        self.rows_button.setEnabled(bool(r.rows is not None and r.rows.tables()))
        self.notes.setPlainText("\n".join([f"PROBLEM: {p}" for p in r.problems] +
                                          [f"warning: {w}" for w in r.warnings]) or "No warnings.")

    def show_rows(self, table: str | None):
        """The rows the dry run changes (of `table` first), paged and searchable, each record whole."""
        if self.rows is None:
            return None
        from .restore_rows_view import open_rows
        self.rows_dialog = open_rows(self, self.rows, table)
        return self.rows_dialog

    def invalidate(self) -> None:
        self.rows = None
        self.rows_button.setEnabled(False)
        self.table.setRowCount(0)
        self.files.clear()
        self.files.hide()
        self.verdict.clear()
        self.tradeoff.clear()
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
        options = self.wiz.choices()[1]
        mode = options.mode
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
        what = {"replace": "Replace", "missing-only": "Put back missing rows of",
                "rows": f"Put back {num(options.chosen_count)} chosen row{'' if options.chosen_count == 1 else 's'}"
                        + (" (and the rows that depend on them)" if options.with_dependents else "") + " of"}[mode]
        self.text.setText(
            f"<b>{what} {self.wiz.tenant['name']}</b> with backup {p.backup_id}: "
            f"{report.change_words(list(p.tables.values()), False, num)}.<br><br>The dry run: "
            f"{verdict(p, mode, self.wiz.backup.partial)}<br><br>A <b>safety backup</b> of the current state is taken first: "
            f"it is listed with the backups and undoes this restore.<br><br>"
            f"Type the organization's name, <b>{self.wiz.tenant['name']}</b>, to confirm:")
        self.name.clear()
        self.name.setFocus()  # the keyboard's next step: type the name

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
        self.rows.setPlainText("\n".join([f"{n}: {report.change_words([t], True, num, in_tables=False)}" for n, t in r.tables.items()
                                          if n in r.changed_tables]
                                         + [f"warning: {w}" for w in r.warnings]))
        self.rows.setVisible(True)
        self.undo.setVisible(True)
