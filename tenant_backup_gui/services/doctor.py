"""`tenant-backup doctor`: is everything in place for tonight's run and for a restore? Each check
is ok / warn / fail with the fix. Read-only, except a throwaway keyring entry that proves the
keyring keeps what it is given."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..core.errors import TenantBackupError
from ..core.scope import discover_scope
from ..platform import credentials, scheduler
from ..platform.settings import load_settings
from ..sources.direct import setup as direct_setup
from ..sources.direct.connect import connect, describe_url
from ..sources.direct.snapshot import Snapshot
from .context import Context
from .daily import last_success


DOCTOR_CONNECT_SECONDS = 3


def _check(name: str, status: str, message: str, fix: str = "") -> dict:
    return {"name": name, "status": status, "message": message, "fix": fix}


def run() -> dict:
    checks: list[dict] = []
    try:
        settings = load_settings()
    except TenantBackupError as err:
        checks.append(_check("configuration", "fail", str(err), "fix the config file it names"))
        return _result(checks)
    checks.append(_check("configuration", "ok", f"config {settings.config_path or '(defaults: no config file)'}"))
    ctx = Context.from_settings(settings)

    try:
        found = credentials.get_secret("database_url")
        credentials.probe()  # a keyring that answers reads but keeps nothing is no keyring
        checks.append(_check("keyring", "ok", f"the OS keyring ({credentials.backend_name()}) is reachable from here"
                             + (" and holds the database URL" if found else "")))
    except TenantBackupError as err:
        if settings.direct:
            checks.append(_check("keyring", "warn" if settings.url_source in ("environment", "config") else "fail",
                                 str(err), "set TENANT_BACKUP_DATABASE_URL, or run from a desktop session"))
        else:  # the Supabase road: the secret it needs is the service role key, not a database URL
            env_var = "SUPABASE_SERVICE_ROLE_KEY"
            checks.append(_check("keyring", "warn" if settings.supabase_key else "fail",
                                 str(err).replace(credentials.ENV_ROUTE, f"set {env_var} in the environment instead"),
                                 f"set {env_var}, or run from a desktop session"))
    checks += _backup_key_check(settings.config.encrypt)

    if not settings.direct:
        checks += _supabase_checks(ctx)
    elif not settings.database_url:
        checks.append(_check("database", "fail", "no database configured",
                             "set TENANT_BACKUP_DATABASE_URL (or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY), or save "
                             "it in the window's Settings"))
    else:
        try:
            # A server that accepts and never answers: say so in seconds, not after every address's 15 s.
            connect(settings.database_url, timeout=DOCTOR_CONNECT_SECONDS).close()
            with Snapshot(settings.database_url, settings.config) as snap:
                scope = discover_scope(snap.catalog, settings.config)
            priv = direct_setup.privileges(settings.database_url, settings.config, [s.table for s in scope.tables])
            checks.append(_check("database", "ok", f"connected to {describe_url(settings.database_url)} "
                                 f"(PostgreSQL {priv['version'] // 10000}); {len(scope.tables)} tenant tables "
                                 f"(URL from {settings.url_source})"))
            if priv["unreadable"]:
                checks.append(_check("privileges", "fail", f"cannot read {', '.join(priv['unreadable'][:5])}",
                                     "connect as the database owner, or GRANT SELECT on those tables"))
            elif not priv["replica"]:
                checks.append(_check("privileges", "warn", "backups work, but a restore cannot set "
                                     "session_replication_role", "connect as the owner (on Supabase: postgres)"))
            else:
                checks.append(_check("privileges", "ok", "reads every tenant table; may restore"))
            state = direct_setup.setup_state(settings.database_url)
            if state["current"]:
                checks.append(_check("setup", "ok", f"backup_logs and helpers installed (version {state['version']})"))
            else:  # a backup reads the tenant's rows through the installed helpers: it cannot run without them
                checks.append(_check("setup", "fail", "backup_logs and helpers are " +
                                     ("missing" if not state["installed"] else
                                      f"outdated (schema version {state['version']}, export helpers version "
                                      f"{state['supabase_version']})") + "; backups and restores need them",
                                     "run: tenant-backup setup"))
        except TenantBackupError as err:
            checks.append(_check("database", "fail", str(err), "check TENANT_BACKUP_DATABASE_URL"))

    problems = ctx.store.problems()
    if settings.store_kind == "supabase":
        if problems:
            checks.append(_check("backup store", "fail", problems[0], "fix what it says; the bucket must be private"))
        else:
            checks.append(_check("backup store", "ok", ctx.store.describe()))
    elif problems:
        checks.append(_check("backup folder", "fail", problems[0], "choose a writable folder (TENANT_BACKUP_STORE)"))
    else:
        probe = Path(ctx.store.root)
        while not probe.exists():
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        status = "ok" if free > 2 * 1024 ** 3 else "warn"
        checks.append(_check("backup folder", status, f"{ctx.store.root}: {free / 1024 ** 3:.1f} GiB free",
                             "" if status == "ok" else "free space or choose a bigger disk"))

    checks += _files_checks(ctx)

    r = settings.config.retention
    checks.append(_check("retention", "ok", f"backups older than {r.days} days are deleted (never a tenant's newest)"
                         + (f"; keep daily {r.keep_daily}, weekly {r.keep_weekly}, monthly {r.keep_monthly}"
                            if r.keep_daily or r.keep_weekly or r.keep_monthly else "")))

    try:
        st = scheduler.status()
        if not st["installed"]:
            checks.append(_check("schedule", "warn", f"the daily run is not installed ({st['backend']})",
                                 "run: tenant-backup schedule install"))
        else:
            checks.append(_check("schedule", "ok", f"installed ({st['backend']}), next run {st['next_run']}"))
            if settings.url_source == "keyring" and st["backend"] in ("systemd", "cron"):
                checks.append(_check("scheduler credentials", "warn",
                                     "the scheduled job may not reach the keyring outside your login session",
                                     "tenant-backup schedule install --env-file FILE (chmod 600)"))
    except TenantBackupError as err:
        checks.append(_check("schedule", "warn", str(err)))
    reached = not any(c["name"] in ("database", "supabase") and c["status"] == "fail" for c in checks)
    if reached and (settings.database_url or not settings.direct):  # asking a silent server again takes as long
        stale = last_success(ctx)
        if stale:
            checks.append(_check("last daily run", "warn", stale, "tenant-backup history --type daily"))
    return _result(checks)


def _backup_key_check(encrypt: bool) -> list[dict]:
    """Which route the backup key comes by (environment or keyring), never the key itself. Without
    one, backups are written unsigned (and, with encryption on, not at all)."""
    from ..core.encryption import key_id
    try:
        key, source = credentials.backup_key_source()
        problem = ""
    except TenantBackupError as err:
        key, source, problem = None, None, str(err)
    if key is not None:
        where = "the OS keyring" if source == "keyring" else f"{source} in the environment"
        return [_check("backup key", "ok", f"backup key {key_id(key)} from {where}: backups are signed"
                       + ("" if encrypt else " (encryption is off: [backup] encrypt = false)"))]
    fix = (f"tenant-backup credentials new-key, or set {credentials.KEY_ENV} to the key's recovery copy "
           f"(for the nightly run: in the --env-file of schedule install)")
    why = f": {problem}" if problem else f": neither {credentials.KEY_ENV} nor the OS keyring holds one"
    if not encrypt:
        if not problem:  # a reachable keyring: the first backup creates the key there
            return [_check("backup key", "ok", "no backup key yet: the next backup creates one in the OS keyring "
                           "and signs with it")]
        return [_check("backup key", "warn", "backups are written UNSIGNED (a restore of them needs "
                       "--trust-unsigned): no backup key is reachable" + why, fix)]
    return [_check("backup key", "fail", "encryption is on but there is no backup key" + why, fix)]


def _supabase_checks(ctx: Context) -> list[dict]:
    """The REST road: the key is the service role's, the project answers, the SQL is installed."""
    from ..sources.rest import setup as rest_setup
    from ..sources.supabase_restore import SupabaseRestore
    fix_sql = "run the SQL of `tenant-backup setup --print-sql` in the project's SQL editor"
    try:
        project = ctx.project()
        info = project.check()
    except TenantBackupError as err:
        return [_check("supabase", "fail", str(err), "use the service_role key from Project Settings → API "
                       "(SUPABASE_SERVICE_ROLE_KEY or tenant-backup credentials set --supabase)")]
    out = [_check("supabase", "ok", f"{project.host}: the key is the service role's "
                  f"(PostgreSQL {int(info.get('server_version') or 0) // 10000})")]
    try:
        state = rest_setup.setup_state(project)
        url, key = ctx.settings.require_supabase()
        with SupabaseRestore(url, key) as rest:
            restore = rest.helpers_state()
    except TenantBackupError as err:
        return out + [_check("setup", "fail", str(err), fix_sql)]
    if state.get("current") and restore.get("current"):
        out.append(_check("setup", "ok", "backup_logs, export, lock and restore functions installed"))
    else:
        missing = [what for what, ok in (("backup_logs and export functions", state.get("current")),
                                         ("restore functions", restore.get("current"))) if not ok]
        out.append(_check("setup", "fail", f"missing or outdated: {', '.join(missing)}", fix_sql))
    return out


def _result(checks: list[dict]) -> dict:
    worst = "fail" if any(c["status"] == "fail" for c in checks) else (
        "warn" if any(c["status"] == "warn" for c in checks) else "ok")
    return {"success": worst != "fail", "status": worst, "checks": checks}


def _files_checks(ctx: Context) -> list[dict]:
    """[[files]] rules: the project must be reachable and every bucket a rule names must exist."""
    rules = ctx.config.files
    if not rules:
        return []
    if (problem := ctx.files_problem()) is not None:
        return [_check("files", "fail", problem, "set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY")]
    out = []
    try:
        project = ctx.project()
        for bucket in sorted({r.bucket for r in rules}):
            if project.storage_bucket(bucket) is None:
                out.append(_check("files", "warn", f"the bucket {bucket} named by a [[files]] rule does not exist in "
                                  f"Supabase Storage", "check the bucket name in the rule (Storage in the dashboard)"))
    except TenantBackupError as err:
        return [_check("files", "fail", str(err), "check SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY")]
    return out or [_check("files", "ok", f"{len(rules)} [[files]] rule(s); their buckets exist")]
