"""Read-only questions: which tenants, which backups, is a backup intact, what happened when."""

from __future__ import annotations

import asyncio

from ..core import manifest as mf
from ..core.constants import fill_sql
from ..core.errors import ConfigError, TenantBackupError
from ..core.events import Event, EventSink, ignore
from ..core.manifest import BackupInfo
from ..core.staleness import STALE_AFTER
from ..platform.paths import resource_text
import psycopg

from ..sources.direct import setup as direct_setup
from ..sources.direct.connect import db_error, describe_url
from ..sources.direct.tenants import list_tenants
from ..sources.shared import Tenant
from ..stores.backups import find_backup, list_backups, read_summary, verify_backup
from ..stores.tenant_files import verify_copies
from .context import Context
from .job import Job


def check_org_id(org_id: str) -> str:
    org = (org_id or "").strip().lower()
    if not mf.is_uuid(org):
        raise ConfigError(f"'{org_id}' is not an organization id (a UUID); list them with: tenant-backup tenants")
    return org


def tenants(ctx: Context) -> list[Tenant]:
    if not ctx.direct:
        from ..sources.rest import tenants as rest_tenants
        with ctx.snapshot() as snap:
            return rest_tenants.list_tenants(ctx.project(), ctx.config, snap.catalog)
    with ctx.snapshot() as snap:
        try:
            return list_tenants(snap.conn, snap.catalog, ctx.config)
        except psycopg.Error as err:
            raise db_error(err, "listing organizations") from None


def backups(ctx: Context, org_id: str) -> list[BackupInfo]:
    """Each with its signature judged by this installation's key (never created by listing)."""
    return list_backups(ctx.store, check_org_id(org_id), ctx.trust().key)


def history(ctx: Context, org_id: str | None = None, limit: int = 200, backup_type: str | None = None,
            status: str | None = None) -> list[dict]:
    from .leftovers import mark_dead
    mark_dead(ctx)  # a killed job's row says so here, not only after the next job on its tenant
    return ctx.history().rows(check_org_id(org_id) if org_id else None, limit, backup_type, status)


def setup_sql() -> str:
    """Everything the tool needs in the app's database, as one idempotent script: backup_logs and
    the version table, then the Supabase path's export and lock functions, then the restore engine
    both roads call (only service_role may execute any of it over the API). The constants the SQL
    shares with the code (core/constants.py) fill its `{{NAME}}` placeholders. `setup` installs it
    over a direct connection; `setup --print-sql` prints it for the Supabase SQL editor."""
    from ..sources.rest.setup import setup_sql as export_sql
    return fill_sql("\n".join([resource_text("sql", "setup.sql"), export_sql(),
                                resource_text("sql", "restore_rows.sql"), resource_text("sql", "restore_choice.sql"),
                                resource_text("sql", "restore_engine.sql")]))


def setup(ctx: Context) -> dict:
    if not ctx.direct:
        state = setup_state(ctx)
        raise ConfigError(f"setup needs a direct database connection (TENANT_BACKUP_DATABASE_URL); over the Supabase API "
                          f"run the SQL of `tenant-backup setup --print-sql` in the project's SQL editor instead "
                          f"(installed now: {'yes, current' if state.get('current') else 'no or outdated'})")
    result = direct_setup.install(ctx.url, setup_sql())
    return {"success": True, "database": describe_url(ctx.url), **result,
            "message": ("installed" if result["previous_version"] is None else "up to date")
            + f": backup_logs and helpers (schema version {result['version']})"}


class VerifyJob(Job):
    """Check a backup's signature, then re-read every part of it against its manifest."""

    def __init__(self, ctx: Context, org_id: str, backup_ref: str, on_event: EventSink = ignore,
                 trust_unsigned: bool = False):
        super().__init__(on_event)
        self.ctx, self.org_ref, self.backup_ref = ctx, org_id, backup_ref
        self.trust_unsigned = trust_unsigned

    def prepare(self) -> list[str]:
        if not mf.is_uuid((self.org_ref or "").strip()):
            return [f"'{self.org_ref}' is not an organization id (a UUID); list them with: tenant-backup tenants"]
        return []

    async def run(self) -> dict:
        self.check_prepared()
        self.bind_loop()
        org = check_org_id(self.org_ref)
        info = await asyncio.to_thread(find_backup, self.ctx.store, org, self.backup_ref)
        trust = self.ctx.trust(self.trust_unsigned)
        info, _ = await asyncio.to_thread(read_summary, self.ctx.store, info, trust)  # refused here when unsigned
        unsigned = trust.warning(info.origin, info.id)
        try:
            secret = self.ctx.key_for(info)
            keyless = False
        except TenantBackupError:
            secret, keyless = None, True  # checksums over what is stored still prove it intact
        problems = await asyncio.to_thread(verify_backup, self.ctx.store, info, self.emit, self.cancelled.is_set, secret)
        problems += await asyncio.to_thread(verify_copies, self.ctx.store, info, secret, self.cancelled.is_set)
        rows = sum(t.record_count for t in info.tables.values())
        if info.partial and not problems:
            message = (f"PARTIAL: backup {info.id} lacks rows the old system never read — {info.partial_reasons[0]}"
                       + (f" (+{len(info.partial_reasons) - 1} more)" if len(info.partial_reasons) > 1 else ""))
        elif info.legacy and not problems:
            message = f"unverifiable: no checksums (an old-system backup); row counts match ({rows:,} rows)"
        elif problems:
            message = f"backup {info.id} is damaged: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
        elif keyless:
            message = (f"backup {info.id} is intact on disk: {sum(len(t.parts) for t in info.tables.values())} "
                       f"encrypted parts match their checksums (without key {info.key_id} the rows were not counted)")
        else:
            message = f"backup {info.id} is intact: {sum(len(t.parts) for t in info.tables.values())} parts, {rows:,} rows" \
                + (f", {len(info.files)} files" if info.files else "")
        if unsigned:
            message = f"{message} — {unsigned}"
        self.emit(Event("finished", message, org))
        return {"success": not problems, "message": message, "backup_id": info.id, "organization_id": org,
                "verified": not problems and not info.legacy, "legacy": info.legacy, "problems": problems,
                "records": rows, "partial": info.partial, "partial_reasons": info.partial_reasons,
                "signed": info.signed, "signature": info.origin.state}


def tenant_overview(ctx: Context) -> list[dict]:
    """Tenants with their last backup, and whether they need attention: the last successful
    backup is older than 26 hours, or the last one failed."""
    from datetime import datetime, timezone
    now = datetime.now(timezone.utc)
    last = last_backups(ctx)
    out = []
    for t in tenants(ctx):
        info = last.get(t.id, {})
        ok = info.get("last_ok")
        stale = not t.deleted and (ok is None or now - ok > STALE_AFTER)
        failed = info.get("last_status") in ("failed", "cancelled")
        out.append({**t.to_json(), "last_ok": ok, "last_status": info.get("last_status"),
                    "attention": (stale or failed) and not t.deleted,
                    "why": "last backup failed" if failed else ("no successful backup in 26 hours" if stale else ""),
                    "status": tenant_status(t.deleted, ok, info.get("last_status"), info.get("last_started"), now)})
    return out


def last_backups(ctx: Context) -> dict[str, dict]:
    """Per tenant id: last_ok, last_status, last_started, last_daily (resources/sql/last_backups.sql)."""
    if ctx.direct:
        return direct_setup.last_backups(ctx.url)
    from ..sources.rest import setup as rest_setup
    return rest_setup.last_backups(ctx.project())


def tenant_status(deleted: bool, last_ok, last_status: str | None, last_started, now) -> str:
    """A short sentence that fits a column: "never backed up", "failed 2026-11-24", "stale: 31 h", "ok"."""
    if deleted:
        return "deleted"
    if last_status in ("failed", "cancelled") and last_started is not None:
        return f"{last_status} {last_started.astimezone():%Y-%m-%d}"
    if last_ok is None:
        return "never backed up"
    hours = int((now - last_ok).total_seconds() // 3600)
    return f"stale: {hours} h" if now - last_ok >= STALE_AFTER else "ok"


def setup_state(ctx: Context) -> dict:
    if not ctx.direct:
        from ..sources.rest import setup as rest_setup
        return rest_setup.setup_state(ctx.project())
    return direct_setup.setup_state(ctx.url)


def files_scope(ctx: Context, org_id: str | None) -> list[dict]:
    """Each [[files]] rule, and with a tenant, the objects under its prefix now (count, bytes)."""
    files = ctx.files(org_id, None) if org_id else None
    out = []
    for rule in ctx.config.files:
        doc = rule.to_json()
        if files is not None:
            sizes = [int((o.get("metadata") or {}).get("size") or 0)
                     for o in files.project.storage_list(rule.bucket, rule.prefix(org_id)) if o.get("metadata")]
            doc.update({"prefix": rule.prefix(org_id), "objects": len(sizes), "bytes": sum(sizes)})
        out.append(doc)
    return out


def scope(ctx: Context, org_id: str | None = None) -> dict:
    """What a backup of any tenant would hold, and why: the discovered scope, for the owner to
    confirm (and correct in the config) before relying on it."""
    from ..core.scope import discover_scope
    with ctx.snapshot() as snap:
        found = discover_scope(snap.catalog, ctx.config)
    return {
        **({"files": files_scope(ctx, org_id)} if ctx.config.files else {}),
        "tenant_column": found.tenant_column,
        "tables": [{"name": s.table.key_name, "reached": s.describe(), "key": list(s.table.row_key[0]),
                    "key_kind": s.table.row_key[1]} for s in found.tables],
        "skipped": found.skipped,
        "warnings": found.warnings,
    }
