"""What a restore's dry run, its apply and the nightly run return: typed, so the services, the
CLI's printers and the window read the same fields by name. `to_json()` is the `--json` document
(its shape is the CLI's contract: tests/test_cli_contract.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .plan import TablePlan


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

    @property
    def changes(self) -> tuple[int, int, int]:
        """Rows to insert, update and delete, over every table."""
        ts = self.tables.values()
        return (sum(t.to_insert for t in ts), sum(t.to_update for t in ts), sum(t.to_delete for t in ts))

    def to_json(self) -> dict:
        doc = {
            "success": self.success,
            "message": self.message,
            "plan_id": self.plan_id,
            "summary": {"organization_id": self.organization_id, "organization_name": self.organization_name,
                        "backup_id": self.backup_id, "backup_date": self.backup_date,
                        "total_tables": len(self.tables), "total_records_restored": self.restored,
                        "errors": len(self.problems)},
            "tables": {n: t.to_json() for n, t in self.tables.items()},
            "signed": self.signed,
            "warnings": self.warnings,
            "problems": self.problems,
        }
        if self.files:
            doc["files"] = self.files
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

    def to_json(self) -> dict:
        return {**super().to_json(), "safety_backup_id": self.safety_backup_id, "seconds": self.seconds}


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
