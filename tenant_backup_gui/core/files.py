"""Which objects in Supabase Storage are a tenant's (the `[[files]]` rules), and the files part of a
backup's manifest. Pure: no I/O.

A rule names a bucket and a key pattern holding `{organization_id}`; the pattern, filled in, is a
key prefix (`"{organization_id}/"`: a folder; `"org-{organization_id}-"`: a name prefix). A rule's
`columns` ("table.column") also take every object a tenant row names by its key. A backup file is
untrusted input: before a restore writes or deletes an object, its key must pass `check_key` and
lie under one of the tenant's prefixes (or be named by the backup's rows and absent now)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError, IntegrityError

PLACEHOLDER = "{organization_id}"
FILES_ROOT = "tenant-files"  # content-addressed copies: tenant-files/{org}/{sha[:2]}/{sha}[.{key id}]
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
FILES_MODES = ("with", "none", "only")  # rows and files, rows only (--no-files), files only (--files-only)


@dataclass(frozen=True)
class FilesRule:
    bucket: str
    pattern: str
    columns: tuple[tuple[str, str], ...] = ()  # (table, column)

    def prefix(self, org_id: str) -> str:
        return self.pattern.replace(PLACEHOLDER, org_id)

    def describe(self) -> str:
        cols = f", columns {', '.join(f'{t}.{c}' for t, c in self.columns)}" if self.columns else ""
        return f"bucket {self.bucket}, keys starting {self.pattern!r}{cols}"

    def to_json(self) -> dict:
        return {"bucket": self.bucket, "pattern": self.pattern, "columns": [f"{t}.{c}" for t, c in self.columns]}


def parse_rules(value, where: str) -> tuple[FilesRule, ...]:
    """`[[files]]` tables: bucket = "invoices", pattern = "{organization_id}/", columns = ["t.c"]."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{where}: files must be [[files]] tables with bucket and pattern, e.g. "
                          f"[[files]] bucket = \"invoices\" pattern = \"{PLACEHOLDER}/\"")
    rules = []
    for i, spec in enumerate(value, 1):
        w = f"{where}: files #{i}"
        extra = set(spec) - {"bucket", "pattern", "columns"}
        if extra:
            raise ConfigError(f"{w}: '{sorted(extra)[0]}' is not a setting (use bucket, pattern, columns)")
        bucket, pattern = spec.get("bucket"), spec.get("pattern")
        if not isinstance(bucket, str) or not bucket.strip() or "/" in bucket:
            raise ConfigError(f"{w}: bucket must be a Storage bucket name (no '/'), e.g. bucket = \"invoices\", "
                              f"not {bucket!r}")
        if not isinstance(pattern, str) or pattern.count(PLACEHOLDER) != 1 or \
                re.sub(re.escape(PLACEHOLDER), "", pattern).count("{") or pattern.startswith("/"):
            raise ConfigError(f"{w}: pattern must hold {PLACEHOLDER} once (a key prefix such as "
                              f"\"{PLACEHOLDER}/\" or \"org-{PLACEHOLDER}-\"), not {pattern!r}")
        if any(p in (".", "..") for p in pattern.split("/")) or "//" in pattern:
            raise ConfigError(f"{w}: pattern {pattern!r} holds an empty, '.' or '..' folder; write the key prefix as "
                              f"Storage shows it")
        cols = spec.get("columns", [])
        if not isinstance(cols, list) or not all(isinstance(c, str) and re.fullmatch(r"[^.\s]+\.[^.\s]+", c)
                                                 for c in cols):
            raise ConfigError(f"{w}: columns must be a list of \"table.column\" names, e.g. "
                              f"columns = [\"invoice_email_sends.pdf_storage_path\"], not {cols!r}")
        rules.append(FilesRule(bucket.strip(), pattern, tuple(tuple(c.split(".", 1)) for c in cols)))
    return tuple(rules)


def check_key(key) -> str:
    """An object key a restore may touch: text, relative, no empty/'.'/'..' segment, no control
    character. Raises IntegrityError (the backup is not to be trusted) otherwise."""
    if not isinstance(key, str) or not key or key.startswith("/") or len(key) > 1024 or \
            any(p in ("", ".", "..") for p in key.split("/")) or any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise IntegrityError(f"the backup lists the object key {key!r}, which no rule can hold; this backup "
                             f"cannot be trusted: use another one")
    return key


def check_entry(e: "FileEntry") -> None:
    """What a restore sends as headers must be plain text: a tampered manifest must not smuggle a
    header in (or crash the upload with a traceback)."""
    check_key(e.path)
    for what, v in (("content type", e.content_type), ("cache control", e.cache_control)):
        if v is not None and (not isinstance(v, str) or len(v) > 500 or any(not 32 <= ord(ch) < 127 for ch in v)):
            raise IntegrityError(f"the backup lists a {what} {v!r} for {e.path!r} that is not one; this backup cannot "
                                 f"be trusted: use another one")
    if e.size < 0 or not all(isinstance(k, str) for k in (e.metadata or {})):
        raise IntegrityError(f"the backup's entry for {e.path!r} is not a valid file entry; this backup cannot be "
                             f"trusted: use another one")


def under_rules(rules: tuple[FilesRule, ...], org_id: str, bucket: str, key: str) -> bool:
    """Is (bucket, key) under one of the tenant's prefixes?"""
    return any(r.bucket == bucket and key.startswith(r.prefix(org_id)) for r in rules)


def other_owner(rules: tuple[FilesRule, ...], org_id: str, bucket: str, key: str, tenant_ids) -> str | None:
    """The other organization under whose prefix (bucket, key) lies, if any: a row of a restored
    backup may name such a key, but a restore must not put a file into another tenant's files."""
    for other in tenant_ids:
        if other != org_id and any(r.bucket == bucket and key.startswith(r.prefix(other)) for r in rules):
            return other
    return None


def stored_key(org_id: str, sha256: str, key_id: str | None = None) -> str:
    """Where the content-addressed copy lives in the backup store (shared by the tenant's backups;
    an encrypted copy is per backup key)."""
    if not SHA_RE.match(sha256 or ""):
        raise IntegrityError(f"the backup lists a file hash {sha256!r} that is not a SHA-256; this backup cannot be "
                             f"trusted: use another one")
    return f"{FILES_ROOT}/{org_id}/{sha256[:2]}/{sha256}" + (f".{key_id}" if key_id else "")


def tenant_files_prefix(org_id: str) -> str:
    return f"{FILES_ROOT}/{org_id}/"


def temp_folder(key: str) -> str | None:
    """Where a store writes the temp file of `key` before it is complete: a tenant's file copies
    (as big as the objects, thousands of them) in one `tenant-files/{org}/.tmp/` folder, so the
    sweep after a killed backup reads that folder, not every copy; None: beside the key."""
    parts = key.split("/")
    if len(parts) > 2 and parts[0] == FILES_ROOT:
        return f"{FILES_ROOT}/{parts[1]}/.tmp"
    return None


@dataclass(frozen=True)
class FileEntry:
    """One object of a backup: where it was (bucket, path), what it held, and how it was listed
    (size, etag, last_modified: the next backup's "unchanged" check reads only listings)."""
    bucket: str
    path: str
    sha256: str
    size: int
    content_type: str | None = None
    cache_control: str | None = None
    metadata: dict | None = None
    etag: str | None = None
    last_modified: str | None = None
    stored: str = ""
    stored_bytes: int = 0

    def to_json(self) -> dict:
        return {"bucket": self.bucket, "path": self.path, "sha256": self.sha256, "size": self.size,
                "content_type": self.content_type, "cache_control": self.cache_control,
                "metadata": self.metadata or {}, "etag": self.etag, "last_modified": self.last_modified,
                "stored": self.stored, "stored_bytes": self.stored_bytes}

    @classmethod
    def from_json(cls, d: dict) -> "FileEntry":
        if not isinstance(d, dict) or not isinstance(d.get("metadata") or {}, dict):
            raise ValueError("a files entry is not an object")
        meta = d.get("metadata") or {}
        return cls(str(d["bucket"]), d["path"], str(d["sha256"]), int(d["size"]), d.get("content_type"),
                   d.get("cache_control"), meta, d.get("etag"), d.get("last_modified"), str(d.get("stored") or ""),
                   int(d.get("stored_bytes") or 0))

    def same_bytes(self, meta: dict) -> bool:
        """Does a Storage listing's metadata show this object's bytes (size, etag)?"""
        return int(meta.get("size") or 0) == self.size and meta.get("eTag") == self.etag

    def same_object(self, meta: dict) -> bool:
        """Is the object now as backed up in every attribute the backup keeps: bytes (size, ETag),
        content type, cache control and, once the listing carries it (`userMetadata`, see
        stores/tenant_files.py with_user_metadata), the user metadata? Same bytes with an edited
        cache control or metadata is not the object of the backup: a restore puts it back."""
        return (self.same_bytes(meta) and (meta.get("mimetype") or None) == (self.content_type or None)
                and (meta.get("cacheControl") or None) == (self.cache_control or None)
                and ("userMetadata" not in meta or (meta["userMetadata"] or {}) == (self.metadata or {})))

    def same_listing(self, meta: dict) -> bool:
        """Does a Storage listing's metadata show this object unchanged (size, etag, last modified)?"""
        return self.same_bytes(meta) and str(meta.get("lastModified")) == str(self.last_modified)


def named_keys(rows, column: str) -> set[str]:
    """The object keys a table's rows name in `column` (text values only)."""
    out = set()
    for row in rows:
        v = row.get(column) if isinstance(row, dict) else None
        if isinstance(v, str) and v:
            out.add(v)
    return out


def files_plan(entries: list[FileEntry], current: dict[tuple[str, str], dict], owned_now: set[tuple[str, str]],
               mode: str) -> dict:
    """What a restore does to the files: to_upload (missing or different now), to_delete (replace:
    the tenant's objects now that the backup does not have), unchanged; with bytes. `current`:
    (bucket, key) → listing metadata now; `owned_now`: the keys under the tenant's prefixes now.
    missing-only uploads only what is absent: an object there now is left as it is."""
    upload, same = [], []
    wanted = set()
    for e in entries:
        wanted.add((e.bucket, e.path))
        meta = current.get((e.bucket, e.path))
        if meta is not None and (mode != "replace" or e.same_object(meta)):
            same.append(e)
        else:
            upload.append(e)
    delete = sorted(k for k in owned_now - wanted) if mode == "replace" else []
    return {
        "to_upload": [{"bucket": e.bucket, "path": e.path, "bytes": e.size} for e in upload],
        "to_delete": [{"bucket": b, "path": p, "bytes": int((current.get((b, p)) or {}).get("size") or 0)}
                      for b, p in delete],
        "unchanged": len(same),
        "bytes": {"to_upload": sum(e.size for e in upload),
                  "to_delete": sum(int((current.get(k) or {}).get("size") or 0) for k in delete),
                  "unchanged": sum(e.size for e in same)},
    }
