"""The nightly run in the OS scheduler: install, remove, status — with the last result from the
history, and a warning where the scheduler will not reach the keyring."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..core.errors import ConfigError, TenantBackupError
from ..platform import scheduler
from .context import Context


def _last_result(ctx: Context) -> dict | None:
    if not ctx.settings.database_url:
        return None
    try:
        rows = ctx.history().rows(None, 1, "daily")
    except TenantBackupError:
        return None
    if not rows:
        return None
    r = rows[0]
    return {"status": r["status"], "started_at": r["started_at"].isoformat() if r["started_at"] else None,
            "completed_at": r["completed_at"].isoformat() if r["completed_at"] else None,
            "errors": r["errors"] or []}


def status(ctx: Context) -> dict:
    out = scheduler.status()
    out["last_result"] = _last_result(ctx)
    return out


def install(ctx: Context, at: str = "02:00", env_file: str | None = None) -> dict:
    spec = scheduler.Spec(scheduler.parse_at(at), scheduler.daily_command())
    # Never the database URL nor the service role key: they are secrets.
    for key in ("TENANT_BACKUP_CONFIG", "TENANT_BACKUP_STORE", "TENANT_BACKUP_MIRROR", "SUPABASE_URL"):
        if os.environ.get(key):
            spec.environment[key] = os.environ[key]
    warnings = []
    if env_file:
        p = Path(env_file).expanduser().resolve()
        if not p.is_file():
            raise ConfigError(f"--env-file {p} does not exist; create it with TENANT_BACKUP_DATABASE_URL=... "
                              f"and chmod 600 it")
        if stat.S_IMODE(p.stat().st_mode) & 0o077:
            raise ConfigError(f"--env-file {p} is readable by others; make it private first: chmod 600 {p}")
        spec.env_file = p
        warnings.append(f"the scheduler reads the database URL from {p} (mode 0600), a file you chose: "
                        f"keep it out of backups and shared folders")
    elif not ctx.settings.direct:
        where = ("only in this shell" if os.environ.get("SUPABASE_SERVICE_ROLE_KEY")
                 else "in the OS keyring, which a scheduled job often cannot reach without your login session")
        warnings.append(f"the Supabase service role key is {where}; to be sure the nightly run has it, re-run with "
                        f"--env-file FILE holding SUPABASE_SERVICE_ROLE_KEY=... (chmod 600)")
    elif ctx.settings.url_source == "keyring":
        warnings.append("the database URL lives in the OS keyring, which a scheduled job often cannot reach "
                        "without your login session (then `daily` exits with code 4); to be sure, re-run with "
                        "--env-file FILE holding TENANT_BACKUP_DATABASE_URL=... (chmod 600)")
    elif ctx.settings.url_source == "environment":
        warnings.append("TENANT_BACKUP_DATABASE_URL is set only in this shell: the scheduled job will not "
                        "have it; re-run with --env-file FILE holding it (chmod 600), or save it in Settings")
    result = scheduler.install(spec)
    result["last_result"] = _last_result(ctx)
    result["warnings"] = warnings
    return result


def remove(ctx: Context) -> dict:
    out = scheduler.remove()
    out["last_result"] = _last_result(ctx)
    return out
