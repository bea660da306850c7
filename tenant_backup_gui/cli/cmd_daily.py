"""daily (every active organization, then retention: what the scheduler runs) and cleanup
(retention alone)."""

from __future__ import annotations

import os

from ..core.errors import TenantBackupError
from ..core.text import size
from .options import positive
from .printers import Progress, out
from .running import context, run_job


def _daily_log():
    """The nightly run's own log: a rotating file in the user log dir (no secrets reach it:
    messages never carry credentials)."""
    import logging
    from logging.handlers import RotatingFileHandler
    from ..platform.paths import log_dir
    log = logging.getLogger("tenant_backup.daily")
    if not log.handlers:
        try:
            log_dir().mkdir(parents=True, exist_ok=True)
            handler = RotatingFileHandler(log_dir() / "daily.log", maxBytes=1_000_000, backupCount=5, encoding="utf-8")
        except OSError:
            return log
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    return log


def _notify_failure(message: str) -> None:
    """A desktop notification, where a session bus and notify-send exist; silent otherwise."""
    import shutil
    import subprocess
    if os.environ.get("DBUS_SESSION_BUS_ADDRESS") and shutil.which("notify-send"):
        subprocess.run(["notify-send", "--urgency=critical", "Tenant Backup", message], capture_output=True, timeout=10)


def daily_text(r) -> str:
    lines = [r.message, f"  tenants: {len(r.tenants) - len(r.failed)}/{r.total_tenants} ok, "
                        f"{r.total_records} records, {size(r.total_size)}"]
    lines += [f"  FAILED {d.organization_name or d.organization_id}: {d.error}" for d in r.failed]
    if r.cleanup:
        lines.append(f"  cleanup: {r.cleanup.get('message')}")
    lines += [f"  warning: {w}" for w in r.warnings]
    return "\n".join(lines)


def cmd_daily(args) -> int:
    from ..core.shard import parse_shard
    from ..services.daily import DailyJob, last_success
    log = _daily_log()
    progress = Progress(not args.json)
    try:
        shard = parse_shard(args.shard) if args.shard else None
        ctx = context(args)
        stale = last_success(ctx)
        result = run_job(DailyJob(ctx, on_event=progress, jobs=args.jobs, shard=shard), progress)
    except TenantBackupError as err:
        log.error("daily run did not start or stopped: %s", err)
        _notify_failure(f"The daily backup failed: {err}")
        raise
    if stale:
        result.warnings.insert(0, stale)
        log.warning(stale)
    log.info("%s: %s/%s tenants, %s records, %s bytes", result.message, len(result.tenants) - len(result.failed),
             result.total_tenants, result.total_records, result.total_size)
    for d in result.failed:
        log.error("tenant %s (%s) failed: %s", d.organization_name, d.organization_id, d.error)
    if not result.success:
        _notify_failure(result.message)
    out(args, result, daily_text)
    return 0 if result.success else 1


def cmd_cleanup(args) -> int:
    from ..services.retention import CleanupJob
    progress = Progress(not args.json)
    result = run_job(CleanupJob(context(args), dry_run=args.dry_run, on_event=progress), progress)

    def human(r):
        lines = [r["message"]]
        verb = "would delete" if r["dry_run"] else "deleted"
        lines += [f"  {verb} {d['organization_id']} {d['id']}: {d['reason']}" for d in r["deleted"]]
        lines += [f"  keep {d['organization_id']} {d['id']}: {d['reason']}" for d in r["kept"]]
        lines += [f"  error: {e}" for e in r["errors"]]
        return "\n".join(lines)
    out(args, result, human)
    return 0 if result["success"] else 1


def register(add) -> None:
    dl = add("daily", cmd_daily, "back up every active organization, then apply retention (for the scheduler)")
    dl.add_argument("--jobs", type=positive, metavar="N", help="organizations backed up at once, one database "
                    "connection each (default: [backup] jobs, else the cores, at most 4)")
    dl.add_argument("--shard", metavar="I/N", help="only the organizations of shard I of N (a stable hash of the "
                    "id), retention for those only: run N of these, e.g. as a Kubernetes Indexed Job")
    add("cleanup", cmd_cleanup, "delete backups the retention rules no longer keep").add_argument(
        "--dry-run", action="store_true", help="list what would go and why each survivor stays")
