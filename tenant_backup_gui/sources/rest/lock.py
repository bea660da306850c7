"""One backup or restore per tenant at a time over REST: a lease row, renewed while held."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime

from ... import __version__
from ...core.errors import LockBusy, TenantBackupError
from ..shared import APP_NAME, who_runs
from ..supabase_http import SupabaseProject


class RestTenantLock:
    """One backup or restore per tenant at a time, over REST: a lease row (tenant_backup_locks)
    taken by tenant_backup_lock(), renewed every ttl/3 while held, released on exit; a crashed
    run's lease expires after ttl_seconds. `lost` turns true if a renewal finds it taken."""

    def __init__(self, project: SupabaseProject, org_id: str, wait_seconds: float, ttl_seconds: int = 60):
        self.project, self.org_id, self.wait, self.ttl = project, org_id, wait_seconds, int(ttl_seconds)
        self.token = str(uuid.uuid4())
        self.lost = False
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def __enter__(self) -> "RestTenantLock":
        user, host = who_runs()
        holder = f"{APP_NAME} {__version__}, {user}@{host}"
        args = {"org": self.org_id, "token": self.token, "holder": holder, "ttl_seconds": self.ttl}
        deadline = time.monotonic() + self.wait
        while True:
            r = self.project.run(self.project.rpc("tenant_backup_lock", args, f"locking organization {self.org_id}"))
            got = r.json()
            if got.get("taken"):
                self._beat = threading.Thread(target=self._renew, name="tenant-lock-lease", daemon=True)
                self._beat.start()
                return self
            if time.monotonic() >= deadline:
                since = got.get("since")
                when = f", since {datetime.fromisoformat(since):%Y-%m-%d %H:%M:%S %Z}" if since else ""
                expires = got.get("expires_at")  # a killed run never finishes: its lease runs out instead
                dead = (f" (if that run was stopped, its lock expires by itself at "
                        f"{datetime.fromisoformat(expires):%Y-%m-%d %H:%M:%S %Z})") if expires else ""
                raise LockBusy(f"another backup or restore of organization {self.org_id} is running "
                               f"({got.get('holder') or 'unknown program'}{when}); try again when it has finished"
                               + dead)
            time.sleep(0.2)

    def _renew(self) -> None:
        while not self._stop.wait(max(self.ttl / 3, 0.1)):
            try:
                ok = self.project.run(self.project.rpc("tenant_backup_lock_renew", {
                    "org": self.org_id, "token": self.token, "ttl_seconds": self.ttl}, "renewing the tenant lock")).json()
            except TenantBackupError:
                continue  # the lease lasts ttl: the next beat tries again
            if ok is False:
                self.lost = True
                return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(5)
        try:
            self.project.run(self.project.rpc("tenant_backup_unlock", {"org": self.org_id, "token": self.token},
                                              "releasing the tenant lock"))
        except TenantBackupError:
            pass  # the lease expires by itself
