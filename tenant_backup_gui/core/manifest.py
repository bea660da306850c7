"""The backup format: the old system's layout and summary, plus a versioned manifest.

Layout (kept from the old system so its backups stay restorable):
    tenant-backups/{organization_id}/{YYYY-MM-DD}/summary-{timestamp}.json
    tenant-backups/{organization_id}/{YYYY-MM-DD}/{table}.{hash}-{timestamp}-pNNNN.jsonl.gz  (new)
    tenant-backups/{organization_id}/{YYYY-MM-DD}/{table}-{timestamp}-pNNNN.jsonl.gz  (format 2 before the hash)
    tenant-backups/{organization_id}/{YYYY-MM-DD}/{table}-{timestamp}.json              (old)
A backup is complete only when its summary exists: the summary is written last."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import history
from .encryption import ALGORITHM as ENCRYPTION_ALGORITHM
from .files import FileEntry
from .partial import legacy_partial_reasons
from .signing import UNSIGNED, Origin

FORMAT_VERSION = 3  # the newest this version reads and writes
# Format 3 adds packed parts (Part.offset/length: several small tables' streams in one file); a
# backup without any is still written as format 2, so older versions read it as before.
PLAIN_FORMAT = 2
ROOT = "tenant-backups"
BACKUP_TYPES = ("manual", "daily", "safety")
# History rows whose size is a backup written (a dry run, a restore or a cleanup writes none).
WRITING_HISTORY_TYPES = history.WRITING_TYPES


def history_size(row: dict) -> int | None:
    """The size a history row should show, or None where a size would mean nothing ("0 B")."""
    return row.get("backup_size") or None if row.get("backup_type") in WRITING_HISTORY_TYPES else None

TS_RE = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})-(\d{3})Z")
SUMMARY_RE = re.compile(r"^summary-(" + TS_RE.pattern + r")\.json$")


def timestamp_id(moment: datetime) -> str:
    """`2025-01-15T02-00-04-512Z`: the old system's ISO time with ':' and '.' replaced by '-'."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H-%M-%S-") + f"{moment.microsecond // 1000:03d}Z"


def iso_z(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp_id(backup_id: str) -> datetime:
    m = TS_RE.fullmatch(backup_id)
    if not m:
        raise ValueError(backup_id)
    d, hh, mm, ss, ms = m.groups()
    return datetime.fromisoformat(f"{d}T{hh}:{mm}:{ss}.{ms}+00:00")


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def tenant_prefix(org_id: str) -> str:
    return f"{ROOT}/{org_id}/"


def backup_dir(org_id: str, backup_id: str) -> str:
    return f"{ROOT}/{org_id}/{backup_id[:10]}"


def summary_key(org_id: str, backup_id: str) -> str:
    return f"{backup_dir(org_id, backup_id)}/summary-{backup_id}.json"


def safe_file_stem(table: str) -> str:
    """Table names become file names: readable, never a path, and never the same for two tables.
    What a file name cannot hold becomes '_', so a short hash of the exact name (its UTF-8 bytes)
    follows: "it's" and 'it"s', größe and grüße get parts of their own. (Earlier backups name
    their parts without it; a summary lists its parts by key, so they still read.)"""
    readable = re.sub(r"[^A-Za-z0-9_.$-]", "_", table)
    return f"{readable}.{hashlib.sha256(table.encode()).hexdigest()[:8]}"


def part_key(org_id: str, backup_id: str, table: str, index: int) -> str:
    return f"{backup_dir(org_id, backup_id)}/{safe_file_stem(table)}-{backup_id}-p{index:04d}.jsonl.gz"


def pack_key(org_id: str, backup_id: str, lane: int, index: int) -> str:
    """A file of small tables' streams (format 3), by the lane that wrote it. No table's part is
    named so: a table's stem always carries its '.hash' (safe_file_stem)."""
    return f"{backup_dir(org_id, backup_id)}/packed-{backup_id}-l{lane:02d}-p{index:04d}.jsonl.gz"


def stored_size(parts) -> int:
    """The stored bytes of these parts, a file shared by several counted once."""
    return sum({p.key: p.bytes for p in parts}.values())


@dataclass(frozen=True)
class Part:
    key: str
    rows: int
    bytes: int
    sha256: str | None  # None: a legacy file, written without checksums
    format: str = "jsonl.gz"  # or "legacy-json"
    encrypted: bool = False  # AES-256-GCM over the gzip stream (core/encryption.py)
    plain_bytes: int | None = None  # its JSON lines uncompressed: a reader stops past it (None: older backups)
    # A packed part (format 3): this table's stream is bytes offset … offset+length of the file
    # `key`, which holds other small tables' streams too; `bytes` and `sha256` are the whole
    # file's, so every check of a stored file (listing, pins, checksums) is the same as for any part.
    offset: int | None = None
    length: int | None = None

    @property
    def stored(self) -> int:
        """The stored bytes that are this part's own (a packed part: its stream, not the file)."""
        return self.length if self.offset is not None else self.bytes


@dataclass
class TableEntry:
    name: str
    record_count: int
    parts: list[Part]
    columns: list[dict] = field(default_factory=list)
    key: list[str] = field(default_factory=list)
    key_kind: str = "none"
    generated_columns: list[str] = field(default_factory=list)
    scope: str = ""


@dataclass
class BackupInfo:
    id: str
    organization_id: str
    organization_name: str | None
    date: str
    created_at: datetime
    type: str
    total_records: int
    total_size: int
    complete: bool
    legacy: bool = False
    summary_key: str | None = None
    tables: dict[str, TableEntry] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    problem: str | None = None  # why an incomplete backup is not one
    key_id: str | None = None  # the encryption key's id, when encrypted
    partial_reasons: list[str] = field(default_factory=list)  # core/partial.py: an old backup cut short
    files: list[FileEntry] | None = None  # the tenant's Storage objects (None: no files part)
    files_rules: list[dict] = field(default_factory=list)
    origin: Origin = Origin(UNSIGNED)  # what its signature says (core/signing.py), judged when it was read

    @property
    def signed(self) -> bool:
        return self.origin.signed

    @property
    def partial(self) -> bool:
        return bool(self.partial_reasons)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "organization_id": self.organization_id,
            "organization_name": self.organization_name,
            "date": self.date,
            "created_at": iso_z(self.created_at),
            "type": "legacy" if self.legacy else self.type,
            "total_records": self.total_records,
            "total_size": self.total_size,
            "complete": self.complete,
            "verifiable": not self.legacy,
            "encrypted": bool(self.key_id),
            "signed": self.signed,
            "signature": self.origin.state,
            **({"signed_by": self.origin.key_id} if self.origin.key_id else {}),
            **({"key_id": self.key_id} if self.key_id else {}),
            "tables": {n: {"record_count": t.record_count, "parts": len(t.parts)} for n, t in self.tables.items()},
            "warnings": self.warnings,
            "partial": self.partial,
            "partial_reasons": self.partial_reasons,
            **({"files": {"objects": len(self.files), "bytes": sum(e.size for e in self.files)}}
               if self.files is not None else {}),
            **({"problem": self.problem} if self.problem else {}),
        }


def build_summary(*, organization_id: str, organization_name: str | None, backup_id: str, backup_type: str,
                  started: datetime, finished: datetime, tables: list[TableEntry], warnings: list[str],
                  tool_version: str, source: dict, tenant_column: str, skipped: dict[str, str],
                  key_id: str | None = None, files: list[FileEntry] | None = None,
                  files_rules: list[dict] | None = None) -> dict:
    """The old summary's fields first (old readers keep working), then the manifest."""
    old_tables = {}
    for t in tables:
        old_tables[t.name] = {
            "success": True,
            "record_count": t.record_count,
            "size": sum(p.stored for p in t.parts),
            "storage_path": t.parts[0].key if t.parts else None,
        }
    total_records = sum(t.record_count for t in tables)
    total_size = stored_size(p for t in tables for p in t.parts)
    packed = any(p.offset is not None for t in tables for p in t.parts)
    return {
        "organization_id": organization_id,
        "organization_name": organization_name,
        "backup_date": backup_id[:10],
        "backup_timestamp": iso_z(parse_timestamp_id(backup_id)),
        "tables": old_tables,
        "total_records": total_records,
        "total_size": total_size,
        "errors": [],
        "manifest": {
            "format_version": FORMAT_VERSION if packed else PLAIN_FORMAT,
            "tool": "tenant-backup",
            "tool_version": tool_version,
            "backup_id": backup_id,
            "type": backup_type,
            "started_at": iso_z(started),
            "finished_at": iso_z(finished),
            "source": source,
            "tenant_column": tenant_column,
            "encoding": "row_to_json lines, gzip",
            **({"encryption": {"algorithm": ENCRYPTION_ALGORITHM, "key_id": key_id}} if key_id else {}),
            "order": [t.name for t in tables],
            "tables": {
                t.name: {
                    "record_count": t.record_count,
                    "columns": t.columns,
                    "key": t.key,
                    "key_kind": t.key_kind,
                    "generated_columns": t.generated_columns,
                    "scope": t.scope,
                    "parts": [{"key": p.key, "rows": p.rows, "bytes": p.bytes, "sha256": p.sha256,
                               **({"plain_bytes": p.plain_bytes} if p.plain_bytes is not None else {}),
                               **({"offset": p.offset, "length": p.length} if p.offset is not None else {}),
                               **({"encrypted": True} if p.encrypted else {})} for p in t.parts],
                }
                for t in tables
            },
            "skipped_tables": skipped,
            "warnings": warnings,
            "totals": {"tables": len(tables), "records": total_records, "bytes": total_size},
            **({"files": {"rules": files_rules or [], "objects": [e.to_json() for e in files],
                          "totals": {"objects": len(files), "bytes": sum(e.size for e in files)}}}
               if files is not None else {}),
        },
    }


class SummaryError(ValueError):
    pass


def _size(value) -> int | None:
    """A declared size: a whole number ≥ 0, or absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SummaryError(f"a part's size or offset is not a whole number ≥ 0: {value!r}")
    return value


def _part(p: dict) -> Part:
    """A part as the manifest lists it; a packed one's stream must lie inside its file."""
    part = Part(p["key"], p["rows"], p["bytes"], p["sha256"], encrypted=p.get("encrypted", False),
                plain_bytes=_size(p.get("plain_bytes")), offset=_size(p.get("offset")), length=_size(p.get("length")))
    if (part.offset is None) != (part.length is None) or (
            part.offset is not None and part.offset + part.length > part.bytes):
        raise SummaryError(f"part {part.key}: its offset and length do not lie within its {part.bytes} bytes")
    return part


def parse_summary(doc: dict, key: str) -> BackupInfo:
    """Read a new or an old summary. Raises SummaryError when it is not one."""
    if not isinstance(doc, dict) or "organization_id" not in doc or "tables" not in doc:
        raise SummaryError("not a backup summary")
    m = SUMMARY_RE.match(key.rsplit("/", 1)[-1])
    if not m:
        raise SummaryError("summary file name has no timestamp")
    backup_id = m.group(1)
    created = parse_timestamp_id(backup_id)
    manifest = doc.get("manifest")
    if manifest:
        if manifest.get("format_version", 0) > FORMAT_VERSION:
            raise SummaryError(f"written by a newer tenant-backup (format {manifest.get('format_version')}); upgrade to read it")
        tables = {}
        for name, t in manifest["tables"].items():
            tables[name] = TableEntry(
                name=name, record_count=t["record_count"],
                parts=[_part(p) for p in t["parts"]],
                columns=t.get("columns", []), key=t.get("key", []), key_kind=t.get("key_kind", "none"),
                generated_columns=t.get("generated_columns", []), scope=t.get("scope", ""))
        files = manifest.get("files")
        return BackupInfo(
            files=None if files is None else [FileEntry.from_json(e) for e in files["objects"]],
            files_rules=list((files or {}).get("rules") or []),
            id=backup_id, organization_id=doc["organization_id"], organization_name=doc.get("organization_name"),
            date=doc.get("backup_date", backup_id[:10]), created_at=created, type=manifest.get("type", "manual"),
            total_records=doc.get("total_records", 0), total_size=doc.get("total_size", 0), complete=True,
            summary_key=key, tables=tables, order=manifest.get("order", list(tables)),
            warnings=list(manifest.get("warnings", [])), errors=list(doc.get("errors", [])),
            key_id=(manifest.get("encryption") or {}).get("key_id"))
    # The old system's summary: one plain JSON file per table, no checksums.
    tables = {}
    warnings = []
    for name, t in doc["tables"].items():
        if t.get("success") and t.get("storage_path"):
            tables[name] = TableEntry(name=name, record_count=int(t.get("record_count", 0)),
                                      parts=[Part(t["storage_path"], int(t.get("record_count", 0)),
                                                  int(t.get("size", 0)), None, "legacy-json")])
        else:
            warnings.append(f"table '{name}' was not backed up: {t.get('error', 'unknown error')}")
    return BackupInfo(
        id=backup_id, organization_id=doc["organization_id"], organization_name=doc.get("organization_name"),
        date=doc.get("backup_date", backup_id[:10]), created_at=created, type="legacy",
        total_records=int(doc.get("total_records", 0)), total_size=int(doc.get("total_size", 0)), complete=True,
        legacy=True, summary_key=key, tables=tables, order=list(tables), warnings=warnings,
        errors=list(doc.get("errors", [])), partial_reasons=legacy_partial_reasons(doc))
