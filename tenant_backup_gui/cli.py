"""`tenant-backup`: no arguments opens the window; subcommands run headless and never import Qt.

Contract for scripts and schedulers: with --json stdout holds one JSON document and nothing else;
errors are one line on stderr and a non-zero exit (2: configuration or connection, 3: another run
holds the tenant's lock, 4: credentials unavailable); a traceback only with --debug."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import traceback
from datetime import date, datetime

from . import __version__
from .core import manifest as mf
from .core.errors import TenantBackupError
from .core.events import Event
from .core.text import count, size


def _json_default(o):
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    return str(o)


def _out(args, doc, human) -> None:
    if args.json:
        json.dump(doc, sys.stdout, default=_json_default, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        text = human(doc) if callable(human) else human
        if text:
            print(text)


class Progress:
    """One self-overwriting line on a terminal's stderr; silent otherwise (and with --json)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.width = 0

    def __call__(self, ev: Event) -> None:
        if not self.enabled:
            return
        if ev.kind == "progress" and ev.table:
            text = f"  [{ev.step}/{ev.steps}] {ev.table}: {ev.counted()}, {size(ev.bytes)}"
        elif ev.kind in ("started", "table") and ev.message:
            text = f"  {ev.message}"
        else:
            return
        sys.stderr.write("\r" + text.ljust(self.width)[:200])
        self.width = len(text)
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


async def _run_job(job, progress: Progress):
    """Run a job; Ctrl-C asks it to cancel (it cleans up) instead of killing it mid-write."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, job.cancel)
        loop.add_signal_handler(signal.SIGTERM, job.cancel)
    except (NotImplementedError, RuntimeError):
        pass
    try:
        return await job.run()
    finally:
        progress.done()


def _context(args):
    from .platform.settings import load_settings
    from .services.context import Context
    return Context.from_settings(load_settings())


# ----------------------------------------------------------------- commands

def cmd_setup(args) -> int:
    from .services.inventory import setup, setup_sql
    if args.print_sql:
        if args.json:
            _out(args, {"sql": setup_sql()}, None)
        else:
            sys.stdout.write(setup_sql())
        return 0
    result = setup(_context(args))
    _out(args, result, lambda r: r["message"])
    return 0


def cmd_tenants(args) -> int:
    from .services.inventory import tenants
    items = [t.to_json() for t in tenants(_context(args))]
    _out(args, items, lambda xs: "\n".join(f"{t['id']}  {t['name']}{'  (deleted)' if t['deleted'] else ''}"
                                           for t in xs) or "no organizations")
    return 0


def cmd_scope(args) -> int:
    from .services.inventory import scope
    doc = scope(_context(args), getattr(args, "org", None))

    def human(d):
        lines = [f"{count(len(d['tables']), 'table')} hold{'s' if len(d['tables']) == 1 else ''} a tenant's rows (tenant column: {d['tenant_column']}):"]
        lines += [f"  {t['name']:<32} {t['reached']}" + ("" if t["key"] else "  (no key: compared as whole rows)")
                  for t in d["tables"]]
        if d["skipped"]:
            lines.append("not backed up:")
            lines += [f"  {n:<32} {why}" for n, why in sorted(d["skipped"].items())]
        lines += [f"warning: {w}" for w in d["warnings"]]
        if d.get("files"):
            lines.append("a tenant's files ([[files]] rules):")
            for f in d["files"]:
                cols = f" + objects named by {', '.join(f['columns'])}" if f["columns"] else ""
                found = f": {count(f['objects'], 'object')}, {size(f['bytes'])} under {f['prefix']!r}" \
                    if "objects" in f else ""
                lines.append(f"  bucket {f['bucket']}, keys starting {f['pattern']!r}{cols}{found}")
        return "\n".join(lines)
    _out(args, doc, human)
    return 0


def cmd_backup(args) -> int:
    from .services.backup import BackupJob
    progress = Progress(not args.json)
    job = BackupJob(_context(args), args.org, "manual", on_event=progress, jobs=args.jobs)
    result = asyncio.run(_run_job(job, progress))
    doc = {"success": True, "message": f"Backup {result.id} completed: {count(result.total_records, 'record')}, "
                                       f"{count(len(result.tables), 'table')}, {size(result.total_size)}"
                                       + (f", {count(result.files['count'], 'file')}, {size(result.files['bytes'])}"
                                          if result.files else ""),
           "backup": result.to_json()}

    def human(d):
        lines = [d["message"]]
        lines += [f"  warning: {w}" for w in result.warnings]
        return "\n".join(lines)
    _out(args, doc, human)
    return 0


def cmd_backups(args) -> int:
    from .core.partial import state_label
    from .services.inventory import backups
    items = [b.to_json() for b in backups(_context(args), args.org)]

    def human(xs):
        if not xs:
            return "no backups"
        rows = [f"{'id':<26} {'type':<7} {'records':>10} {'size':>10}  state"]
        for b in xs:
            state = state_label(b["complete"], b["type"] == "legacy", b.get("partial"), b.get("problem"))
            rows.append(f"{b['id']:<26} {b['type']:<7} {b['total_records']:>10} {size(b['total_size']):>10}  {state}")
            rows += [f"    partial: {why}" for why in b.get("partial_reasons", [])]
        return "\n".join(rows)
    _out(args, items, human)
    return 0


def cmd_verify(args) -> int:
    from .services.inventory import VerifyJob
    progress = Progress(not args.json)
    result = asyncio.run(_run_job(VerifyJob(_context(args), args.org, args.backup, on_event=progress), progress))
    _out(args, result, lambda r: "\n".join([r["message"]] + [f"  {p}" for p in r["problems"]]
                                           + [f"  partial: {why}" for why in r.get("partial_reasons", [])]))
    return 0 if result["success"] and not result.get("partial") else 1


def _daily_log():
    """The nightly run's own log: a rotating file in the user log dir (no secrets reach it:
    messages never carry credentials)."""
    import logging
    from logging.handlers import RotatingFileHandler
    from .platform.paths import log_dir
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


def cmd_daily(args) -> int:
    from .core.shard import parse_shard
    from .services.daily import DailyJob, last_success
    log = _daily_log()
    progress = Progress(not args.json)
    try:
        shard = parse_shard(args.shard) if args.shard else None
        ctx = _context(args)
        stale = last_success(ctx)
        result = asyncio.run(_run_job(DailyJob(ctx, on_event=progress, jobs=args.jobs, shard=shard), progress))
    except TenantBackupError as err:
        log.error("daily run did not start or stopped: %s", err)
        _notify_failure(f"The daily backup failed: {err}")
        raise
    if stale:
        result["warnings"].insert(0, stale)
        log.warning(stale)
    s = result["summary"]
    log.info("%s: %s/%s tenants, %s records, %s bytes", result["message"], s["successful_tenants"],
             s["total_tenants"], s["total_records"], s["total_size"])
    for d in result["tenants"]:
        if not d["success"]:
            log.error("tenant %s (%s) failed: %s", d["organization_name"], d["organization_id"], d["error"])
    if not result["success"]:
        _notify_failure(result["message"])

    def human(r):
        lines = [r["message"], f"  tenants: {s['successful_tenants']}/{s['total_tenants']} ok, "
                               f"{s['total_records']} records, {size(s['total_size'])}"]
        lines += [f"  FAILED {d['organization_name'] or d['organization_id']}: {d['error']}"
                  for d in r["tenants"] if not d["success"]]
        if r.get("cleanup"):
            lines.append(f"  cleanup: {r['cleanup'].get('message')}")
        lines += [f"  warning: {w}" for w in r["warnings"]]
        return "\n".join(lines)
    _out(args, result, human)
    return 0 if result["success"] else 1


def cmd_cleanup(args) -> int:
    from .services.retention import CleanupJob
    progress = Progress(not args.json)
    result = asyncio.run(_run_job(CleanupJob(_context(args), dry_run=args.dry_run, on_event=progress), progress))

    def human(r):
        lines = [r["message"]]
        verb = "would delete" if r["dry_run"] else "deleted"
        lines += [f"  {verb} {d['organization_id']} {d['id']}: {d['reason']}" for d in r["deleted"]]
        lines += [f"  keep {d['organization_id']} {d['id']}: {d['reason']}" for d in r["kept"]]
        lines += [f"  error: {e}" for e in r["errors"]]
        return "\n".join(lines)
    _out(args, result, human)
    return 0 if result["success"] else 1


def cmd_history(args) -> int:
    from .services.inventory import history
    rows = history(_context(args), args.org, args.limit, args.type, args.status)

    def human(xs):
        if not xs:
            return "no history"
        out = []
        for r in xs:
            took = (r["completed_at"] - r["started_at"]).total_seconds() if r["completed_at"] and r["started_at"] else None
            out.append(f"{r['started_at']:%Y-%m-%d %H:%M:%S}  {r['backup_type']:<12} {r['status']:<22} "
                       f"{r['records_backed_up'] or 0:>9} rows  {size(sized) if (sized := mf.history_size(r)) else '-':>10}  "
                       f"{(f'{took:.1f}s' if took is not None else '-'):>7}  {r['organization_id'] or ''}"
                       + (f"  {r['errors'][0]}" if r["errors"] else ""))
        return "\n".join(out)
    _out(args, rows, human)
    return 0


def _restore_human(r) -> str:
    lines = [r["message"]]
    lines += [f"  PARTIAL backup: {why}" for why in r.get("partial_reasons", [])]
    if r["tables"]:
        lines.append(f"  {'table':<28} {'backup':>9} {'now':>9} {'insert':>8} {'update':>8} {'delete':>8} {'same':>8}")
        for n, t in r["tables"].items():
            lines.append(f"  {n:<28} {t['record_count']:>9} {t['current_rows']:>9} {t['to_insert']:>8} "
                         f"{t['to_update']:>8} {t['to_delete']:>8} {t['unchanged']:>8}")
    if r.get("files"):
        f = r["files"]
        lines.append(f"  files: to upload {len(f['to_upload'])} ({size(f['bytes']['to_upload'])}), to delete "
                     f"{len(f['to_delete'])} ({size(f['bytes']['to_delete'])}), unchanged {f['unchanged']} "
                     f"({size(f['bytes']['unchanged'])})")
        lines += [f"    upload {d['bucket']}/{d['path']} ({size(d['bytes'])})" for d in f["to_upload"][:20]]
        lines += [f"    delete {d['bucket']}/{d['path']} ({size(d['bytes'])})" for d in f["to_delete"][:20]]
        more = len(f["to_upload"][20:]) + len(f["to_delete"][20:])
        lines += [f"    … and {more} more (--json lists them all)"] if more else []
    lines += [f"  problem: {p}" for p in r.get("problems", [])]
    lines += [f"  warning: {w}" for w in r.get("warnings", [])]
    if r.get("plan_id") and not r.get("safety_backup_id"):
        lines.append(f"\nTo apply exactly this plan (valid for a limited time):\n  tenant-backup restore --org "
                     f"{r['summary']['organization_id']} --backup {r['summary']['backup_id']} --apply --plan {r['plan_id']}")
    return "\n".join(lines)


def cmd_restore(args) -> int:
    from .core.errors import ConfigError
    from .core.plan import RestoreOptions
    from .services.restore import RestoreApplyJob, RestoreDryRunJob
    if args.dry_run == args.apply:
        raise ConfigError("say --dry-run (first) or --apply --plan PLAN_ID")
    ctx = _context(args)
    progress = Progress(not args.json)
    tables = tuple(t.strip() for t in (args.tables or "").split(",") if t.strip())
    if args.no_files and args.files_only:
        raise ConfigError("--no-files and --files-only exclude each other; choose one")
    options = RestoreOptions(args.mode, tables, args.allow_dropped_columns, accept_partial=args.accept_partial,
                             files="none" if args.no_files else "only" if args.files_only else "with")
    if args.dry_run:
        job = RestoreDryRunJob(ctx, args.org, args.backup, options, on_event=progress)
        result = asyncio.run(_run_job(job, progress))
        _out(args, result, _restore_human)
        return 0 if result["success"] else 1
    if not args.plan:
        raise ConfigError("--apply needs --plan PLAN_ID from a dry run of the same backup: "
                          "run tenant-backup restore --dry-run first")
    explicit = bool(args.tables or args.mode != "replace" or args.allow_dropped_columns or args.accept_partial
                    or args.no_files or args.files_only)
    job = RestoreApplyJob(ctx, args.org, args.backup, args.plan, on_event=progress,
                          options=options if explicit else None)
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
    result = asyncio.run(_run_job(job, progress))
    _out(args, result, lambda r: r["message"])
    return 0


def cmd_schedule(args) -> int:
    from .services import schedule
    ctx = _context(args)
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
    _out(args, result, human)
    return 0


def cmd_credentials(args) -> int:
    import getpass
    from .core.errors import ConfigError
    from .platform import credentials
    from .sources.postgres import describe_url
    if args.supabase and args.action in ("set", "clear"):
        if args.action == "clear":
            credentials.delete_secret("supabase_service_role_key")
            _out(args, {"stored": False}, "removed the Supabase service role key from the OS keyring")
            return 0
        from .core.supabase_keys import key_role
        key = (sys.stdin.readline().strip() if not sys.stdin.isatty()
               else getpass.getpass("Supabase service role key (Project Settings → API): ").strip())
        if key_role(key) != "service_role":
            raise ConfigError("that is not a Supabase service role key (a JWT with role service_role, or an sb_secret_ "
                              "key); copy the service_role key from Project Settings → API — nothing was stored")
        credentials.set_secret("supabase_service_role_key", key)
        _out(args, {"stored": True}, "stored in the OS keyring: the Supabase service role key (set the project URL "
                                     "with SUPABASE_URL or [supabase] url in the config)")
        return 0
    if args.action == "set":
        url = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("Database URL (with password): ")
        if not url:
            raise ConfigError("no URL given; pass it on standard input or type it at the prompt")
        credentials.set_secret("database_url", url)
        result = {"stored": True, "database": describe_url(url)}
        _out(args, result, f"stored in the OS keyring: the database URL for {result['database']}")
    elif args.action == "clear":
        credentials.delete_secret("database_url")
        _out(args, {"stored": False}, "removed the database URL from the OS keyring")
    elif args.action == "new-key":
        from .core.encryption import encode_key, key_id, new_key
        if credentials.get_secret("backup_key") is not None and not args.replace:
            raise ConfigError("the keyring already holds a backup key; backups made with it need it to be restored — "
                              "export it first (credentials export-key), then pass --replace")
        key = new_key()
        credentials.set_backup_key(key)
        result = {"key_id": key_id(key), "key": encode_key(key)}
        _out(args, result, f"new backup key {result['key_id']} stored in the OS keyring. Keep this recovery copy "
                           f"somewhere safe — without it, encrypted backups cannot be restored elsewhere:\n{result['key']}")
    elif args.action == "export-key":
        from .core.encryption import encode_key, key_id
        key = credentials.backup_key()
        if key is None:
            raise ConfigError("the keyring holds no backup key; create one with: tenant-backup credentials new-key")
        _out(args, {"key_id": key_id(key), "key": encode_key(key)}, encode_key(key))
    elif args.action == "import-key":
        from .core.encryption import decode_key, key_id
        text = sys.stdin.readline() if not sys.stdin.isatty() else getpass.getpass("Backup key (base64): ")
        key = decode_key(text)
        credentials.set_backup_key(key)
        _out(args, {"key_id": key_id(key)}, f"backup key {key_id(key)} stored in the OS keyring")
    else:
        url = credentials.get_secret("database_url")
        supabase = bool(credentials.get_secret("supabase_service_role_key"))
        result = {"stored": bool(url), "database": describe_url(url) if url else None,
                  "environment_overrides": bool(os.environ.get("TENANT_BACKUP_DATABASE_URL")),
                  "supabase_key_stored": supabase}
        _out(args, result, (f"the OS keyring holds the database URL for {result['database']}" if url
                            else "the OS keyring holds no database URL")
             + ("\n  (TENANT_BACKUP_DATABASE_URL is set and wins)" if result["environment_overrides"] else "")
             + ("\nthe OS keyring holds the Supabase service role key" if supabase else ""))
    return 0


def cmd_doctor(args) -> int:
    from .services import doctor
    result = doctor.run()
    mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}

    def human(r):
        return "\n".join(f"{mark[c['status']]}  {c['name']}: {c['message']}" + (f"\n      fix: {c['fix']}" if c["fix"] else "")
                         for c in r["checks"])
    _out(args, result, human)
    return 0 if result["success"] else 1


def cmd_demo(args) -> int:
    from .services import demo
    if args.stop:
        stopped = demo.stop()
        _out(args, {"stopped": stopped}, "sandbox stopped" if stopped else "the sandbox was not running")
        return 0
    if not args.headless and not args.json:
        from .platform.display import check_window
        check_window()  # before the sandbox starts: nothing is left running when the window cannot open
    if args.reset:
        demo.reset()
    box = demo.start()
    env = {"TENANT_BACKUP_DATABASE_URL": box.url, "TENANT_BACKUP_STORE": str(box.store)}
    if args.json:
        _out(args, {"database_url": box.url, "store": str(box.store), "env": env}, None)
        return 0
    if not args.headless:
        from .gui.app import run_window
        os.environ.update(env)
        shown = []
        try:
            return run_window(demo=True, on_shown=lambda: shown.append(True))
        finally:
            if not shown:
                demo.stop()
    exports = "\n".join(f"  export {k}='{v}'" for k, v in env.items())
    print(f"""The sandbox is running: PostgreSQL with 4 demo organizations, backups in {box.store}

Use the CLI against it:
{exports}
  tenant-backup tenants
  tenant-backup backup --org <id>
  tenant-backup backups --org <id>
  tenant-backup verify --org <id> --backup <backup id>
  tenant-backup daily
  tenant-backup cleanup --dry-run
  tenant-backup history

Stop it with: tenant-backup demo --stop    (start afresh: tenant-backup demo --reset)""")
    return 0


# ----------------------------------------------------------------- parser

def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number ≥ 1")
    return int(text)


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line naming it (and where the help is), not argparse's usage block."""

    def error(self, message: str):
        from .core.errors import UsageError
        raise UsageError(f"{message} (see: {self.prog} --help)")


HISTORY_TYPES = ("manual", "daily_tenant", "daily", "cleanup", "restore", "dry_run", "safety")
HISTORY_STATUSES = ("in_progress", "completed", "completed_with_errors", "failed", "cancelled")


def _common_options(parser: argparse.ArgumentParser, default) -> None:
    """--json, --debug and --profile, before the command or after it. After it they must not reset
    what was given before it, so there their default is 'not given' (SUPPRESS)."""
    parser.add_argument("--json", action="store_true", default=default(False), help="print one JSON document on stdout")
    parser.add_argument("--debug", action="store_true", default=default(False), help="show a traceback on errors")
    parser.add_argument("--profile", metavar="NAME", default=default(None), help="a named profile: its own config, "
                        "keyring entries, backup folder and schedule (default: TENANT_BACKUP_PROFILE, else 'default')")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tenant-backup", description="Per-tenant backups and restores for a "
                "multi-tenant Supabase/PostgreSQL app. No command: open the window.")
    p.add_argument("--version", action="version", version=f"tenant-backup {__version__}")
    _common_options(p, lambda d: d)
    common = _Parser(add_help=False)
    _common_options(common, lambda d: argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, func, help_):
        sp = sub.add_parser(name, parents=[common], help=help_, description=help_)
        sp.set_defaults(func=func)
        return sp

    add("setup", cmd_setup, "create or upgrade backup_logs and the tool's helpers in the database").add_argument(
        "--print-sql", action="store_true", help="print the SQL instead, for the Supabase SQL editor (run it once "
        "as the postgres role; it is idempotent)")
    add("tenants", cmd_tenants, "list the organizations")
    sco = add("scope", cmd_scope, "show which tables a tenant's backup holds, how each is reached, and what is left out")
    sco.add_argument("--org", metavar="ID", help="also list this tenant's objects under the [[files]] rules")
    b = add("backup", cmd_backup, "back up one organization now")
    b.add_argument("--org", required=True, metavar="ID")
    b.add_argument("--jobs", type=_positive, metavar="N", help="tables exported at once, on one shared snapshot "
                   "(default: [backup] jobs, else the cores, at most 4)")
    add("backups", cmd_backups, "list one organization's backups, newest first").add_argument(
        "--org", required=True, metavar="ID")
    v = add("verify", cmd_verify, "re-read every part of a backup against its manifest")
    v.add_argument("--org", required=True, metavar="ID")
    v.add_argument("--backup", required=True, metavar="BACKUP_ID", help="a backup id, or YYYY-MM-DD for that day's newest")
    dl = add("daily", cmd_daily, "back up every active organization, then apply retention (for the scheduler)")
    dl.add_argument("--jobs", type=_positive, metavar="N", help="organizations backed up at once, one database "
                    "connection each (default: [backup] jobs, else the cores, at most 4)")
    dl.add_argument("--shard", metavar="I/N", help="only the organizations of shard I of N (a stable hash of the "
                    "id), retention for those only: run N of these, e.g. as a Kubernetes Indexed Job")
    add("cleanup", cmd_cleanup, "delete backups the retention rules no longer keep").add_argument(
        "--dry-run", action="store_true", help="list what would go and why each survivor stays")
    h = add("history", cmd_history, "show backup_logs, newest first")
    h.add_argument("--org", metavar="ID")
    h.add_argument("--type", metavar="TYPE", choices=HISTORY_TYPES, help=", ".join(HISTORY_TYPES))
    h.add_argument("--status", metavar="STATUS", choices=HISTORY_STATUSES, help=", ".join(HISTORY_STATUSES))
    h.add_argument("--limit", type=int, default=50)
    r = add("restore", cmd_restore, "restore one organization from a backup: --dry-run first, then --apply --plan")
    r.add_argument("--org", required=True, metavar="ID")
    r.add_argument("--backup", required=True, metavar="BACKUP_ID", help="a backup id, or YYYY-MM-DD for that day's newest")
    r.add_argument("--dry-run", action="store_true", help="check and compare; changes nothing; prints a plan id")
    r.add_argument("--apply", action="store_true", help="apply the plan of a dry run (--plan)")
    r.add_argument("--plan", metavar="PLAN_ID")
    r.add_argument("--mode", choices=["replace", "missing-only"], default="replace",
                   help="replace: the organization becomes exactly the backup (default); missing-only: re-insert "
                        "only rows deleted since, change nothing else")
    r.add_argument("--tables", metavar="A,B", help="restore only these tables")
    r.add_argument("--allow-dropped-columns", action="store_true",
                   help="restore although columns or tables of the backup no longer exist (their data is skipped)")
    r.add_argument("--accept-partial", action="store_true",
                   help="replace from a PARTIAL old-system backup anyway: deletes every current row the backup lacks")
    r.add_argument("--no-files", action="store_true", help="restore rows only, not the tenant's files ([[files]] rules)")
    r.add_argument("--files-only", action="store_true", help="restore the tenant's files only, not its rows")
    r.add_argument("--yes", action="store_true", help="do not ask for the organization's name")
    sc = add("schedule", cmd_schedule, "install, remove or show the nightly `daily` run in the OS scheduler")
    sc.add_argument("action", choices=["install", "remove", "status"])
    sc.add_argument("--at", default="02:00", metavar="HH:MM", help="time of day in UTC (default 02:00)")
    sc.add_argument("--env-file", metavar="FILE", help="a file (mode 0600) with TENANT_BACKUP_DATABASE_URL=… for "
                    "schedulers that cannot reach the keyring")
    cr = add("credentials", cmd_credentials, "secrets in the OS keyring: the database URL or, with --supabase, the "
             "service role key (set from stdin or a prompt, clear, status) and the backup encryption key "
             "(new-key, export-key, import-key)")
    cr.add_argument("action", choices=["set", "clear", "status", "new-key", "export-key", "import-key"])
    cr.add_argument("--replace", action="store_true", help="with new-key: replace an existing backup key")
    cr.add_argument("--supabase", action="store_true", help="with set/clear: the Supabase service role key instead "
                    "of the database URL")
    add("doctor", cmd_doctor, "check connection, privileges, setup, keyring, schedule, retention and disk space")
    from .cli_browse import add_parsers as add_browse_parsers  # show, diff (cli_browse.py)
    add_browse_parsers(add)
    d = add("demo", cmd_demo, "run the app on a sandbox database with demo organizations")
    d.add_argument("--headless", action="store_true", help="start the sandbox and print how to use the CLI on it")
    d.add_argument("--stop", action="store_true", help="stop the sandbox database")
    d.add_argument("--reset", action="store_true", help="wipe the sandbox and start afresh")
    return p


def _fail(args, err: BaseException, message: str, code: int) -> int:
    """Every failure: one line on stderr and, with --json, one document on stdout that says it."""
    if getattr(args, "debug", False):
        traceback.print_exception(err)
    print(f"tenant-backup: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        try:
            json.dump({"error": message.removeprefix("error: "), "exit_code": code}, sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            pass
    return code


def cmd_window(args) -> int:
    """No command: the window, or one line saying why it cannot open here."""
    from .platform.display import check_window
    check_window()
    from .gui.app import run_window
    return run_window(demo=False)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Until the command line is parsed, --json and --debug are only known from the words themselves.
    args = argparse.Namespace(json="--json" in argv, debug="--debug" in argv)
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "profile", None):
            os.environ["TENANT_BACKUP_PROFILE"] = args.profile  # children (the scheduler's job) inherit it
        return (args.func if args.command else cmd_window)(args)
    except TenantBackupError as err:
        return _fail(args, err, f"error: {err}", err.exit_code)
    except KeyboardInterrupt as err:
        return _fail(args, err, "interrupted", 130)
    except BrokenPipeError:  # `tenant-backup history | head`: the reader left, not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as err:  # noqa: BLE001 - the user gets one line, the developer --debug
        return _fail(args, err, f"internal error: {type(err).__name__}: {err} (run again with --debug for details)", 1)


if __name__ == "__main__":
    raise SystemExit(main())
