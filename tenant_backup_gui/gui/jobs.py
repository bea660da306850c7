"""Runs service jobs from the window: one at a time per tenant, side by side across tenants, each
with a progress row and a Cancel button. Errors surface as signals; the window stays usable."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..core.errors import Cancelled, TenantBackupError
from ..core.events import Event
from .formatting import num, size


class JobRow(QWidget):
    def __init__(self, title: str, job, parent=None):
        super().__init__(parent)
        self.job = job
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        self.title = QLabel(title)
        self.detail = QLabel("waiting…")
        self.detail.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setMaximumWidth(220)
        self.bar.setAccessibleName(f"progress of {title}")
        self.cancel = QPushButton("Cancel")
        self.cancel.setAccessibleName(f"cancel {title}")
        self.cancel.clicked.connect(self._cancel)
        lay.addWidget(self.title)
        lay.addWidget(self.bar)
        lay.addWidget(self.detail, 1)
        lay.addWidget(self.cancel)

    def _cancel(self) -> None:
        self.cancel.setEnabled(False)
        self.detail.setText("cancelling…")
        self.job.cancel()

    def on_event(self, ev: Event) -> None:
        if ev.steps:
            self.bar.setRange(0, ev.steps)
            self.bar.setValue(max(0, ev.step - 1) if ev.kind != "finished" else ev.steps)
        if ev.kind == "progress" and ev.table:
            self.detail.setText(f"{ev.table}: {ev.counted(num)}, {size(ev.bytes)}")
        elif ev.message:
            self.detail.setText(ev.message)


class JobRunner(QObject):
    """`submit(key, title, make_job)`: jobs with the same key (a tenant id) queue behind each other."""

    succeeded = Signal(str, object)  # title, result
    failed = Signal(str, str, str)  # title, one-line message, detail
    changed = Signal()

    def __init__(self, panel_layout: QVBoxLayout, parent=None):
        super().__init__(parent)
        self.panel = panel_layout
        self.tails: dict[str, asyncio.Task] = {}
        self.rows: list[JobRow] = []

    def busy(self) -> bool:
        return any(not t.done() for t in self.tails.values())

    def submit(self, key: str, title: str, make_job) -> asyncio.Task:
        row_holder: dict = {}

        def on_event(ev: Event) -> None:
            row = row_holder.get("row")
            if row is not None:
                row.on_event(ev)

        job = make_job(on_event)
        row = JobRow(title, job)
        row_holder["row"] = row
        self.panel.addWidget(row)
        self.rows.append(row)
        previous = self.tails.get(key)
        task = asyncio.ensure_future(self._run(previous, job, row, title))
        self.tails[key] = task
        self.changed.emit()
        return task

    async def _run(self, previous, job, row: JobRow, title: str):
        if previous is not None and not previous.done():
            try:
                await asyncio.shield(previous)
            except BaseException:  # noqa: BLE001 - the earlier job's failure is its own
                pass
        if job.cancelled.is_set():
            self._remove(row)
            return None
        row.detail.setText("starting…")
        try:
            result = await job.run()
        except Cancelled as err:
            self.failed.emit(title, str(err), "")
            result = None
        except TenantBackupError as err:
            self.failed.emit(title, str(err), "")
            result = None
        except Exception as err:  # noqa: BLE001 - shown in a dialog, never a crash
            import traceback
            self.failed.emit(title, f"internal error: {type(err).__name__}: {err}",
                             "".join(traceback.format_exception(err)))
            result = None
        else:
            self.succeeded.emit(title, result)
        finally:
            self._remove(row)
        return result

    def _remove(self, row: JobRow) -> None:
        if row in self.rows:
            self.rows.remove(row)
            row.setParent(None)
            row.deleteLater()
        self.changed.emit()
