"""Writing the parts of one backup.

Parts are gzip'd JSON lines (one `row_to_json` per line). Compression and hashing run on a thread
of their own, fed through a small bounded queue: the database reader never waits for them, and
memory stays bounded whatever the tenant's size. Parts are compressed by ISA-L (isal_zlib), whose
level 1 deflate is several times faster than zlib's fastest and packs JSON text a little tighter;
what it writes is plain gzip, which zlib (and any gzip) reads back. Where no isal wheel exists (it
is only required on the machines it ships wheels for), zlib writes the same format, slower.

Small tables are packed (format 3, issue #23): between begin_pack and end_pack, each table's
stream — the very bytes its own part file would hold — is appended to one shared file, and its
Part names its byte range there. A file per table cost a create, a rename and two fsyncs, and the
backup waited for each table's part before the next (1.1 ms a table in the 24-table profile); a
grown app's tenant has dozens of tables of a few rows."""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor, wait

try:
    from isal import isal_zlib as deflate
except ImportError:  # a platform without isal wheels: the same gzip, from zlib
    deflate = zlib

from ..core import manifest as mf
from ..core import signing
from ..core.encryption import NONCE, TAG, Encryptor
from ..core.errors import TenantBackupError
from ..core.manifest import Part
from .base import ObjectStore

COMMITTERS = 8  # parts made durable at once, across every backup of the process
PACK_FILE_BYTES = 4 << 20  # a packed file takes no new table's stream past this size
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


class _PackFile:
    """A file of several tables' streams: the store's writer, with the whole file's size and
    SHA-256 (what every packed Part in it declares as its `bytes` and `sha256`)."""

    def __init__(self, key: str, writer):
        self.key, self.writer = key, writer
        self.sha = hashlib.sha256()
        self.size = 0
        self.segments: list[dict] = []  # each packed table stream's fields, completed on close
        self.full = False  # a stream reached the part size in it: the next stream starts a new file

    def write(self, data: bytes) -> None:
        self.writer.write(data)
        self.sha.update(data)
        self.size += len(data)

    def close(self, commits: list[Future]) -> None:
        commits.append(_commit(self.writer))
        for seg in self.segments:
            seg.update(bytes=self.size, sha256=self.sha.hexdigest())

    def abort(self) -> None:
        self.writer.abort()


class _OpenPart:
    """One part being written: gzip stream, running SHA-256 of the stored bytes, counts. In a
    pack (`pack`), its bytes go to the shared file from its current end."""

    def __init__(self, key: str, writer, level: int, secret: bytes | None = None, pack: _PackFile | None = None):
        self.key, self.writer, self.pack = key, writer, pack
        self.offset = pack.size if pack is not None else None
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
            if self.pack is None:
                self.sha.update(data)
            self.size += len(data)

    @property
    def filled(self) -> int:
        """What its file holds: a packed stream's whole shared file (never over part_bytes either)."""
        return self.size if self.pack is None else self.pack.size

    def add(self, batch: bytes, rows: int) -> None:
        self._out(self.comp.compress(batch))
        self.rows += rows
        self.plain += len(batch)

    def sync(self) -> None:
        self._out(self.comp.flush(deflate.Z_SYNC_FLUSH))

    def close(self, commits: list[Future]) -> Part | dict:
        """The part's entry at once; its commit joins `commits` (see _commit). In a pack, the
        fields of its entry, completed when the shared file closes."""
        self._out(self.comp.flush())
        if self.cipher:
            self._store(self.cipher.finalize())
        if self.pack is not None:
            seg = {"key": self.key, "rows": self.rows, "encrypted": self.cipher is not None,
                   "plain_bytes": self.plain, "offset": self.offset, "length": self.size}
            self.pack.segments.append(seg)
            return seg
        commits.append(_commit(self.writer))
        return Part(self.key, self.rows, self.size, self.sha.hexdigest(), encrypted=self.cipher is not None,
                    plain_bytes=self.plain)


def _packed_part(seg: dict) -> Part:
    return Part(seg["key"], seg["rows"], seg["bytes"], seg["sha256"], encrypted=seg["encrypted"],
                plain_bytes=seg["plain_bytes"], offset=seg["offset"], length=seg["length"])


class BackupWriter:
    """Writes the parts of one backup; the summary, written by `finish`, makes it complete."""

    def __init__(self, store: ObjectStore, org_id: str, backup_id: str, part_bytes: int, level: int = 1,
                 secret: bytes | None = None, lane: int = 1):
        """lane: this writer's number among a backup's writers (one a lane): packed files are named by it."""
        self.lane = lane
        self._packs = 0
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
        self._result: list | None = None
        self._done = threading.Event()
        self._commits: list[Future] = []  # the parts' commits under way (_commit)
        self._packing = False

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
        """The table's parts, once written. Within a pack: nothing yet (end_pack gives them)."""
        self._queue.put(("end",))
        if self._packing:
            return []
        self._done.wait()
        self._check()
        parts, self._result = self._result, None
        return parts or []

    def begin_pack(self) -> None:
        """The tables begun from now until end_pack go into shared files (format 3)."""
        self._check()
        self._packing = True
        self._queue.put(("pack",))

    def end_pack(self) -> list[list[Part]]:
        """The parts of each table of the pack, in the order they were begun, once written."""
        self._packing = False
        self._done.clear()
        self._queue.put(("unpack",))
        self._done.wait()
        self._check()
        tables, self._result = self._result, None
        return tables or []

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
    def _new_file(self, key: str, table: str):
        other = self._owners.setdefault(key, table)
        if other != table or key in self.written_keys:  # one file, two tables' rows: fail, never overwrite
            raise TenantBackupError(f"tables {other!r} and {table!r} map to the same part file {key}; "
                                    f"the backup was not completed")
        writer = self.store.open_writer(key)
        self.written_keys.append(key)
        return writer

    def _open_part(self, table: str, index: int, pack: "_Packing | None") -> _OpenPart:
        if pack is not None:
            f = pack.file_for_next()
            return _OpenPart(f.key, f, self.level, self.secret, pack=f)
        key = mf.part_key(self.org_id, self.backup_id, table, index)
        return _OpenPart(key, self._new_file(key, table), self.level, self.secret)

    def _work(self) -> None:
        part: _OpenPart | None = None
        parts: list = []
        table = None
        pack: _Packing | None = None
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
                    if part is not None and part.filled + bound + 65536 > self.part_bytes:
                        part.sync()  # near the limit: flush what deflate holds back, then decide exactly
                        if part.filled + bound + 32 > self.part_bytes:  # 32: sync marker + gzip trailer
                            parts.append(part.close(self._commits))
                            if part.pack is not None:
                                part.pack.full = True
                            part = None
                    if part is None:
                        part = self._open_part(table, len(parts) + 1, pack)
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
                        if pack is not None:
                            pack.tables.append(parts)
                        else:
                            self._result = parts
                            self._done.set()
                    elif pack is None:
                        self._done.set()
                elif msg[0] == "pack":
                    pack = _Packing(self)
                elif msg[0] == "unpack":
                    if self._error is None and pack is not None:
                        pack.close(self._commits)
                        self._result = [[_packed_part(s) if isinstance(s, dict) else s for s in t]
                                        for t in pack.tables]
                    pack = None
                    self._done.set()
                elif msg[0] in ("stop", "abort"):
                    if part is not None and pack is None:
                        part.writer.abort()
                    if pack is not None:
                        pack.abort()
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the producer
            self._error = err
            if part is not None and pack is None:
                part.writer.abort()
            if pack is not None:
                pack.abort()
            self._done.set()
            # Keep draining so the producer never blocks on a full queue.
            while True:
                msg = self._queue.get()
                if msg[0] in ("end", "unpack"):
                    self._done.set()
                if msg[0] in ("stop", "abort"):
                    return


class _Packing:
    """The shared files of one pack (begin_pack … end_pack) and its tables' parts so far."""

    def __init__(self, writer: "BackupWriter"):
        self.writer = writer
        self.files: list[_PackFile] = []
        self.tables: list[list] = []
        # a new stream starts in a new file past this: a stream may then grow to part_bytes in all
        self.limit = min(PACK_FILE_BYTES, writer.part_bytes // 2)

    def file_for_next(self) -> _PackFile:
        """The file a new stream goes to: the current one, or a new one once it is full."""
        w = self.writer
        if not self.files or self.files[-1].full or self.files[-1].size >= self.limit:
            if self.files:
                self.files[-1].close(w._commits)
            w._packs += 1
            key = mf.pack_key(w.org_id, w.backup_id, w.lane, w._packs)
            self.files.append(_PackFile(key, w._new_file(key, "(packed tables)")))
        return self.files[-1]


    def close(self, commits: list[Future]) -> None:
        if self.files:
            self.files[-1].close(commits)

    def abort(self) -> None:
        """The file still being written (the others are committed or committing: the backup's
        abort deletes them with its other keys)."""
        if self.files:
            self.files[-1].abort()
