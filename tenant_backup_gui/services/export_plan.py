"""What a backup's lanes export, in which groups, and each table's manifest entry once exported:
the pure part of services/backup.py."""

from __future__ import annotations

from ..core.errors import TenantBackupError
from ..core.manifest import TableEntry

PACK_SHARE = 64 * 1024  # bytes of a table per tenant (size on disk / tenants) under which it is exported with others
PACK_TABLES = 50  # tables a packed COPY holds at most


def plan_items(names: list[str], sizes: dict[str, float], packs: bool, jobs: int) -> list[tuple[int, ...]]:
    """What the lanes take, in order (indexes into `names`): each large table alone, the largest
    first (the longest export never starts last), then — where the road packs — the small ones, a
    tenant's share of the table under PACK_SHARE, in groups exported by one COPY each (a round
    trip per table was the profile's second cost). At least one group per lane, so each lane has work."""
    small = [k for k in range(len(names)) if packs and sizes.get(names[k], 0) < PACK_SHARE]
    if len(small) < 2:
        small = []
    large = sorted((k for k in range(len(names)) if k not in set(small)), key=lambda k: -sizes.get(names[k], 0))
    groups = min(len(small), max(jobs, -(-len(small) // PACK_TABLES)))
    return [(k,) for k in large] + [tuple(small[g::groups]) for g in range(groups)]


def column_json(c) -> dict:
    """A column as the manifest lists it: name and type, and only what differs from a plain
    column (nullable, not generated, no identity). 100 tables' columns in full made a 257 KB
    summary, written with every backup and read by every listing; readers take only name, type
    and encoding."""
    return {"name": c.name, "type": c.type, **({"nullable": False} if not c.nullable else {}),
            **({"generated": True} if c.generated else {}), **({"identity": c.identity} if c.identity else {}),
            **({"encoding": "text"} if c.as_text else {})}


def table_entry(ts, rows: int, parts: list) -> TableEntry:
    """A table's manifest entry, once the rows read are checked against the rows written."""
    name = ts.table.key_name
    if sum(p.rows for p in parts) != rows:
        raise TenantBackupError(f"table {name}: {rows} rows read but "
                                f"{sum(p.rows for p in parts)} written; run the backup again")
    key, kind = ts.table.row_key
    return TableEntry(
        name=name, record_count=rows, parts=parts,
        columns=[column_json(c) for c in ts.table.columns],
        key=list(key), key_kind=kind, generated_columns=list(ts.table.generated_columns),
        scope=ts.describe())
