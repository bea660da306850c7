"""schedule: the nightly `daily` run in the OS scheduler (install, remove, status)."""

from __future__ import annotations

from .printers import out
from .running import context


def cmd_schedule(args) -> int:
    from ..services import schedule
    ctx = context(args)
    if args.action == "install":
        result = schedule.install(ctx, args.at, args.env_file)
    elif args.action == "remove":
        result = schedule.remove(ctx)
    else:
        result = schedule.status(ctx)

    def human(r):
        if not r["installed"]:
            lines = [f"the daily run is not installed ({r['backend']}); install it with: tenant-backup schedule install"]
        else:
            lines = [f"the daily run is installed ({r['backend']}): next run {r['next_run']}",
                     f"  runs: {' '.join(r['command'] or [])}"]
        last = r.get("last_result")
        lines.append(f"  last daily run: {last['status']} at {last['started_at']}" if last else "  last daily run: none yet")
        lines += [f"  warning: {w}" for w in r.get("warnings", [])]
        return "\n".join(lines)
    out(args, result, human)
    return 0


def register(add) -> None:
    sc = add("schedule", cmd_schedule, "install, remove or show the nightly `daily` run in the OS scheduler")
    sc.add_argument("action", choices=["install", "remove", "status"])
    sc.add_argument("--at", default="02:00", metavar="HH:MM", help="time of day in UTC (default 02:00)")
    sc.add_argument("--env-file", metavar="FILE", help="a file (mode 0600) with TENANT_BACKUP_DATABASE_URL=… for "
                    "schedulers that cannot reach the keyring")
