"""Which backups a cleanup deletes, and why each survivor stays. Pure: takes the list and a clock.

Rules, in order: the newest complete backup of a tenant is never deleted, whatever its age;
complete backups younger than `days` stay; keep_daily/weekly/monthly keep the newest complete
backup of each of the last N days/ISO weeks/months that have one; everything else older goes.
Incomplete backups (no summary: interrupted) are removed once older than a day, so a backup that is
being written right now is never touched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .config import Retention
from .manifest import BackupInfo


@dataclass(frozen=True)
class Decision:
    backup: BackupInfo
    keep: bool
    reason: str


def decide(backups: list[BackupInfo], policy: Retention, now: datetime) -> list[Decision]:
    out: list[Decision] = []
    by_org: dict[str, list[BackupInfo]] = {}
    for b in backups:
        by_org.setdefault(b.organization_id, []).append(b)
    cutoff = now - timedelta(days=policy.days)
    for org, items in sorted(by_org.items()):
        complete = sorted((b for b in items if b.complete), key=lambda b: b.created_at, reverse=True)
        reasons: dict[str, str] = {}
        if complete:
            reasons[complete[0].id] = "newest complete backup of this tenant"
        for b in complete:
            if b.created_at >= cutoff:
                reasons.setdefault(b.id, f"younger than {policy.days} days")
        for count, label, bucket in (
            (policy.keep_daily, "daily", lambda d: d.strftime("%Y-%m-%d")),
            (policy.keep_weekly, "weekly", lambda d: "%d-W%02d" % d.isocalendar()[:2]),
            (policy.keep_monthly, "monthly", lambda d: d.strftime("%Y-%m")),
        ):
            seen: list[str] = []
            for b in complete:  # newest first: the first of each bucket is that bucket's newest
                key = bucket(b.created_at)
                if key in seen:
                    continue
                if len(seen) >= count:
                    break
                seen.append(key)
                reasons.setdefault(b.id, f"keep_{label}: newest of {key}")
        for b in sorted(items, key=lambda b: b.created_at, reverse=True):
            if not b.complete:
                if now - b.created_at > timedelta(days=1):
                    out.append(Decision(b, False, "incomplete (no summary) and older than a day"))
                else:
                    out.append(Decision(b, True, "incomplete but recent: may still be being written"))
            elif b.id in reasons:
                out.append(Decision(b, True, reasons[b.id]))
            else:
                out.append(Decision(b, False, f"older than {policy.days} days"))
    return out
