"""What a killed job (kill -9, a power cut) leaves behind, put right by the next job on the same
tenant once it holds the tenant's lock, and by `cleanup`:

- hidden temp parts (`.x-p0001.jsonl.gz.tmp-PID`) in the tenant's folder, and temp copies of its
  files (`tenant-files/{org}/…/.sha.tmp-PID`, as big as the object): under the lock no live writer
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
from ..core.files import tenant_files_prefix
from ..platform.processes import pid_alive

# Rows of jobs that hold the tenant's lock while they run (a dry run does not: its rows are left be).
LOCKED_TYPES = h.LOCKED_TYPES
WAIT_MARGIN_SECONDS = 120


def _gone(row: dict, lock_wait: float) -> bool:
    if row["pid"] and row["pid"].isdigit() and row["host"] == socket.gethostname():
        return int(row["pid"]) != os.getpid() and not pid_alive(int(row["pid"]))
    return row["age"] > lock_wait + WAIT_MARGIN_SECONDS


def reason(backup_type: str) -> str:
    if backup_type == "restore":
        return ("interrupted: the restore's process stopped before it finished; the database rolled its "
                "transaction back, so no row was restored; files it uploaded before the rows, if any, stay (the "
                "safety backup taken before it is listed)")
    return "interrupted: the process stopped before the backup finished; its unfinished files were removed"


def _tenant_prefixes(org_id: str) -> tuple[str, str]:
    """Where a tenant's jobs write: its backups' folder and its files' content-addressed copies."""
    return mf.tenant_prefix(org_id), tenant_files_prefix(org_id)


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


def reconcile_runs(ctx) -> int:
    """The `daily`/`cleanup` rows whose process on this host is gone: failed "interrupted"."""
    if not ctx.direct:
        return 0
    history = ctx.history()
    host = socket.gethostname()
    gone = [r["id"] for r in history.in_progress(None) if r["type"] in RUN_TYPES and r["host"] == host
            and _gone(r, float("inf"))]
    history.interrupt(gone, "interrupted: the run's process stopped before it finished; each organization's own "
                            "row says how far its backup got")
    return len(gone)


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
