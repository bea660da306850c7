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
import threading
import zlib
from collections import defaultdict
from typing import Iterator

try:
    from isal import isal_zlib as deflate
except ImportError:  # a platform without isal wheels: the same gzip, from zlib
    deflate = zlib

from ..core import manifest as mf
from ..core import signing
from ..core.encryption import NONCE, TAG, Decryptor, Encryptor
from ..core.errors import Cancelled, CredentialsUnavailable, IntegrityError, TenantBackupError
from ..core.events import Event, EventSink, ignore
from ..core.manifest import BackupInfo, Part
from ..core.signing import Trust
from .base import ObjectStore

READ_CHUNK = 1 << 20
INFLATE_STEP = 8 << 20  # at most this much plain text from one decompress call: memory stays bounded
# A part whose summary does not declare its uncompressed size (backups before that was recorded):
# never more than this many times its stored size, nor more than the absolute cap.
MAX_RATIO = 100
MAX_UNDECLARED = 4 << 30


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

    def close(self) -> Part:
        self._out(self.comp.flush())
        if self.cipher:
            self._store(self.cipher.finalize())
        self.writer.commit()
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
        self.store.put_bytes(key, json.dumps(summary, indent=1, ensure_ascii=False).encode())
        return key

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(("stop",))
            self._thread.join()
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
                            parts.append(part.close())
                            part = None
                    if part is None:
                        part = self._open_part(table, len(parts) + 1)
                    part.add(batch, rows)
                elif msg[0] == "end":
                    if self._error is None:
                        if part is None and not parts:  # an empty table still gets an (empty) part: proof it was read
                            part = self._open_part(table, 1)
                        if part is not None:
                            parts.append(part.close())
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


def list_backups(store: ObjectStore, org_id: str | None = None, key: bytes | None = None) -> list[BackupInfo]:
    """Every backup in the store (or of one tenant), newest first, complete or not; each signature
    judged with `key` (this installation's backup key; None: every backup shows as not signed by it)."""
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
            out.append(_backup_from_objects(store, org, bid, objs, key))
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
    """`ref` is a backup id or a date (YYYY-MM-DD: the newest complete backup of that day)."""
    backups = list_backups(store, org_id, key)
    if len(ref) == 10:
        matches = [b for b in backups if b.date == ref and b.complete]
        if not matches:
            raise TenantBackupError(f"no complete backup of organization {org_id} on {ref}; "
                                    f"list them with: tenant-backup backups --org {org_id}")
        return matches[0]
    for b in backups:
        if b.id == ref:
            if complete_only and not b.complete:
                raise TenantBackupError(f"backup {ref} is incomplete ({b.problem}) and cannot be used")
            return b
    raise TenantBackupError(f"no backup {ref} for organization {org_id}; "
                            f"list them with: tenant-backup backups --org {org_id}")


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


def _whole_lines(data: bytes) -> tuple[bytes, int, bytes]:
    """(the complete lines, how many, the unfinished rest)."""
    cut = data.rfind(b"\n") + 1
    return data[:cut], data.count(b"\n", 0, cut), data[cut:]


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


def iter_part_blocks(store: ObjectStore, part: Part, secret: bytes | None = None,
                     pins: dict[str, str] | None = None) -> Iterator[tuple[bytes, int]]:
    """The rows of one part as blocks of whole JSON lines (each ending in a newline) with their
    row count, checked against the manifest as they stream. A mismatch raises after the last
    block: consumers apply rows inside a transaction that only commits once every iterator is
    exhausted, so a bad part never lands. The checksum is judged first: it is what proves a part
    is the one the backup wrote. Reading is bounded: it stops at the first byte past the part's
    declared uncompressed size (older parts: a ratio of its stored size) and at the first line past
    its row count, before either is handed on. `pins`: where the SHA-256 of the bytes read is
    recorded, by key (a restore's plan pins them; legacy parts included)."""
    if part.format == "legacy-json":
        with store.open_reader(part.key) as fh:
            data = fh.read()
            if pins is not None:
                pins[part.key] = hashlib.sha256(data).hexdigest()
            try:
                rows = json.loads(data)["data"]
            except (ValueError, KeyError, TypeError) as err:
                raise IntegrityError(f"legacy file {part.key} is not readable JSON: {err}") from None
        if rows:
            yield "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode(), len(rows)
        return
    if part.encrypted and secret is None:
        raise CredentialsUnavailable(f"{part.key} is encrypted and no backup key was given; "
                                     f"import it with: tenant-backup credentials import-key")
    sha = hashlib.sha256()
    size = rows = produced = 0
    cap, limit = _plain_cap(part)
    d = zlib.decompressobj(31)
    dec = Decryptor(secret, part.key) if part.encrypted else None
    pending = b""
    gzip_error = overflow = None

    def lines(plain: bytes):
        """Whole lines of what `plain` inflates to, never past the part's cap nor its row count."""
        nonlocal produced, rows, pending
        for piece in _inflate(d, plain, cap - produced, part.key, limit):
            produced += len(piece)
            block, n, pending = _whole_lines(pending + piece)
            if n:
                rows += n
                if rows > part.rows:  # the first line past what the summary declares: stop before it is used
                    raise _Overflow(f"{part.key} holds more than the {part.rows} rows its summary declares")
                yield block, n

    with store.open_reader(part.key) as fh:
        while chunk := fh.read(READ_CHUNK):
            sha.update(chunk)
            size += len(chunk)
            if size > part.bytes:
                break  # past the stored size the summary declares: its checksum cannot match
            plain = dec.update(chunk) if dec else chunk  # keep decrypting: the tag outranks gzip
            if gzip_error is not None or overflow is not None:
                continue  # nothing more is inflated; keep hashing: the checksum decides what to report
            try:
                yield from lines(plain)
            except zlib.error as err:
                gzip_error = str(err)
            except _Overflow as err:
                overflow = str(err)
    problem = None
    if pins is not None:
        pins[part.key] = sha.hexdigest()
    if size != part.bytes or sha.hexdigest() != part.sha256:
        problem = f"{part.key} does not match its checksum"
    elif dec is not None:
        try:  # the tag decides whether the part is genuine
            tail = dec.finish()
            if gzip_error is None and overflow is None:
                yield from lines(tail)
        except _Overflow as err:
            overflow = str(err)
        except IntegrityError as err:
            problem = str(err)
        except zlib.error as err:
            gzip_error = str(err)
    if problem is None:
        if overflow is not None:
            problem = overflow
        elif gzip_error is not None:
            problem = f"{part.key} is damaged (not valid gzip: {gzip_error})"
        elif not d.eof or pending:
            problem = f"{part.key} is truncated"
        elif rows != part.rows:
            problem = f"{part.key} holds {rows} rows, the manifest says {part.rows}"
        elif part.plain_bytes is not None and produced != part.plain_bytes:
            problem = f"{part.key} holds {produced} bytes of rows, the manifest says {part.plain_bytes}"
    if problem:
        raise IntegrityError(problem + "; this backup cannot be trusted: use another one")


def _plain_cap(part: Part) -> tuple[int, str]:
    """How many bytes a part may inflate to, and how to say it: what its summary declares, else
    (older backups) MAX_RATIO times its stored size, never more than MAX_UNDECLARED."""
    if part.plain_bytes is not None:
        return part.plain_bytes, f"the {part.plain_bytes} bytes its summary declares"
    cap = min(part.bytes * MAX_RATIO + (1 << 20), MAX_UNDECLARED)
    return cap, (f"{cap} bytes ({MAX_RATIO} times its {part.bytes} stored bytes, at most {MAX_UNDECLARED >> 30} GiB; "
                 f"its summary declares no uncompressed size)")


class _Overflow(IntegrityError):
    """A part holds more than its summary declares: nothing past that point was handed on."""


def _inflate(d, data: bytes, room: int, key: str, limit: str) -> Iterator[bytes]:
    """What `data` inflates to, in pieces of at most INFLATE_STEP bytes; refused at the first byte
    past `room`, before that byte is handed on (a decompression bomb stages no more than its cap)."""
    while True:
        piece = d.decompress(data, min(INFLATE_STEP, room + 1))
        if len(piece) > room:
            raise _Overflow(f"{key} expands past {limit}: refused before it was staged")
        room -= len(piece)
        if piece:
            yield piece
        data = d.unconsumed_tail
        if not data:
            return


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


def iter_part_lines(store: ObjectStore, part: Part) -> Iterator[bytes]:
    for block, _ in iter_part_blocks(store, part):
        yield from block[:-1].split(b"\n")


def verify_part(store: ObjectStore, part: Part, secret: bytes | None = None) -> tuple[int, str | None]:
    """Re-read one part against the manifest. Returns (rows, problem or None). An encrypted part
    without its key is checked on what is stored: size and SHA-256."""
    if part.encrypted and secret is None:
        sha, size = hashlib.sha256(), 0
        with store.open_reader(part.key) as fh:
            while chunk := fh.read(READ_CHUNK):
                sha.update(chunk)
                size += len(chunk)
        ok = size == part.bytes and sha.hexdigest() == part.sha256
        return part.rows, None if ok else f"{part.key} does not match its checksum"
    rows = 0
    try:
        for _, n in iter_part_blocks(store, part, secret):
            rows += n
    except TenantBackupError as err:
        return rows, str(err).split("; this backup")[0]
    if part.sha256 is None and rows != part.rows:
        return rows, f"{part.key} holds {rows} rows, the summary says {part.rows}"
    return rows, None


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
