"""restore: --dry-run first (prints a plan id), then --apply --plan of exactly that plan."""

from __future__ import annotations

import sys

from ..core.errors import ConfigError
from .options import TRUST_UNSIGNED_HELP
from .printers import Progress, out
from .running import context, run_job

from ..core.plan import MODES  # noqa: E402 - the first is the default


def cmd_restore(args) -> int:
    from ..core.plan import RestoreOptions
    from ..core.report import restore_text
    from ..services.restore import RestoreApplyJob, RestoreDryRunJob
    if args.dry_run == args.apply:
        raise ConfigError("say --dry-run (first) or --apply --plan PLAN_ID")
    ctx = context(args)
    progress = Progress(not args.json)
    tables = tuple(t.strip() for t in (args.tables or "").split(",") if t.strip())
    if args.no_files and args.files_only:
        raise ConfigError("--no-files and --files-only exclude each other; choose one")
    options = RestoreOptions(args.mode or MODES[0], tables, args.allow_dropped_columns,
                             accept_partial=args.accept_partial,
                             files="none" if args.no_files else "only" if args.files_only else "with")
    if args.dry_run:
        result = run_job(RestoreDryRunJob(ctx, args.org, args.backup, options, on_event=progress,
                                          trust_unsigned=args.trust_unsigned), progress)
        out(args, result, restore_text)
        return 0 if result.success else 1
    if not args.plan:
        raise ConfigError("--apply needs --plan PLAN_ID from a dry run of the same backup: "
                          "run tenant-backup restore --dry-run first")
    # Any choice given at apply, --mode replace included, must match the plan's; none given: the plan's own.
    explicit = bool(args.tables or args.mode is not None or args.allow_dropped_columns or args.accept_partial
                    or args.no_files or args.files_only)
    job = RestoreApplyJob(ctx, args.org, args.backup, args.plan, on_event=progress,
                          options=options if explicit else None, trust_unsigned=args.trust_unsigned)
    job.check_prepared()
    if not args.yes:
        name = job.plan.organization_name or job.org_id
        if not sys.stdin.isatty():
            raise ConfigError("a restore replaces the organization's data: confirm with --yes "
                              "(no terminal to ask on)")
        print(f"This replaces the data of {name} ({job.org_id}) with backup {job.plan.backup_id} "
              f"({job.options.mode}). A safety backup is taken first.", file=sys.stderr)
        typed = input("Type the organization's name to confirm: ")
        if typed.strip() != name:
            raise ConfigError("the name did not match; nothing was changed")
    result = run_job(job, progress)
    out(args, result, lambda r: r.message)
    return 0


def register(add) -> None:
    r = add("restore", cmd_restore, "restore one organization from a backup: --dry-run first, then --apply --plan")
    r.add_argument("--org", required=True, metavar="ID")
    r.add_argument("--backup", required=True, metavar="BACKUP_ID", help="a backup id, or YYYY-MM-DD for that day's newest")
    r.add_argument("--dry-run", action="store_true", help="check and compare; changes nothing; prints a plan id")
    r.add_argument("--apply", action="store_true", help="apply the plan of a dry run (--plan)")
    r.add_argument("--plan", metavar="PLAN_ID")
    r.add_argument("--mode", choices=MODES, default=None,
                   help="replace: the organization becomes exactly the backup (default); missing-only: re-insert "
                        "only rows deleted since, change nothing else. At --apply: the plan's, unless given")
    r.add_argument("--tables", metavar="A,B", help="restore only these tables")
    r.add_argument("--allow-dropped-columns", action="store_true",
                   help="restore although columns or tables of the backup no longer exist (their data is skipped)")
    r.add_argument("--accept-partial", action="store_true",
                   help="replace from a PARTIAL old-system backup anyway: deletes every current row the backup lacks")
    r.add_argument("--no-files", action="store_true", help="restore rows only, not the tenant's files ([[files]] rules)")
    r.add_argument("--files-only", action="store_true", help="restore the tenant's files only, not its rows")
    r.add_argument("--yes", action="store_true", help="do not ask for the organization's name")
    r.add_argument("--trust-unsigned", action="store_true", help=TRUST_UNSIGNED_HELP)
