"""One backup or restore per tenant at a time over the direct connection: a session advisory
lock, which also honours a REST run's lease on the tenant (the roads exclude each other)."""

from __future__ import annotations

import time

import psycopg

from ...core.errors import LockBusy
from ...core.constants import LOCK_CLASS  # (LOCK_CLASS, hashtext(org id)), as the SQL's lock
from .connect import Session, connect



class TenantLock:
    """One backup or restore per tenant at a time, across processes and machines: a session
    advisory lock, held on its own connection for the whole job."""

    def __init__(self, url: str, org_id: str, wait_seconds: float, session: Session | None = None):
        self.url, self.org_id, self.wait = url, org_id, wait_seconds
        self.session = session
        self.conn: psycopg.Connection | None = None
        self.lost = False  # a session lock cannot be taken away while its connection lives

    def _close(self) -> None:
        if self.session is None:
            self.conn.close()

    def __enter__(self) -> "TenantLock":
        self.conn = self.session.connection() if self.session is not None else connect(self.url, autocommit=True)
        deadline = time.monotonic() + self.wait
        while True:
            # whether a lease table exists, in the same round trip (one a tenant saved in `daily`)
            got, leases = self.conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s)), to_regclass('public.tenant_backup_locks') IS NOT NULL",
                [LOCK_CLASS, self.org_id]).fetchone()
            lease = self._live_lease() if got and leases else None
            if got and lease is None:
                return self
            if lease is not None:  # a run over the Supabase API holds the tenant: let go, wait
                self.conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [LOCK_CLASS, self.org_id])
            if time.monotonic() >= deadline:
                if lease is not None:
                    self._close()
                    raise LockBusy(f"another backup or restore of organization {self.org_id} is running ({lease[0]}, "
                                   f"since {lease[1]:%Y-%m-%d %H:%M:%S %Z}); try again when it has finished")
                holder = self.conn.execute(
                    """SELECT a.application_name, a.client_addr::text, a.backend_start
                       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                       WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objid = hashtext(%s)::oid
                         AND l.granted LIMIT 1""", [LOCK_CLASS, self.org_id]).fetchone()
                self._close()
                who = f" ({holder[0] or 'unknown program'}, connected since {holder[2]:%Y-%m-%d %H:%M:%S %Z})" if holder else ""
                raise LockBusy(f"another backup or restore of organization {self.org_id} is running{who}; "
                               f"try again when it has finished")
            time.sleep(0.2)

    def _live_lease(self) -> tuple | None:
        """A REST run's lease on the tenant (tenant_backup_locks, where the Supabase SQL is
        installed): the two roads must exclude each other both ways. (holder, since) or None."""
        try:
            return self.conn.execute("SELECT holder, acquired_at FROM public.tenant_backup_locks "
                                     "WHERE organization_id = %s AND expires_at >= now()", [self.org_id]).fetchone()
        except psycopg.Error:  # a role that may not read it: the advisory lock is all we can hold
            return None

    def __exit__(self, *exc) -> None:
        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [LOCK_CLASS, self.org_id])
            except psycopg.Error:
                if self.session is not None:
                    self.session.close()  # the lock must not outlive the job: ending the session ends it
            self._close()
