"""Backups as a whole, on any store: write the parts of a backup, list, find, read, verify, delete.

Parts are gzip'd JSON lines (one `row_to_json` per line). Compression and hashing run on a thread
of their own, fed through a small bounded queue: the database reader never waits for them, and
memory stays bounded whatever the tenant's size. Parts are compressed by ISA-L (isal_zlib), whose
level 1 deflate is several times faster than zlib's fastest and packs JSON text a little tighter;
what it writes is plain gzip, which zlib (and any gzip) reads back. Where no isal wheel exists (it
is only required on the machines it ships wheels for), zlib writes the same format, slower."""

from __future__ import annotations

import hashlib
import json
import queue
import re
import threading
import zlib
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Iterator

try:
    from isal import isal_zlib as deflate
except ImportError:  # a platform without isal wheels: the same gzip, from zlib
    deflate = zlib

from ..core import manifest as mf
from ..core import signing
from ..core.encryption import NONCE, TAG, Encryptor
from ..core.errors import Cancelled, ConfigError, CredentialsUnavailable, IntegrityError, TenantBackupError
from ..core.events import Event, EventSink, ignore
from ..core.manifest import BackupInfo, Part
from ..core.signing import Trust
from .base import ObjectStore
from .part_reader import READ_CHUNK, iter_part_blocks, iter_part_lines, verify_part  # noqa: F401 (re-exported: callers read parts here)


COMMITTERS = 8  # parts made durable at once, across every backup of the process
_committers: ThreadPoolExecutor | None = None
_committers_lock = threading.Lock()


def _commit(writer) -> Future:
    """Make a part durable (the folder: fsync, rename, fsync the folder; Storage: the upload) on a
    shared pool, not on the backup's own thread. Issue #23's profile: a backup waited 3.6 ms per
    table for its part's commit, most of it the two fsyncs; fsyncs issued at once share the
    filesystem's journal commit (here 8.7 ms a file one at a time, 0.7 ms with 4 at once), and
    uploads overlap. The summary is written only once every part's commit has succeeded."""
    global _committers
    with _committers_lock:
        if _committers is None:
            _committers = ThreadPoolExecutor(COMMITTERS, thread_name_prefix="part-commit")
    return _committers.submit(writer.commit)


class _OpenPart:
    """One part being written: gzip stream, running SHA-256 of the stored bytes, counts."""

    def __init__(self, key: str, writer, level: int, secret: bytes | None = None):
        self.key, self.writer = key, writer
        self.comp = deflate.compressobj(level, deflate.DEFLATED, 31)
        self.sha = hashlib.sha256()
        self.rows = self.size = self.plain = 0
        self.cipher = Encryptor(secret) if secret else None
        if self.cipher:
            self._store(self.cipher.header())

    def _out(self, data: bytes) -> None:
        if data and self.cipher:
            data = self.cipher.update(data)
        self._store(data)

    def _store(self, data: bytes) -> None:
        if data:
            self.writer.write(data)
            self.sha.update(data)
            self.size += len(data)

    def add(self, batch: bytes, rows: int) -> None:
        self._out(self.comp.compress(batch))
        self.rows += rows
        self.plain += len(batch)

    def sync(self) -> None:
        self._out(self.comp.flush(deflate.Z_SYNC_FLUSH))

    def close(self, commits: list[Future]) -> Part:
        """The part's entry at once; its commit joins `commits` (see _commit)."""
        self._out(self.comp.flush())
        if self.cipher:
            self._store(self.cipher.finalize())
        commits.append(_commit(self.writer))
        return Part(self.key, self.rows, self.size, self.sha.hexdigest(), encrypted=self.cipher is not None,
                    plain_bytes=self.plain)


class BackupWriter:
    """Writes the parts of one backup; the summary, written by `finish`, makes it complete."""

    def __init__(self, store: ObjectStore, org_id: str, backup_id: str, part_bytes: int, level: int = 1,
                 secret: bytes | None = None):
        self.secret = secret  # an AES-256 key: parts are encrypted when given
        self.store = store
        self.org_id = org_id
        self.backup_id = backup_id
        self.part_bytes = part_bytes
        self.level = level
        # A batch must fit a part with room to spare, however badly it compresses.
        self.batch_bytes = max(4096, min(1 << 20, part_bytes // 8))
        # room for the nonce and the tag when encrypting
        self.part_bytes = part_bytes - (NONCE + TAG if secret else 0)
        self.written_keys: list[str] = []
        self._owners: dict[str, str] = {}  # part key -> the table whose rows it holds
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="backup-writer", daemon=True)
        self._thread.start()
        self._table: str | None = None
        self._result: list[Part] | None = None
        self._done = threading.Event()
        self._commits: list[Future] = []  # the parts' commits under way (_commit)

    # --- producer side (the database reader's thread) ---
    def begin_table(self, name: str) -> None:
        self._check()
        self._table = name
        self._done.clear()
        self._queue.put(("begin", name))

    def write(self, batch: bytes, rows: int) -> None:
        self._check()
        self._queue.put(("data", batch, rows))

    def end_table(self) -> list[Part]:
        self._queue.put(("end",))
        self._done.wait()
        self._check()
        parts, self._result = self._result, None
        return parts or []

    def finish(self, summary: dict, sign_with: bytes | None = None) -> str:
        """Write the summary, signed with the backup key when one is given (core/signing.py)."""
        self.close()
        key = mf.summary_key(self.org_id, self.backup_id)
        if sign_with is not None:
            summary = signing.sign(summary, sign_with)
        # compact: indented, a 100-table summary was 257 KB and 0.49 ms a table to write (issue #23)
        self.store.put_bytes(key, json.dumps(summary, separators=(",", ":"), ensure_ascii=False).encode())
        return key

    def close(self) -> None:
        """Every part written and durable, or the first error raised."""
        if self._thread.is_alive():
            self._queue.put(("stop",))
            self._thread.join()
        self._check()
        for f in self._commits:
            if (err := f.exception()) is not None and self._error is None:
                self._error = err
        self._check()

    def abort(self) -> None:
        """Remove everything this backup wrote: nothing half-written may look like a backup."""
        if self._thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._queue.put(("abort",))
            self._thread.join(timeout=30)
        wait(self._commits, timeout=60)  # a commit still under way would put its part back after the delete
        try:
            self.store.delete(list(self.written_keys))
        except Exception:  # noqa: BLE001 - best effort; leftovers are listed as incomplete
            pass

    def _check(self) -> None:
        if self._error is not None:
            err = self._error
            if isinstance(err, TenantBackupError):
                raise err
            raise TenantBackupError(f"writing the backup failed: {err}") from err

    # --- consumer side ---
    def _open_part(self, table: str, index: int) -> "_OpenPart":
        key = mf.part_key(self.org_id, self.backup_id, table, index)
        other = self._owners.setdefault(key, table)
        if other != table or key in self.written_keys:  # one file, two tables' rows: fail, never overwrite
            raise TenantBackupError(f"tables {other!r} and {table!r} map to the same part file {key}; "
                                    f"the backup was not completed")
        writer = self.store.open_writer(key)
        self.written_keys.append(key)
        return _OpenPart(key, writer, self.level, self.secret)

    def _work(self) -> None:
        part: _OpenPart | None = None
        parts: list[Part] = []
        table = None
        try:
            while True:
                msg = self._queue.get()
                if msg[0] == "begin":
                    table, parts, part = msg[1], [], None
                elif msg[0] == "data":
                    if self._error is not None:
                        continue
                    _, batch, rows = msg
                    bound = len(batch) + len(batch) // 1000 + 64  # deflate's worst case (ISA-L 1-3: stored blocks)
                    if part is not None and part.size + bound + 65536 > self.part_bytes:
                        part.sync()  # near the limit: flush what deflate holds back, then decide exactly
                        if part.size + bound + 32 > self.part_bytes:  # 32: sync marker + gzip trailer
                            parts.append(part.close(self._commits))
                            part = None
                    if part is None:
                        part = self._open_part(table, len(parts) + 1)
                    part.add(batch, rows)
                elif msg[0] == "end":
                    if self._error is None:
                        # An empty table gets no part (its entry says 0 rows, parts []; the signed summary
                        # is the proof it was read): a part file costs two fsyncs and a rename, 3.6 ms of
                        # each table in issue #23's profile, and most of a grown app's tables are empty
                        # for most tenants. Readers since format 2 take an empty parts list as 0 rows.
                        if part is not None:
                            parts.append(part.close(self._commits))
                            part = None
                        self._result = parts
                    self._done.set()
                elif msg[0] in ("stop", "abort"):
                    if part is not None:
                        part.writer.abort()
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the producer
            self._error = err
            if part is not None:
                part.writer.abort()
            self._done.set()
            # Keep draining so the producer never blocks on a full queue.
            while True:
                msg = self._queue.get()
                if msg[0] == "end":
                    self._done.set()
                if msg[0] in ("stop", "abort"):
                    return


def tenant_ids(store: ObjectStore) -> list[str]:
    return [d for d in store.list_dirs(mf.ROOT) if mf.is_uuid(d)]


def list_backups(store: ObjectStore, org_id: str | None = None, key: bytes | None = None,
                 tables: bool = True) -> list[BackupInfo]:
    """Every backup in the store (or of one tenant), newest first, complete or not; each signature
    judged with `key` (this installation's backup key; None: every backup shows as not signed by it).
    tables=False: each backup's completeness is judged, then its tables and files are left out (a
    100-table summary's run to hundreds of KB parsed; retention, which reads neither, holds a month
    of every tenant's backups)."""
    orgs = [org_id] if org_id else tenant_ids(store)
    out: list[BackupInfo] = []
    for org in orgs:
        objects = store.list(mf.tenant_prefix(org))
        groups: dict[str, list] = defaultdict(list)
        for o in objects:
            m = mf.TS_RE.search(o.key.rsplit("/", 1)[-1])
            if m:
                groups[m.group(0)].append(o)
        for bid, objs in groups.items():
            info = _backup_from_objects(store, org, bid, objs, key)
            if not tables:
                info.tables, info.order, info.files = {}, [], None
            out.append(info)
    out.sort(key=lambda b: (b.created_at, b.id), reverse=True)
    return out


def _backup_from_objects(store: ObjectStore, org: str, bid: str, objs: list, key: bytes | None = None) -> BackupInfo:
    summary = next((o for o in objs if mf.SUMMARY_RE.match(o.key.rsplit("/", 1)[-1])), None)
    created = mf.parse_timestamp_id(bid)
    size = sum(o.size for o in objs)
    if summary is not None:
        try:
            with store.open_reader(summary.key) as fh:
                doc = json.loads(fh.read())
            info = mf.parse_summary(doc, summary.key)
            info.origin = signing.check(doc, key)
        except (ValueError, KeyError, TypeError) as err:
            return BackupInfo(bid, org, None, bid[:10], created, "unknown", 0, size, False,
                              summary_key=summary.key, problem=f"summary unreadable: {err}")
        if info.organization_id.strip().lower() != org.lower():  # never listed as this tenant's
            info.complete = False
            info.problem = f"its summary names organization {info.organization_id}, not {org}"
            return info
        present = {o.key: o.size for o in objs}
        for t in info.tables.values():
            for p in t.parts:
                if p.key not in present:
                    info.complete = False
                    info.problem = f"part {p.key} is missing"
                    break
        return info
    return BackupInfo(bid, org, None, bid[:10], created, "unknown", 0, size, False,
                      problem="no summary: the backup was interrupted")


def find_backup(store: ObjectStore, org_id: str, ref: str, complete_only: bool = True,
                key: bytes | None = None) -> BackupInfo:
    """`ref` is a backup id or a date. A date (YYYY-MM-DD) means the newest complete backup of
    that day that is not a safety backup: the safety backup a restore takes first is that day's
    newest, and restoring it by accident undoes the restore; it is used by its id only. Every
    command (restore, show, diff, verify) resolves a backup here. Naming nothing is a usage
    error (ConfigError, exit 2), like a malformed id."""
    backups = list_backups(store, org_id, key)
    hint = f"list them with: tenant-backup backups --org {org_id}"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", ref):
        day = [b for b in backups if b.date == ref and b.complete]
        matches = [b for b in day if b.type != "safety"]
        if not matches:
            safety = f"; the safety backup {day[0].id} of that day is used only by its id" if day else ""
            raise ConfigError(f"no complete daily or manual backup of organization {org_id} on {ref}{safety}; {hint}")
        return matches[0]
    for b in backups:
        if b.id == ref:
            if complete_only and not b.complete:
                raise TenantBackupError(f"backup {ref} is incomplete ({b.problem}) and cannot be used")
            return b
    raise ConfigError(f"no backup {ref} of organization {org_id}; {hint}")


def delete_backup(store: ObjectStore, info: BackupInfo) -> int:
    """Summary first, so an interrupted delete leaves an incomplete backup, never a damaged
    'complete' one. Returns the bytes freed."""
    objs = [o for o in store.list(mf.tenant_prefix(info.organization_id) + info.date + "/")
            if info.id in o.key.rsplit("/", 1)[-1]]
    keys = [o.key for o in objs]
    if info.summary_key and info.summary_key in keys:
        store.delete([info.summary_key])
        keys.remove(info.summary_key)
    store.delete(keys)
    return sum(o.size for o in objs)


def read_summary(store: ObjectStore, info: BackupInfo, trust: Trust) -> tuple[BackupInfo, str]:
    """The backup as its summary says NOW, read once, and the SHA-256 of exactly those bytes: a
    restore pins them in its plan and works from them, never from an earlier listing. Its
    signature is judged first: a backup not signed by this installation's key is refused here,
    before any part is read, unless `trust` accepts unsigned ones (then `origin` says so)."""
    with store.open_reader(info.summary_key) as fh:
        data = fh.read()
    try:
        doc = json.loads(data)
        origin = signing.check(doc, trust.key)
    except (ValueError, KeyError, TypeError) as err:
        raise IntegrityError(f"the summary of backup {info.id} is unreadable ({err}); use another backup") from None
    if (why := trust.refusal(origin, info.id)) is not None:  # another key's: importing it is the fix
        raise (CredentialsUnavailable if origin.state == signing.OTHER_KEY else IntegrityError)(why)
    try:
        fresh = mf.parse_summary(doc, info.summary_key)
    except (ValueError, KeyError, TypeError) as err:
        raise IntegrityError(f"the summary of backup {info.id} is unreadable ({err}); use another backup") from None
    fresh.origin = origin
    if fresh.organization_id.strip().lower() != info.organization_id.lower() and info.complete:
        raise IntegrityError(f"backup {info.id} names organization {fresh.organization_id} in its summary, "
                             f"not {info.organization_id}; it cannot be restored")
    return fresh, hashlib.sha256(data).hexdigest()


def prefetch(items: Iterator, depth: int = 4) -> Iterator:
    """Run a producer on its own thread, `depth` items ahead: reading, hashing and
    decompressing (which release the GIL) overlap with the consumer's database writes.
    The producer's exception is raised in the consumer, in order."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put((True, item))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            q.put((False, err))
            return
        q.put((True, done))

    t = threading.Thread(target=produce, name="prefetch", daemon=True)
    t.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.05)


def verify_backup(store: ObjectStore, info: BackupInfo, on_event: EventSink = ignore,
                  cancelled=lambda: False, secret: bytes | None = None) -> list[str]:
    problems: list[str] = []
    parts = [(t, p) for t in info.tables.values() for p in t.parts]
    for i, (t, p) in enumerate(parts, 1):
        if cancelled():
            raise Cancelled("verification cancelled")
        rows, problem = verify_part(store, p, secret)
        if problem:
            problems.append(problem)
        on_event(Event("progress", f"verified {p.key}", info.organization_id, t.name, rows, p.bytes, i, len(parts)))
    for t in info.tables.values():
        if sum(p.rows for p in t.parts) != t.record_count:
            problems.append(f"table {t.name}: parts hold {sum(p.rows for p in t.parts)} rows, "
                            f"the summary says {t.record_count}")
    return problems
