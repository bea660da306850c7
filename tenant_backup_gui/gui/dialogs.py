"""Small dialogs shared by the window and the wizard."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QMessageBox, QWidget


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
    icon = QMessageBox.Warning if row["status"] in ("failed", "completed_with_errors", "cancelled") else QMessageBox.Information
    box = QMessageBox(icon, "History entry", summary + ("\n\n" + errors[0] if errors else ""), QMessageBox.Ok, parent)
    box.setDetailedText(json.dumps({"errors": errors, "metadata": row.get("metadata")}, indent=2, default=str))
    box.setModal(False)
    box.show()
    return box
