"""What a killed job (kill -9, a power cut) leaves behind, put right by the next job on the same
tenant once it holds the tenant's lock, and by `cleanup`:

- hidden temp parts (`.x-p0001.jsonl.gz.tmp-PID`) in the tenant's folder, and temp copies of its
  files (`tenant-files/{org}/.tmp/.sha.tmp-PID`, one folder per tenant, as big as the object): under the lock no live writer
  owns one, so they go;
- history rows still `in_progress` whose job is gone become `failed` with "interrupted";
- rows of runs of no one tenant (`daily`, `cleanup`) whose process on this host is gone become
  `failed` "interrupted" when the next run starts (no lock covers them: a run elsewhere may last
  hours, so only a dead process on this host is known gone);
- an apply that was killed leaves a `restore` row saying so: while it runs, an `in_progress` restore
  row stands in for it (removed when the apply ends either way, as the apply writes its own row).

A row is known gone when its process (same host) no longer exists, or, from another host, when it
is older than any job could have waited for the lock that we now hold."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from typing import Iterator

from ..core import history as h
from ..core import manifest as mf
from ..core.files import stored_key, temp_folder
from ..platform.processes import pid_alive, pid_space

# Rows of jobs that hold the tenant's lock while they run (a dry run does not: its rows are left be).
LOCKED_TYPES = h.LOCKED_TYPES
WAIT_MARGIN_SECONDS = 120


def _ours(row: dict) -> bool:
    """Is the row's pid a pid of this machine's pid space? Same hostname AND, where the row says it,
    the same boot id and pid namespace: containers sharing a hostname each count pids from 1."""
    if not (row["pid"] and str(row["pid"]).isdigit() and row["host"] == socket.gethostname()):
        return False
    return row.get("pid_space") is None or row["pid_space"] == pid_space()


def _known_gone(row: dict) -> bool:
    """The row's process ran here and no longer exists (never this process itself)."""
    return _ours(row) and int(row["pid"]) != os.getpid() and not pid_alive(int(row["pid"]))


def _gone(row: dict, lock_wait: float) -> bool:
    if _ours(row):
        return _known_gone(row)
    return row["age"] > lock_wait + WAIT_MARGIN_SECONDS


def reason(backup_type: str, swept: bool = True) -> str:
    """swept: said under the tenant's lock, its temp files gone; else they go with the next job on it."""
    if backup_type == "restore":
        return ("interrupted: the restore's process stopped before it finished; the database rolled its "
                "transaction back, so no row was restored; files it uploaded before the rows, if any, stay (the "
                "safety backup taken before it is listed)")
    if backup_type == h.DRY_RUN:
        return "interrupted: the process stopped before the dry run finished; a dry run changes nothing"
    return ("interrupted: the process stopped before the backup finished; its unfinished files "
            + ("were removed" if swept else "go with the next job on the organization"))


def _tenant_prefixes(org_id: str) -> tuple[str, str]:
    """Where a tenant's jobs leave temp files: its backups' folder, and the one folder where the
    temp files of its content-addressed copies are written (core/files.py temp_folder): never a
    walk through every copy."""
    return mf.tenant_prefix(org_id), temp_folder(stored_key(org_id, "0" * 64)) + "/"


def reconcile(ctx, org_id: str) -> dict:
    """Run while holding org_id's lock. Returns what was put right: {"temp_files", "temp_bytes", "rows"}."""
    done = {"temp_files": 0, "temp_bytes": 0, "rows": 0}
    for store in (ctx.store, getattr(ctx.store, "mirror", None)):
        sweep = getattr(store, "sweep_temp", None)
        if callable(sweep):
            for prefix in _tenant_prefixes(org_id):
                files, size = sweep(prefix)
                done["temp_files"] += files
                done["temp_bytes"] += size
    history = ctx.history()
    rows = [r for r in history.in_progress(org_id) if r["type"] in LOCKED_TYPES
            and _gone(r, ctx.config.lock_wait_seconds)]
    for kind in LOCKED_TYPES:
        stale = [r for r in rows if r["type"] == kind]
        applied = [r["id"] for r in stale if kind == "restore" and r["applied"]]
        for log_id in applied:  # the apply committed, only its stand-in row was left: drop it
            history.discard(log_id)
        history.interrupt([r["id"] for r in stale if r["id"] not in applied], reason(kind))
    done["rows"] = len(rows)
    return done


RUN_TYPES = ("daily", "cleanup")
RUN_REASON = ("interrupted: the run's process stopped before it finished; each organization's own row says how far "
              "its backup got")


def reconcile_runs(ctx) -> int:
    """The `daily`/`cleanup` rows whose process on this host is gone: failed "interrupted"."""
    if not ctx.direct:
        return 0
    history = ctx.history()
    host = socket.gethostname()
    gone = [r["id"] for r in history.in_progress(None) if r["type"] in RUN_TYPES and r["host"] == host
            and _gone(r, float("inf"))]
    history.interrupt(gone, RUN_REASON)
    return len(gone)


def mark_dead(ctx) -> int:
    """Every in_progress row of this host whose process is gone, of any organization and kind,
    becomes failed "interrupted" (a restore's stand-in row that committed is dropped): run by
    every CLI job before it starts and by every history listing, so a killed restore no longer
    stays `in_progress` until the next job that locks its tenant. Only rows known dead (this
    host and pid space, no such process) — never one judged by age: that needs the lock."""
    history = ctx.history()
    rows = [r for r in history.in_progress(None, host=socket.gethostname()) if _known_gone(r)]
    for r in rows:
        if r["type"] == "restore" and r["applied"]:
            history.discard(r["id"])  # the apply committed, only its stand-in row was left
        elif r["type"] in RUN_TYPES:
            history.interrupt([r["id"]], RUN_REASON)
        else:
            history.interrupt([r["id"]], reason(r["type"], swept=False))
    return len(rows)


class ReconcilingLock:
    """A tenant lock that, once taken, reconciles the tenant's leftovers (services/context.py)."""

    def __init__(self, ctx, org_id: str, lock):
        self.ctx, self.org_id, self.lock = ctx, org_id, lock
        self.done = {"temp_files": 0, "temp_bytes": 0, "rows": 0}

    def __enter__(self):
        held = self.lock.__enter__()
        try:
            self.done = reconcile(self.ctx, self.org_id)
        except BaseException:
            self.lock.__exit__(None, None, None)
            raise
        return held

    def __exit__(self, *exc):
        return self.lock.__exit__(*exc)

    def __getattr__(self, name: str):
        return getattr(self.lock, name)  # e.g. a REST lease's `lost`, which jobs check on the lock they made


@contextmanager
def apply_marker(ctx, org_id: str, plan_id: str, backup_id: str) -> Iterator[None]:
    """An in_progress `restore` row while an apply runs: if the process is killed, it stays and the
    next job on the tenant marks it failed 'interrupted'; otherwise it is removed at the end."""
    if not ctx.direct:
        yield
        return
    history = ctx.history()
    log_id = history.start("restore", org_id, {"plan_id": plan_id, "stand_in": True}, backup_id)
    try:
        yield
    finally:
        history.discard(log_id)


def has_temp_files(ctx, org_id: str) -> bool:
    """Cheap test before taking a tenant's lock just to sweep it."""
    sweep = getattr(ctx.store, "sweep_temp", None)
    return callable(sweep) and any(sweep(p, count_only=True)[0] > 0 for p in _tenant_prefixes(org_id))
