"""What the backup store holds of a tenant's files, apart from copying them (tenant_files.py):
the copies there, the files listed by its earlier backups, and the keys its backed-up rows name."""

from __future__ import annotations

import json

from ..core import files as cf
from ..core.errors import IntegrityError, TenantBackupError
from ..core.files import FileEntry
from ..core.scope import table_named
from .base import ObjectStore
from .part_reader import iter_part_blocks


def rows_reader(store: ObjectStore, tables: dict, secret: bytes | None):
    """read_rows(table) over a backup's parts (for FilesRule.columns): the rows as dicts, or None
    when the backup has no such table. `tables`: name → TableEntry."""
    def read(table: str):
        entry = table_named(tables, table)
        if entry is None:
            return None
        return (_row(line, table) for p in entry.parts for block, _ in iter_part_blocks(store, p, secret)
                for line in block.splitlines() if line)
    return read


def _row(line, table: str):
    try:
        return json.loads(line)
    except ValueError:
        raise IntegrityError(f"a line of table {table} in the backup is not JSON; this backup cannot be trusted: "
                             f"use another one") from None


def prune_copies(store: ObjectStore, org_id: str, kept_backups: list) -> int:
    """Delete the tenant's file copies that no kept backup lists (run under the tenant's lock, so
    no backup is writing meanwhile); returns the bytes freed. A kept backup whose summary cannot
    be read might list any copy: then nothing is deleted."""
    if any(b.problem and b.summary_key for b in kept_backups):
        return 0
    kept = {e.stored for b in kept_backups for e in (b.files or [])}
    gone = [o for o in store.list(cf.tenant_files_prefix(org_id)) if o.key not in kept]
    if gone:
        store.delete([o.key for o in gone])
    return sum(o.size for o in gone)


def stored_copies(store: ObjectStore, org_id: str) -> dict[str, int]:
    """The tenant's file copies in the store: key → stored bytes."""
    return {o.key: o.size for o in store.list(cf.tenant_files_prefix(org_id))}


def previous_entries(store: ObjectStore, org_id: str, before: str) -> dict[tuple[str, str], FileEntry]:
    """The files of the tenant's newest backup (before `before`) that has a files part, by
    (bucket, key): only summaries are read, newest first, a few at most."""
    from ..core import manifest as mf
    summaries = sorted((o.key for o in store.list(mf.tenant_prefix(org_id))
                        if mf.SUMMARY_RE.match(o.key.rsplit("/", 1)[-1])), key=lambda k: k.rsplit("/", 1)[-1],
                       reverse=True)
    for key in [k for k in summaries if mf.SUMMARY_RE.match(k.rsplit("/", 1)[-1]).group(1) < before][:5]:
        try:
            with store.open_reader(key) as fh:
                info = mf.parse_summary(json.loads(fh.read()), key)
        except (ValueError, KeyError, TypeError, TenantBackupError):
            continue
        if info.files is not None and info.organization_id.lower() == org_id.lower():
            return {(e.bucket, e.path): e for e in info.files}
    return {}
