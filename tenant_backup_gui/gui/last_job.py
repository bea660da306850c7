"""The status bar's last-job message, one wording for every kind of job the window runs: backup,
verify, daily (with its cleanup), and the wizard's dry run, restore and undo. Issue 24: a restore
and its undo left the morning's backup message standing."""

from __future__ import annotations

from ..core import report
from .formatting import num


def first_line(text: str) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def succeeded(title: str, result) -> str:
    """A job of the runner that ended without raising (its own success flag may still say no)."""
    msg = result.get("message") if isinstance(result, dict) else getattr(result, "message", None) \
        or getattr(result, "id", "")
    cleanup = getattr(result, "cleanup", None)
    if isinstance(cleanup, dict) and cleanup.get("message"):
        msg = f"{msg}; cleanup: {cleanup['message']}" if msg else f"cleanup: {cleanup['message']}"
    ok = result.get("success", True) if isinstance(result, dict) else getattr(result, "success", True)
    return f"{title}: {'done' if ok else 'finished with problems'}" + (f" — {msg}" if msg else "")


def failed(title: str, message: str) -> str:
    return f"{title} failed — {first_line(message)}"


def dry_run(what: str, plan, status: str, verdict: str) -> str:
    """The wizard's dry run ended: its verdict, or why it failed."""
    if plan is not None:
        return f"Dry run of {what}: passed, nothing changed — {first_line(verdict)}"
    return f"Dry run of {what}: {first_line(status)}" + (f" — {first_line(verdict)}" if verdict else "")


def restored(what: str, result, error: str, changed: list[str]) -> str:
    """The wizard's apply ended: what it restored and the safety backup, or what failed."""
    if result is None:
        return f"{what} failed — " + " ".join(report.failed_text(error, changed).split())
    return (f"{what}: done — {report.change_words(list(result.tables.values()), True, num)} from "
            f"backup {result.backup_id}; safety backup {result.safety_backup_id}")
