"""What a restore's dry run, its apply and the nightly run return: typed, so the services, the
CLI's printers and the window read the same fields by name. `to_json()` is the `--json` document
(its shape is the CLI's contract: tests/test_cli_contract.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .plan import TablePlan


@dataclass(frozen=True)
class ColumnChange:
    """One column of a row the restore changes (or leaves different): its value now and in the backup."""
    column: str
    now: str | None
    backup: str | None


@dataclass
class RestoreRow:
    """One row a restore inserts, updates, deletes or leaves different ("left": missing-only keeps
    it as it is now), named by its key and label (resources/sql/restore_rows.sql lists them)."""
    kind: str  # insert | update | delete | left | relink | conflict (restore_rows.sql)
    key: list[str | None]
    label: str | None
    changes: list[ColumnChange] = field(default_factory=list)
    now: dict | None = None  # the whole row now, {column: text} (None: not there now)
    backup: dict | None = None  # the whole row in the backup (None: not in it)
    why: str | None = None  # chosen rows: chosen | dependent | parent (a missing parent a written row needs)

    @property
    def key_text(self) -> str:
        return ":".join("NULL" if k is None else k for k in self.key)

    @classmethod
    def from_engine(cls, doc: dict) -> "RestoreRow":
        changes = [ColumnChange(c, v[0], v[1]) for c, v in (doc.get("changes") or {}).items()]
        return cls(doc["kind"], list(doc["key"]), doc.get("label"), changes, doc.get("now"), doc.get("backup"),
                   doc.get("why"))

    @classmethod
    def from_json(cls, doc: dict) -> "RestoreRow":
        return cls(doc["kind"], doc["key"], doc.get("label"),
                   [ColumnChange(c["column"], c["now"], c["backup"]) for c in doc.get("changes", [])],
                   doc.get("now"), doc.get("backup"), doc.get("why"))

    def to_json(self, records: bool = False) -> dict:
        """records: with the whole row now and in the backup (the spool keeps them; --json does not)."""
        return {"kind": self.kind, "key": self.key, "label": self.label,
                "changes": [{"column": c.column, "now": c.now, "backup": c.backup} for c in self.changes],
                **({"why": self.why} if self.why else {}),
                **({"now": self.now, "backup": self.backup} if records else {})}

    def matches(self, needle_folded: str) -> bool:
        texts = [self.key_text, self.label or ""] + [v or "" for r in (self.now, self.backup) if r for v in r.values()]
        return any(needle_folded in t.casefold() for t in texts)


@dataclass
class RestoreOutcome:
    """What a dry run found or an apply did, per table and for the tenant's files."""
    success: bool
    message: str
    plan_id: str | None
    organization_id: str
    organization_name: str | None
    backup_id: str
    backup_date: str
    restored: int  # rows the restore writes (dry run) or wrote (apply)
    tables: dict[str, TablePlan]
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files: dict | None = None  # core.files.files_plan's section; None when files are not part of it
    signed: bool = True  # signed by this installation's key (core/signing.py); False: restored on the owner's word
    rows: object | None = None  # services/restore_rows.RowSpool: the rows it changes, when asked for
    backup_type: str | None = None  # manual, daily, safety: a date never means a safety backup, its id may
    backup_created_at: datetime | None = None

    @property
    def changes(self) -> tuple[int, int, int]:
        """Rows to insert, update and delete, over every table."""
        ts = self.tables.values()
        return (sum(t.to_insert for t in ts), sum(t.to_update for t in ts), sum(t.to_delete for t in ts))

    @property
    def left_different(self) -> int:
        """Rows the restore leaves as they are although they differ from the backup (missing-only)."""
        return sum(t.left_different for t in self.tables.values())

    @property
    def relinked(self) -> int:
        """Rows that exist now and get their link back to a row the restore brings back."""
        return sum(t.relinked for t in self.tables.values())

    @property
    def changed_tables(self) -> list[str]:
        """The tables whose rows the restore changes (not every table it reads)."""
        return [n for n, t in self.tables.items() if t.to_insert or t.to_update or t.to_delete or t.relinked]

    def to_json(self) -> dict:
        doc = {
            "success": self.success,
            "message": self.message,
            "plan_id": self.plan_id,
            "summary": {"organization_id": self.organization_id, "organization_name": self.organization_name,
                        "backup_id": self.backup_id, "backup_date": self.backup_date,
                        "backup_type": self.backup_type, "backup_created_at":
                            self.backup_created_at.isoformat() if self.backup_created_at else None,
                        "total_tables": len(self.tables), "total_records_restored": self.restored,
                        "inserted": self.changes[0], "updated": self.changes[1], "deleted": self.changes[2],
                        "left_different": self.left_different, "relinked": self.relinked,
                        "tables_changed": len(self.changed_tables),
                        "errors": len(self.problems)},
            "tables": {n: t.to_json() for n, t in self.tables.items()},
            "signed": self.signed,
            "warnings": self.warnings,
            "problems": self.problems,
        }
        if self.files:
            doc["files"] = self.files
        if self.rows is not None:
            doc["rows"] = self.rows.to_json()
        return doc


@dataclass
class DryRunReport(RestoreOutcome):
    """A dry run: what the apply of its plan (plan_id, set when it may be applied) would do."""
    partial: bool = False
    partial_reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {**super().to_json(), "partial": self.partial, "partial_reasons": self.partial_reasons}


@dataclass
class RestoreResult(RestoreOutcome):
    """An apply that happened; safety_backup_id holds the state before it (and undoes it)."""
    safety_backup_id: str | None = None
    seconds: float = 0.0
    undo: bool = False  # it restored a safety backup: the undo of the restore that took it

    def to_json(self) -> dict:
        return {**super().to_json(), "safety_backup_id": self.safety_backup_id, "seconds": self.seconds,
                "undo": self.undo}


@dataclass
class DailyTenant:
    """One tenant of a nightly run: its backup, or why there is none."""
    organization_id: str
    organization_name: str | None
    success: bool
    error: str | None = None
    backup_id: str | None = None
    records: int = 0
    size: int = 0
    lanes: int = 0
    warnings: list[str] = field(default_factory=list)
    signed: bool = True  # False: written where the backup key could not be reached

    def to_json(self) -> dict:
        doc = {"organization_id": self.organization_id, "organization_name": self.organization_name,
               "success": self.success}
        if not self.success:
            return {**doc, "error": self.error}
        return {**doc, "backup_id": self.backup_id, "records": self.records, "size": self.size, "lanes": self.lanes,
                "warnings": self.warnings, "signed": self.signed}


@dataclass
class DailyResult:
    """The nightly run; its JSON keeps the old system's response shape."""
    success: bool
    message: str
    total_tenants: int
    tenants: list[DailyTenant]
    skipped_deleted_tenants: list[str]
    jobs: int
    shard: str | None
    catalog_reads: int | None
    cleanup: dict | None
    started_at: str
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[DailyTenant]:
        return [d for d in self.tenants if not d.success]

    @property
    def total_records(self) -> int:
        return sum(d.records for d in self.tenants if d.success)

    @property
    def total_size(self) -> int:
        return sum(d.size for d in self.tenants if d.success)

    def to_json(self) -> dict:
        ok = len(self.tenants) - len(self.failed)
        return {
            "success": self.success,
            "message": self.message,
            "summary": {"total_tenants": self.total_tenants, "successful_tenants": ok,
                        "failed_tenants": len(self.failed), "total_records": self.total_records,
                        "total_size": self.total_size},
            "tenants": [d.to_json() for d in self.tenants],
            "skipped_deleted_tenants": self.skipped_deleted_tenants,
            "jobs": self.jobs,
            "shard": self.shard,
            "catalog_reads": self.catalog_reads,
            "cleanup": self.cleanup,
            "started_at": self.started_at,
            "seconds": self.seconds,
            "warnings": self.warnings,
        }
