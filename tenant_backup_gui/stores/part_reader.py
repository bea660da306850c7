"""Reading one part of a backup: streamed, checked against its summary as it goes, and bounded.

A packed part (format 3) is one table's stream inside a file shared with other small tables: the
whole file is read and hashed against the summary as any part is, and only the table's byte range
is decrypted and inflated, so every reader of parts (restore, show, diff, verify) reads both layouts.

A part is only as trustworthy as the summary that lists it, and a summary (unsigned, or signed by a
careless key) may lie about what a part expands to: a few megabytes of gzip can inflate to
gigabytes. So reading stops at the first byte past the part's declared uncompressed size (for
older parts, which declare none, a ratio of their stored size) and at the first line past its row
count — before that byte or line is handed on to be staged — and no decompress call produces more
than INFLATE_STEP at once, so memory stays bounded too."""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Iterator

from ..core.encryption import Decryptor
from ..core.errors import CredentialsUnavailable, IntegrityError, TenantBackupError
from ..core.manifest import Part
from .base import ObjectStore

READ_CHUNK = 1 << 20
INFLATE_STEP = 8 << 20  # at most this much plain text from one decompress call: memory stays bounded
# A part whose summary does not declare its uncompressed size (backups before that was recorded):
# never more than this many times its stored size, nor more than the absolute cap.
MAX_RATIO = 100
MAX_UNDECLARED = 4 << 30


def _whole_lines(data: bytes) -> tuple[bytes, int, bytes]:
    """(the complete lines, how many, the unfinished rest)."""
    cut = data.rfind(b"\n") + 1
    return data[:cut], data.count(b"\n", 0, cut), data[cut:]


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
            start, size = size, size + len(chunk)
            if size > part.bytes:
                break  # past the stored size the summary declares: its checksum cannot match
            if part.offset is not None:  # a packed part: the whole file is hashed, only its stream read
                chunk = chunk[max(0, part.offset - start):max(0, part.offset + part.length - start)]
                if not chunk:
                    continue
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
