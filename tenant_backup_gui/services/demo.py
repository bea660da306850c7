"""The sandbox as the app sees it: a database with the demo dataset and the tool's setup, and a
backup folder holding one old-system backup cut at the old 1,000-row cap (so PARTIAL is seen)."""

from __future__ import annotations

import json

from ..core.config import LEGACY_TABLES
from ..core.partial import LEGACY_ROW_CAP
from ..platform import sandbox
from ..platform.paths import resource_text
from ..sources.direct.old_system import capped_rows
from ..sources.direct.setup import install, run_script
from ..stores.folder import FolderStore
from .inventory import setup_sql

OLD_SYSTEM_ORG = "c0ffee00-1234-4abc-8def-001122334455"  # Northern Cylinders: 1,100 bottles, cut at 1,000


def _two_nights_ago() -> str:
    """The old system's last nightly run, two nights before the sandbox started: young enough that
    retention (30 days by default) keeps it while the demo is tried."""
    from datetime import datetime, timedelta, timezone
    night = datetime.now(timezone.utc) - timedelta(days=2)
    return f"{night:%Y-%m-%d}T02-00-03-250Z"


def _load(url: str) -> None:
    run_script(url, resource_text("demo", "schema.sql"), "creating the demo schema")
    run_script(url, resource_text("demo", "data.sql"), "loading the demo data")
    install(url, setup_sql())  # what `tenant-backup setup` installs: the restore engine too


def old_system_backup(url: str, store: FolderStore, org: str = OLD_SYSTEM_ORG, ts: str | None = None) -> str:
    """Write what the old system's nightly run wrote for `org` (its layout and summary, no
    checksums, no signature); returns the summary's key."""
    ts = ts or _two_nights_ago()
    name, read = capped_rows(url, org, LEGACY_TABLES, LEGACY_ROW_CAP)
    day = f"tenant-backups/{org}/{ts[:10]}"
    tables, errors = {}, []
    for table, rows in read.items():
        if isinstance(rows, str):
            tables[table] = {"success": False, "error": rows, "record_count": 0}
            errors.append({"table": table, "error": rows})
            continue
        key = f"{day}/{table}-{ts}.json"
        text = json.dumps({"table": table, "timestamp": ts, "record_count": len(rows), "data": rows}).encode()
        store.put_bytes(key, text)
        tables[table] = {"success": True, "record_count": len(rows), "size": len(text), "storage_path": key}
    ok = [t for t in tables.values() if t["success"]]
    summary = f"{day}/summary-{ts}.json"
    store.put_bytes(summary, json.dumps({
        "organization_id": org, "organization_name": name, "backup_date": ts[:10],
        "backup_timestamp": f"{ts[:10]}T{ts[11:13]}:{ts[14:16]}:{ts[17:19]}.{ts[20:23]}Z", "tables": tables,
        "total_records": sum(t["record_count"] for t in ok), "total_size": sum(t["size"] for t in ok),
        "errors": errors}).encode())
    return summary


def start() -> sandbox.Sandbox:
    box = sandbox.start(_load)
    if box.created:  # a new sandbox: its folder gets the old system's backup once (retention may remove it later)
        old_system_backup(box.url, FolderStore(box.store))
    return box


stop = sandbox.stop
reset = sandbox.reset
