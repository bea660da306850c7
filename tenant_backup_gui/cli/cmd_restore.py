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
    from ..services.restore_choice import parse_rows_option
    chosen = parse_rows_option(args.rows or [])
    if chosen and args.mode not in (None, "rows"):
        raise ConfigError(f"--rows restores chosen rows; it cannot be combined with --mode {args.mode}")
    if not chosen and (args.mode == "rows" or args.with_dependents or args.overwrite):
        raise ConfigError("--with-dependents and --overwrite go with chosen rows: name them with --rows TABLE=KEY")
    if chosen and (args.tables or args.files_only):
        raise ConfigError("--rows restores the chosen rows of their tables: leave out --tables and --files-only")
    mode = "rows" if chosen else (args.mode or MODES[0])
    options = RestoreOptions(mode, tables, args.allow_dropped_columns,
                             accept_partial=args.accept_partial,
                             files="none" if args.no_files or chosen else "only" if args.files_only else "with",
                             rows=tuple((t, tuple(k)) for t, keys in chosen.items() for k in keys),
                             with_dependents=args.with_dependents, overwrite=args.overwrite,
                             relink=not args.no_relink)
    if args.dry_run:
        from ..core.report import row_lines
        show = bool(args.show_rows or args.csv)
        result = run_job(RestoreDryRunJob(ctx, args.org, args.backup, options, on_event=progress,
                                          trust_unsigned=args.trust_unsigned, show_rows=show), progress)
        if args.csv and result.rows is not None:
            result.rows.write_csv(args.csv)
        if not args.show_rows and result.rows is not None:  # --csv alone: the file, not the terminal
            result.rows.close()
            result.rows = None
        out(args, result, restore_text)
        if result.rows is not None and not args.json:
            print("\nRows it changes:")
            for line in row_lines(result.rows):
                print(line)
        return 0 if result.success else 1
    if args.show_rows or args.csv:
        raise ConfigError("--show-rows and --csv list the rows of a dry run: add them to --dry-run")
    if not args.plan:
        raise ConfigError("--apply needs --plan PLAN_ID from a dry run of the same backup: "
                          "run tenant-backup restore --dry-run first")
    # Any choice given at apply, --mode replace included, must match the plan's; none given: the plan's own.
    explicit = bool(args.tables or args.mode is not None or args.allow_dropped_columns or args.accept_partial
                    or args.no_files or args.files_only or chosen or args.with_dependents or args.overwrite
                    or args.no_relink)
    job = RestoreApplyJob(ctx, args.org, args.backup, args.plan, on_event=progress,
                          options=options if explicit else None, trust_unsigned=args.trust_unsigned)
    job.check_prepared()
    if not args.yes:
        name = job.plan.organization_name or job.org_id
        if not sys.stdin.isatty():
            raise ConfigError("a restore replaces the organization's data: confirm with --yes "
                              "(no terminal to ask on)")
        what = (f"puts back {job.options.chosen_count} chosen row(s) of {name} ({job.org_id}) from backup "
                f"{job.plan.backup_id}" if job.options.mode == "rows" else
                f"replaces the data of {name} ({job.org_id}) with backup {job.plan.backup_id} ({job.options.mode})")
        print(f"This {what}. A safety backup is taken first.", file=sys.stderr)
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
    r.add_argument("--rows", action="append", metavar="TABLE=KEY[,KEY]",
                   help="restore only these rows of TABLE, by key (repeatable; a composite key as a:b); rows that "
                        "exist now and differ are conflicts, left as they are (see --overwrite)")
    r.add_argument("--with-dependents", action="store_true",
                   help="with --rows: also the backup's rows that point at the chosen ones through foreign keys, "
                        "to any depth (a customer's rentals, invoices and their line items)")
    r.add_argument("--overwrite", action="store_true",
                   help="with --rows: chosen or dependent rows that exist now and differ become the backup's")
    r.add_argument("--no-relink", action="store_true",
                   help="missing-only and --rows: leave NULL links as they are (by default a row whose link was "
                        "cleared when its parent was deleted gets it back when the parent comes back)")
    r.add_argument("--tables", metavar="A,B", help="restore only these tables")
    r.add_argument("--allow-dropped-columns", action="store_true",
                   help="restore although columns or tables of the backup no longer exist (their data is skipped)")
    r.add_argument("--accept-partial", action="store_true",
                   help="replace from a PARTIAL old-system backup anyway: deletes every current row the backup lacks")
    r.add_argument("--no-files", action="store_true", help="restore rows only, not the tenant's files ([[files]] rules)")
    r.add_argument("--files-only", action="store_true", help="restore the tenant's files only, not its rows")
    r.add_argument("--show-rows", action="store_true",
                   help="with --dry-run: list every row it would insert, update, delete or leave different "
                        "(with --json: under \"rows\")")
    r.add_argument("--csv", metavar="FILE", help="with --dry-run: write those rows to FILE for a spreadsheet")
    r.add_argument("--yes", action="store_true", help="do not ask for the organization's name")
    r.add_argument("--trust-unsigned", action="store_true", help=TRUST_UNSIGNED_HELP)
