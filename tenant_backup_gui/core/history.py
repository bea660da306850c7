"""The history's vocabulary (backup_logs.backup_type and .status), written once: the jobs write
these words, the SQL stores them, the CLI's --type/--status accept them and the window filters
and colours by them. Plain strings, so a row read back compares equal without conversion."""

from __future__ import annotations

from datetime import datetime

from .errors import Cancelled

# backup_type
MANUAL, DAILY_TENANT, DAILY, SAFETY = "manual", "daily_tenant", "daily", "safety"
RESTORE, DRY_RUN, CLEANUP = "restore", "dry_run", "cleanup"
TYPES = (MANUAL, DAILY_TENANT, DAILY, CLEANUP, RESTORE, DRY_RUN, SAFETY)
# The row type of one tenant's backup, by the backup's own type (a daily run's tenant is daily_tenant).
BACKUP_ROW_TYPES = {"manual": MANUAL, "daily": DAILY_TENANT, "safety": SAFETY}
# Rows whose size is a backup written (a dry run, a restore or a cleanup writes none).
WRITING_TYPES = (MANUAL, DAILY_TENANT, DAILY, SAFETY)
# Rows of jobs that hold the tenant's lock while they run (a dry run does not).
LOCKED_TYPES = (MANUAL, DAILY_TENANT, SAFETY, RESTORE)

# status
IN_PROGRESS, COMPLETED, COMPLETED_WITH_ERRORS = "in_progress", "completed", "completed_with_errors"
FAILED, CANCELLED = "failed", "cancelled"
STATUSES = (IN_PROGRESS, COMPLETED, COMPLETED_WITH_ERRORS, FAILED, CANCELLED)
ENDED_BADLY = (FAILED, CANCELLED)  # shown in red
NOT_CLEAN = (FAILED, COMPLETED_WITH_ERRORS, CANCELLED)  # worth a warning icon


def ended_by(err: BaseException) -> str:
    """The status of a run that stopped on `err`: cancelled when asked to, failed otherwise."""
    return CANCELLED if isinstance(err, Cancelled) else FAILED


def started(row: dict) -> datetime | None:
    """When a history row's run began. A restore's row is written by the engine at its last SQL
    call, in the restore's own transaction; the job passes its own start along
    (metadata.started_at), which counts the staging, the checks and the safety backup too."""
    start = row.get("started_at")
    began = (row.get("metadata") or {}).get("started_at")
    try:
        began = datetime.fromisoformat(began) if isinstance(began, str) else None
    except ValueError:
        began = None
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    return min(start, began) if start and began else start or began


def duration(row: dict) -> float | None:
    """Seconds a history row's run took, from its start (`started`)."""
    end, start = row.get("completed_at"), started(row)
    if isinstance(end, str):
        end = datetime.fromisoformat(end)
    return (end - start).total_seconds() if end and start else None
