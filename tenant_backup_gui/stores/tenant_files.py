"""A tenant's objects in Supabase Storage ↔ their copies in the backup store.

Copies are content-addressed by SHA-256 (core/files.stored_key) and shared by the tenant's
backups: an object whose listing (size, etag, last modified) matches the previous backup's entry,
and whose copy is in the store, is not read at all — a daily backup of unchanged files reads only
listings. Bytes always stream through a spool (memory, then a temp file): never a whole object in
memory. A copy is encrypted as parts are when the backup is; its hash is of the plain bytes and is
checked while it streams back, before anything is uploaded."""

from __future__ import annotations

import hashlib
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from ..core import files as cf
from ..core.encryption import Decryptor, Encryptor, key_id
from ..core.errors import Cancelled, IntegrityError, TenantBackupError
from ..core.files import FileEntry, FilesRule
from ..sources.storage_api import StorageNotFound, read_chunks
from .base import ObjectStore
from .tenant_copies import previous_entries, prune_copies, rows_reader, stored_copies  # noqa: F401 (re-exported)

SPOOL_MEMORY = 8 * 1024 * 1024
READ_CHUNK = 1 << 20


def _spool():
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)


def rule_prefixes(rules: tuple[FilesRule, ...], org_id: str) -> list[tuple[str, str]]:
    """(bucket, key prefix) of every rule for this tenant: where its objects are listed."""
    return [(rule.bucket, rule.prefix(org_id)) for rule in rules]


class TenantFiles:
    """One tenant's files: `project` is the SupabaseProject (its Storage API), `store` the backup
    store, `secret` the backup key (copies encrypted when given)."""

    def __init__(self, project, store: ObjectStore, org_id: str, rules: tuple[FilesRule, ...],
                 secret: bytes | None = None, cancelled: Callable[[], bool] = lambda: False, jobs: int = 4):
        self.project, self.store, self.org_id, self.rules = project, store, org_id, rules
        self.secret, self.cancelled, self.jobs = secret, cancelled, jobs
        self.key_id = key_id(secret) if secret else None
        self._claims: dict[str, threading.Event] = {}  # copies being written by this run
        self._claims_lock = threading.Lock()

    # ------------------------------------------------------------ what is there now
    def list_now(self) -> dict[tuple[str, str], dict]:
        """(bucket, key) → listing metadata of every object under the tenant's prefixes now."""
        out: dict[tuple[str, str], dict] = {}
        for bucket, prefix in rule_prefixes(self.rules, self.org_id):
            for o in self.project.storage_list(bucket, prefix):
                if o.get("metadata") is not None:  # a folder placeholder has none
                    out[(bucket, o["name"])] = o["metadata"]
        return out

    def with_user_metadata(self, current: dict[tuple[str, str], dict], entries) -> None:
        """Add `userMetadata` (the object info's, which listings lack) to the listing of every
        object a restore would otherwise count unchanged: one request each, only for those."""
        for e in entries:
            meta = current.get((e.bucket, e.path))
            if meta is not None and "userMetadata" not in meta and e.same_object(meta):
                info = self.project.storage_info(e.bucket, e.path)
                if info is not None:
                    meta["userMetadata"] = info.get("metadata") or {}

    def lookup(self, bucket: str, key: str) -> dict | None:
        """One object's listing metadata (a key a tenant row names), or None when absent."""
        for o in self.project.storage_list(bucket, key):
            if o["name"] == key and o.get("metadata") is not None:
                return o["metadata"]
        return None

    def named(self, read_rows) -> dict[tuple[str, str], str]:
        """(bucket, key) → the rule column naming it, for every key the tenant's rows name in a
        rule's columns. `read_rows(table)` yields the table's rows (dicts), or None when absent."""
        out: dict[tuple[str, str], str] = {}
        for rule in self.rules:
            for table, column in rule.columns:
                rows = read_rows(table)
                if rows is None:
                    continue
                for k in cf.named_keys(rows, column):
                    out.setdefault((rule.bucket, k), f"{table}.{column}")
        return out

    def current(self, named: dict[tuple[str, str], str],
                prefixed: dict[tuple[str, str], dict] | None = None) -> dict[tuple[str, str], dict]:
        """(bucket, key) → listing metadata of the tenant's objects now and of the `named` keys
        that exist. Under the tenant's prefixes the listing is whole: only named keys outside them
        are looked up (a row naming a deleted file costs no request). `prefixed`: what is under
        the prefixes, already read (the direct road: storage.objects in the rows' snapshot)."""
        listed = self.list_now() if prefixed is None else dict(prefixed)
        for (bucket, key) in sorted(named):
            if (bucket, key) not in listed and not cf.under_rules(self.rules, self.org_id, bucket, key) \
                    and (meta := self.lookup(bucket, key)) is not None:
                listed[(bucket, key)] = meta
        return listed

    def stored_now(self) -> dict[str, int]:
        return stored_copies(self.store, self.org_id)

    # ------------------------------------------------------------ backup
    def backup(self, named: dict[tuple[str, str], str], previous: dict[tuple[str, str], FileEntry],
               progress: Callable[[int, int], None] = lambda n, b: None,
               warn: Callable[[str], None] = lambda message: None,
               stored: dict[str, int] | None = None, listed: dict[tuple[str, str], dict] | None = None
               ) -> list[FileEntry]:
        """Every object of the tenant, copied unless unchanged since `previous` (the last backup's
        entries). Returns the entries, each checked stored (present, its size) at the end. An
        object deleted between the listing and its copy is left out with a warning: on a live app
        that happens any night, and it must not cost the tenant its backup. `stored`: the store's
        copies (stored_copies), when already listed under the tenant's lock; `listed`: what
        Storage holds now (current(named)), when already listed."""
        listed = self.current(named) if listed is None else listed
        stored = self.stored_now() if stored is None else dict(stored)
        entries: dict[tuple[str, str], FileEntry] = {}
        todo = []
        for k, meta in sorted(listed.items()):
            prev = previous.get(k)
            if prev is not None and prev.same_listing(meta) and prev.stored == self._stored_key(prev.sha256) \
                    and stored.get(prev.stored) == prev.stored_bytes:
                entries[k] = prev  # unchanged: nothing read, nothing copied
            else:
                todo.append((k, meta))
        done = {"n": 0, "bytes": 0}

        def copy(item) -> FileEntry | None:
            if self.cancelled():
                raise Cancelled("backup cancelled")
            (bucket, key), meta = item
            try:
                e = self._copy_in(bucket, key, meta, stored)
            except StorageNotFound:
                warn(f"{bucket}/{key} was deleted during the backup: not in this backup")
                return None
            done["n"] += 1
            done["bytes"] += e.size
            progress(done["n"], done["bytes"])
            return e

        if todo:
            with ThreadPoolExecutor(max(1, min(self.jobs, len(todo))), thread_name_prefix="files") as pool:
                for e in pool.map(copy, todo):
                    if e is not None:
                        entries[(e.bucket, e.path)] = e
        # Complete only when every listed object is stored: re-listed when something was copied
        # (the unchanged ones were just seen in the store's listing).
        now = self.stored_now() if todo else stored
        for e in entries.values():
            if now.get(e.stored) != e.stored_bytes:
                raise TenantBackupError(f"the copy of {e.bucket}/{e.path} ({e.stored}) is missing from the backup store "
                                        f"after it was written; the backup was not completed")
        return [entries[k] for k in sorted(entries)]

    def _stored_key(self, sha256: str) -> str:
        return cf.stored_key(self.org_id, sha256, self.key_id)

    def _copy_in(self, bucket: str, key: str, meta: dict, stored: dict[str, int]) -> FileEntry:
        info = self.project.storage_info(bucket, key) or {}
        spool = _spool()
        try:
            box = {}

            def fresh():
                spool.seek(0)
                spool.truncate()
                box["sha"], box["size"] = hashlib.sha256(), 0

                def sink(chunk: bytes) -> None:
                    spool.write(chunk)
                    box["sha"].update(chunk)
                    box["size"] += len(chunk)
                return sink

            headers = self.project.storage_download(bucket, key, fresh)
            sha = box["sha"].hexdigest()
            target = self._stored_key(sha)
            size = self._store_once(target, stored, lambda: (self._check_fits(bucket, key, box["size"]),
                                                              self._write_copy(target, spool))[1])
            return FileEntry(bucket, key, sha, box["size"],
                             content_type=info.get("content_type") or headers.get("content-type"),
                             cache_control=info.get("cache_control") or headers.get("cache-control"),
                             metadata=info.get("metadata") or {}, etag=meta.get("eTag"),
                             last_modified=meta.get("lastModified"), stored=target, stored_bytes=size)
        finally:
            spool.close()

    def _store_once(self, target: str, stored: dict[str, int], write: Callable[[], int]) -> int:
        """Write a copy unless the store has it; objects of the same content copied at once (two
        names, one logo) write it once: the others wait for that copy."""
        with self._claims_lock:
            if target in stored:
                return stored[target]
            claim = self._claims.get(target)
            mine = claim is None
            if mine:
                claim = self._claims[target] = threading.Event()
        if not mine:
            claim.wait()
            if target not in stored:
                raise TenantBackupError(f"the copy {target} could not be written; the backup was not completed")
            return stored[target]
        try:
            stored[target] = write()
            return stored[target]
        finally:
            claim.set()

    def _check_fits(self, bucket: str, key: str, size: int) -> None:
        """A store in a Storage bucket takes objects up to its upload limit: say so for a file, not
        as a part (whose size the config sets)."""
        limit = getattr(self.store, "max_object_bytes", None)
        if callable(limit) and size + 28 > (most := limit()):
            raise TenantBackupError(f"{bucket}/{key} ({size} bytes) is larger than the backup store's upload limit "
                                    f"({most} bytes, {self.store.describe()}); raise that bucket's file size limit "
                                    f"(or the project's upload limit), or keep backups in a folder")

    def _write_copy(self, target: str, spool) -> int:
        spool.seek(0)
        writer = self.store.open_writer(target)
        cipher = Encryptor(self.secret) if self.secret else None
        size = 0
        try:
            if cipher:
                writer.write(cipher.header())
                size += len(cipher.header())
            for chunk in read_chunks(spool, READ_CHUNK):
                data = cipher.update(chunk) if cipher else chunk
                writer.write(data)
                size += len(data)
            if cipher:
                tail = cipher.finalize()
                writer.write(tail)
                size += len(tail)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        return size

    # ------------------------------------------------------------ reading copies back
    def read_copy(self, e: FileEntry, into=None) -> str | None:
        """Stream the copy of `e` (decrypting), checking its SHA-256 and size; the plain bytes go to
        `into` (a file) when given. Returns the problem, or None."""
        secret = self.secret
        plain_key = cf.stored_key(self.org_id, e.sha256)
        if e.stored == plain_key:
            encrypted = False
        elif self.key_id and e.stored == cf.stored_key(self.org_id, e.sha256, self.key_id):
            encrypted = True
        elif e.stored.startswith(plain_key + "."):
            return f"the copy of {e.bucket}/{e.path} is encrypted with a key that was not given"
        else:
            return f"the copy of {e.bucket}/{e.path} is stored under {e.stored!r}, not where its hash says"
        sha, size = hashlib.sha256(), 0
        dec = Decryptor(secret, e.stored) if encrypted else None
        try:
            with self.store.open_reader(e.stored) as fh:
                while chunk := fh.read(READ_CHUNK):
                    plain = dec.update(chunk) if dec else chunk
                    sha.update(plain)
                    size += len(plain)
                    if into is not None:
                        into.write(plain)
            if dec:
                plain = dec.finish()
                sha.update(plain)
                size += len(plain)
                if into is not None:
                    into.write(plain)
        except IntegrityError as err:
            return f"the copy of {e.bucket}/{e.path}: {err}"
        except TenantBackupError as err:
            return f"the copy of {e.bucket}/{e.path} cannot be read: {err}"
        if size != e.size or sha.hexdigest() != e.sha256:
            return f"the copy of {e.bucket}/{e.path} ({e.stored}) does not match its checksum"
        return None

    # ------------------------------------------------------------ restore
    def check_copies(self, entries: list[FileEntry]) -> None:
        """Every copy a restore will upload, re-read against its hash before anything changes: a
        damaged copy refuses the whole restore, not half of it."""
        def one(e: FileEntry) -> str | None:
            if self.cancelled():
                raise Cancelled("restore cancelled")
            return self.read_copy(e)
        if entries:
            with ThreadPoolExecutor(max(1, min(self.jobs, len(entries))), thread_name_prefix="files") as pool:
                problems = [p for p in pool.map(one, entries) if p]
            if problems:
                raise IntegrityError(f"{problems[0]}; this backup cannot be trusted: use another one")

    def upload(self, entries: list[FileEntry], progress: Callable[[int, int], None] = lambda n, b: None) -> None:
        """Put each object back exactly (bytes, type, cache control, user metadata), every copy
        checked against its hash before its upload starts."""
        done = {"n": 0, "bytes": 0}

        def one(e: FileEntry) -> None:
            if self.cancelled():
                raise Cancelled("restore cancelled")
            spool = _spool()
            try:
                problem = self.read_copy(e, spool)
                if problem:
                    raise IntegrityError(problem + "; this backup cannot be trusted: use another one")
                spool.flush()

                def body():
                    spool.seek(0)
                    return read_chunks(spool, READ_CHUNK)
                self.project.storage_upload(e.bucket, e.path, body, e.size,
                                            content_type=e.content_type or "application/octet-stream",
                                            cache_control=e.cache_control, metadata=e.metadata or None)
            finally:
                spool.close()
            done["n"] += 1
            done["bytes"] += e.size
            progress(done["n"], done["bytes"])

        if entries:
            with ThreadPoolExecutor(max(1, min(self.jobs, len(entries))), thread_name_prefix="files") as pool:
                list(pool.map(one, entries))

    def delete(self, keys: list[tuple[str, str]]) -> None:
        """Remove objects, each checked under the tenant's prefixes first."""
        by_bucket: dict[str, list[str]] = {}
        for bucket, key in keys:
            cf.check_key(key)
            if not cf.under_rules(self.rules, self.org_id, bucket, key):
                raise IntegrityError(f"refusing to delete {bucket}/{key}: it is not under this tenant's [[files]] "
                                     f"rules")
            by_bucket.setdefault(bucket, []).append(key)
        for bucket, ks in by_bucket.items():
            self.project.storage_delete(bucket, ks)


def verify_copies(store: ObjectStore, info, secret: bytes | None, cancelled=lambda: False) -> list[str]:
    """Re-read the copy of every file a backup lists against its SHA-256 and size (without the key
    an encrypted copy is checked for presence and stored size only)."""
    if not info.files:
        return []
    reader = TenantFiles(None, store, info.organization_id, (), secret)
    sizes = reader.stored_now()
    problems = []
    for e in info.files:
        if cancelled():
            raise Cancelled("verification cancelled")
        if sizes.get(e.stored) is None:
            problems.append(f"the copy of {e.bucket}/{e.path} ({e.stored}) is missing")
        elif secret is None and info.key_id:
            if sizes[e.stored] != e.stored_bytes:
                problems.append(f"the copy of {e.bucket}/{e.path} ({e.stored}) does not match its size")
        elif (problem := reader.read_copy(e)) is not None:
            problems.append(problem)
    return problems
