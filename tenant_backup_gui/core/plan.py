"""A restore plan: what a dry run found, bound to the backup, the options and the tenant's data.

The apply runs only with a plan of the same backup, tenant and options that has not expired, and
only while the tenant's data still has the plan's fingerprint: what the owner reviewed is
exactly what gets applied."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

MODES = ("replace", "missing-only", "rows")  # rows: chosen rows (--rows), restore_choice.sql


@dataclass(frozen=True)
class RestoreOptions:
    mode: str = "replace"
    tables: tuple[str, ...] = ()  # empty: every table of the backup
    allow_dropped_columns: bool = False
    accept_partial: bool = False  # replace from a partial old-system backup (core/partial.py), knowingly
    files: str = "with"  # the tenant's Storage objects too ("with"), not ("none": --no-files), only ("only")
    # Chosen rows (mode "rows"): ((table, (key value, …)), …), in the order given.
    rows: tuple[tuple[str, tuple[str, ...]], ...] = ()
    with_dependents: bool = False  # the backup's rows that reach a chosen row through foreign keys, any depth
    overwrite: bool = False  # a chosen row that exists now and differs becomes the backup's (else: a conflict, kept)
    relink: bool = True  # missing-only and rows: NULL links to rows brought back are put back

    def chosen(self) -> dict[str, list[list[str]]]:
        out: dict[str, list[list[str]]] = {}
        for table, key in self.rows:
            if list(key) not in out.setdefault(table, []):
                out[table].append(list(key))
        return out

    def choice(self) -> dict | None:
        """The engine's p_choice (resources/sql/restore_choice.sql); None for a replace."""
        if self.mode == "replace":
            return None
        return {"keys": self.chosen() if self.mode == "rows" else {}, "dependents": self.with_dependents,
                "overwrite": self.overwrite, "relink": self.relink}

    def key(self) -> dict:
        """What a plan pins of the options: the apply must be asked for exactly this, chosen keys included."""
        return {"mode": self.mode, "tables": sorted(self.tables),
                "allow_dropped_columns": self.allow_dropped_columns,
                **({"files": self.files} if self.files != "with" else {}),
                **({"rows": {t: sorted(k) for t, k in sorted(self.chosen().items())},
                    "with_dependents": self.with_dependents, "overwrite": self.overwrite} if self.mode == "rows" else {}),
                **({"relink": False} if not self.relink and self.mode != "replace" else {})}

    @classmethod
    def from_key(cls, key: dict) -> "RestoreOptions":
        """The options a plan pinned (its apply runs with exactly these)."""
        return cls(key["mode"], tuple(key.get("tables", ())), key.get("allow_dropped_columns", False),
                   files=key.get("files", "with"),
                   rows=tuple((t, tuple(k)) for t, keys in (key.get("rows") or {}).items() for k in keys),
                   with_dependents=key.get("with_dependents", False), overwrite=key.get("overwrite", False),
                   relink=key.get("relink", True))

    @property
    def chosen_count(self) -> int:
        return sum(len(k) for k in self.chosen().values())


@dataclass
class TablePlan:
    name: str
    record_count: int
    current_rows: int = 0
    to_insert: int = 0
    to_update: int = 0
    to_delete: int = 0
    unchanged: int = 0  # equal to the backup
    left_different: int = 0  # differ from the backup but kept as they are (missing-only; chosen rows' conflicts)
    relinked: int = 0  # rows that exist now and get back a link to a row the restore brings back
    restored: int = 0
    key: list[str] = field(default_factory=list)
    key_kind: str = "primary"
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"success": not self.problems, "record_count": self.record_count, "current_rows": self.current_rows,
                "to_insert": self.to_insert, "to_update": self.to_update, "to_delete": self.to_delete,
                "unchanged": self.unchanged, "left_different": self.left_different, "relinked": self.relinked,
                "restored": self.restored,
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
    rows = [f"--rows {t}={','.join(':'.join(k) for k in keys)}" for t, keys in (options.get("rows") or {}).items()]
    return " ".join(([f"--mode {options.get('mode')}"] if options.get("mode") != "rows" else rows)
                    + (["--with-dependents"] if options.get("with_dependents") else [])
                    + (["--overwrite"] if options.get("overwrite") else [])
                    + (["--no-relink"] if options.get("relink") is False else [])
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
