"""backup: one organization, now."""

from __future__ import annotations

from ..core.text import count, size
from .options import positive
from .printers import Progress, out
from .running import context, run_job


def cmd_backup(args) -> int:
    from ..services.backup import BackupJob
    progress = Progress(not args.json)
    job = BackupJob(context(args), args.org, "manual", on_event=progress, jobs=args.jobs)
    result = run_job(job, progress)
    doc = {"success": True, "message": f"Backup {result.id} completed: {count(result.total_records, 'record')}, "
                                       f"{count(len(result.tables), 'table')}, {size(result.total_size)}"
                                       + (f", {count(result.files['count'], 'file')}, {size(result.files['bytes'])}"
                                          if result.files else ""),
           "backup": result.to_json()}
    out(args, doc, lambda d: "\n".join([d["message"]] + [f"  warning: {w}" for w in result.warnings]))
    return 0


def register(add) -> None:
    b = add("backup", cmd_backup, "back up one organization now")
    b.add_argument("--org", required=True, metavar="ID")
    b.add_argument("--jobs", type=positive, metavar="N", help="tables exported at once, on one shared snapshot "
                   "(default: [backup] jobs, else the cores, at most 4)")
