"""Small dialogs shared by the window and the wizard."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QSizePolicy, QWidget

from ..core import history


class ElidedLabel(QLabel):
    """A label that gives way: it shows as much of its text as fits, ending in "…", and the whole
    text in its tooltip."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        super().setText(self.fontMetrics().elidedText(self._full, Qt.ElideMiddle, max(0, self.width() - 8)))


def show_error(parent: QWidget, title: str, message: str, detail: str = "") -> QMessageBox:
    """A failure: the one-line message up front, the detail folded away. Non-modal, so the
    window stays usable behind it."""
    box = QMessageBox(QMessageBox.Critical, title, message, QMessageBox.Ok, parent)
    box.setObjectName("errorDialog")
    if detail:
        box.setDetailedText(detail)
    box.setModal(False)
    box.show()
    return box


def show_history_detail(parent: QWidget, row: dict) -> QMessageBox:
    summary = (f"{row['backup_type']} — {row['status']}\n"
               f"organization: {row.get('organization_id') or 'all'}\n"
               f"started: {row.get('started_at')}\nfinished: {row.get('completed_at')}")
    errors = row.get("errors") or []
    warnings = (row.get("metadata") or {}).get("warnings") or []
    icon = QMessageBox.Warning if row["status"] in history.NOT_CLEAN else QMessageBox.Information
    notes = [f"error: {e}" for e in errors] + [f"warning: {w}" for w in warnings]
    box = QMessageBox(icon, "History entry", summary + ("\n\n" + "\n".join(notes[:8]) if notes else ""),
                      QMessageBox.Ok, parent)
    box.setDetailedText(json.dumps({"errors": errors, "metadata": row.get("metadata")}, indent=2, default=str))
    box.setModal(False)
    box.show()
    return box
