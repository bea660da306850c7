"""The window watches the restore wizard from outside, for its status bar: a dry run ends when its
page's Run button comes back (success or failure alike), an apply when the page says `applied`.
Kept apart from the wizard so the wizard knows nothing of the window."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer

from . import last_job
from .restore_wizard import PAGE_APPLY, PAGE_DRY_RUN


class _DryRunEnded(QObject):
    def __init__(self, window, wiz, what: str):
        super().__init__(wiz)
        self.window, self.wiz, self.what = window, wiz, what

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.EnabledChange and obj.isEnabled() and self.wiz.running is None:
            QTimer.singleShot(0, self._say)  # the button comes back first, the verdict right after
        return False

    def _say(self) -> None:
        page = self.wiz.page(PAGE_DRY_RUN)
        if page.task is not None:  # a run happened
            self.window.say(last_job.dry_run(self.what, self.wiz.plan, page.status.text(), page.verdict.text()))


def watch_wizard(window, wiz, title: str) -> None:
    """`title`: "Restore of NAME" or "Undo of the restore of NAME"."""
    name = wiz.tenant["name"]
    page = wiz.page(PAGE_DRY_RUN)
    page.run_button.installEventFilter(_DryRunEnded(window, wiz, f"{name} from {wiz.backup.id}"))
    wiz.page(PAGE_APPLY).applied.connect(
        lambda: window.say(last_job.restored(title, wiz.result, wiz.error, wiz.changed)))
