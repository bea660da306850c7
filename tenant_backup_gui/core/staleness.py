"""When a tenant's daily backups are late: per tenant, so that one shard of the nightly run that
stopped, or never ran, shows even while the other shards run fine. Pure: the caller reads the
history (the `daily` runs, newest first) and each tenant's last successful daily backup."""

from __future__ import annotations

from datetime import datetime, timedelta

from .errors import TenantBackupError
from .shard import Shard, parse_shard, shard_of

STALE_AFTER = timedelta(hours=26)  # a daily schedule, with two hours of slack


def _shard_of_run(run: dict) -> Shard | None:
    try:
        return parse_shard(run["metadata"]["shard"])
    except (KeyError, TypeError, TenantBackupError):
        return None


def stale_tenants(active: list, last_daily: dict, runs: list[dict], now: datetime) -> list[tuple]:
    """(tenant, its last successful daily or None) for each active tenant whose last successful
    daily backup is older than STALE_AFTER; one never backed up by `daily` is stale unless a
    daily run that owns it (unsharded, or of its shard) started within STALE_AFTER — a tenant
    created since the last run waits for the next one, a shard that never ran does not."""
    owners = [_shard_of_run(r) for r in runs if r["started_at"] and now - r["started_at"] <= STALE_AFTER
              and r["status"] in ("completed", "completed_with_errors", "in_progress")]
    out = []
    for t in active:
        last = last_daily.get(t.id)
        if last is not None:
            if now - last > STALE_AFTER:
                out.append((t, last))
        elif not any(s is None or s.owns(t.id) for s in owners):
            out.append((t, None))
    return out


def stale_message(stale: list[tuple], active: list, runs: list[dict], now: datetime) -> str:
    """One line: how many, which shards have none fresh (by the newest sharded run's count), a few examples."""
    text = (f"{len(stale)} of {len(active)} active organizations have no successful daily backup "
            f"in the last {STALE_AFTER.total_seconds() / 3600:.0f} hours")
    count = next((s.count for s in map(_shard_of_run, runs) if s is not None), None)
    if count:
        stale_ids, by_shard = {t.id for t, _ in stale}, {}
        for t in active:
            by_shard.setdefault(shard_of(t.id, count), []).append(t.id)
        dead = [f"{i}/{count}" for i, ids in sorted(by_shard.items()) if all(o in stale_ids for o in ids)]
        if dead:
            text += f", among them every organization of shard {', '.join(dead)} (has it run?)"
    examples = [f"{t.name or t.id} ({'never' if last is None else f'{(now - last).total_seconds() / 3600:.0f} hours ago'})"
                for t, last in stale[:3]]
    return (text + f": {', '.join(examples)}{', …' if len(stale) > 3 else ''}; "
            f"check the schedule: tenant-backup schedule status, and tenant-backup history --type daily")
