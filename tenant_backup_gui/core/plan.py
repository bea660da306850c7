"""A restore plan: what a dry run found, bound to the backup, the options and the tenant's data.

The apply runs only with a plan of the same backup, tenant and options that has not expired, and
only while the tenant's data still has the plan's fingerprint: what the owner reviewed is
exactly what gets applied."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

MODES = ("replace", "missing-only")


@dataclass(frozen=True)
class RestoreOptions:
    mode: str = "replace"
    tables: tuple[str, ...] = ()  # empty: every table of the backup
    allow_dropped_columns: bool = False
    accept_partial: bool = False  # replace from a partial old-system backup (core/partial.py), knowingly
    files: str = "with"  # the tenant's Storage objects too ("with"), not ("none": --no-files), only ("only")

    def key(self) -> dict:
        return {"mode": self.mode, "tables": sorted(self.tables),
                "allow_dropped_columns": self.allow_dropped_columns,
                **({"files": self.files} if self.files != "with" else {})}


@dataclass
class TablePlan:
    name: str
    record_count: int
    current_rows: int = 0
    to_insert: int = 0
    to_update: int = 0
    to_delete: int = 0
    unchanged: int = 0  # equal to the backup
    left_different: int = 0  # differ from the backup but kept as they are (missing-only)
    restored: int = 0
    key: list[str] = field(default_factory=list)
    key_kind: str = "primary"
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"success": not self.problems, "record_count": self.record_count, "current_rows": self.current_rows,
                "to_insert": self.to_insert, "to_update": self.to_update, "to_delete": self.to_delete,
                "unchanged": self.unchanged, "left_different": self.left_different, "restored": self.restored,
                "key": self.key,
                "key_kind": self.key_kind, "problems": self.problems}


@dataclass
class Plan:
    plan_id: str
    organization_id: str
    organization_name: str | None
    backup_id: str
    backup_date: str
    options: dict
    fingerprint: str
    created_at: str
    expires_at: str
    tables: dict[str, dict]
    warnings: list[str]
    problems: list[str]
    files: dict[str, str] = field(default_factory=dict)  # SHA-256 of the summary and every part read
    files_section: dict = field(default_factory=dict)  # what the dry run found for the tenant's Storage objects

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> "Plan":
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})


def new_plan_id() -> str:
    return "plan-" + secrets.token_hex(8)


def expiry(now: datetime, ttl_minutes: int) -> str:
    return (now + timedelta(minutes=ttl_minutes)).isoformat(timespec="seconds")


def describe_options(options: dict) -> str:
    """A plan's options as the command line says them, not as a Python dict."""
    return " ".join([f"--mode {options.get('mode')}"]
                    + ([f"--tables {','.join(options['tables'])}"] if options.get("tables") else [])
                    + (["--allow-dropped-columns"] if options.get("allow_dropped_columns") else [])
                    + ({"none": ["--no-files"], "only": ["--files-only"]}.get(options.get("files"), [])))


def why_plan_unusable(plan: Plan | None, org_id: str, backup_id: str, options: RestoreOptions,
                      now: datetime) -> str | None:
    """None when the plan may be applied; otherwise the one-line reason and what to do."""
    rerun = "run the dry run again (tenant-backup restore --dry-run …)"
    if plan is None:
        return f"no such plan; {rerun}"
    if plan.organization_id != org_id or plan.backup_id != backup_id:
        return (f"plan {plan.plan_id} is for backup {plan.backup_id} of organization {plan.organization_id}, "
                f"not this one; {rerun}")
    if plan.options != options.key():
        return f"plan {plan.plan_id} was made with other options ({describe_options(plan.options)}); {rerun} with these"
    if datetime.fromisoformat(plan.expires_at) < now.astimezone(timezone.utc):
        return f"plan {plan.plan_id} expired at {plan.expires_at}; {rerun}"
    if plan.problems:
        return f"the dry run found problems: {plan.problems[0]}"
    return None
