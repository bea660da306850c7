"""Backups as a whole, on any store: list, find, read, verify, delete (writing: part_writer.py,
reading one part: part_reader.py, both re-exported here)."""

from __future__ import annotations

import hashlib
import json
import queue
import re
import threading
from collections import defaultdict
from typing import Iterator

from ..core import manifest as mf
from ..core import signing
from ..core.errors import Cancelled, ConfigError, CredentialsUnavailable, IntegrityError, TenantBackupError
from ..core.events import Event, EventSink, ignore
from ..core.manifest import BackupInfo
from ..core.signing import Trust
from .base import ObjectStore
from .part_reader import READ_CHUNK, iter_part_blocks, iter_part_lines, verify_part  # noqa: F401 (re-exported: callers read parts here)
from .part_writer import BackupWriter  # noqa: F401 (re-exported: callers write backups here)


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
