"""Connecting to PostgreSQL, and its errors as one line each: what we were doing and the server's
reason, never the password. A Session is one connection that serves a whole tenant job in turn."""

from __future__ import annotations

import queue
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ...core.errors import Busy, Cancelled, ConfigError, ConnectionFailed, TenantBackupError
from ..shared import APP_NAME, BUSY, BUSY_SQLSTATES, first_line
from .pooler import check_connection, wait_seconds


def describe_url(url: str) -> str:
    """Where we connect, for messages and metadata: never the password."""
    try:
        d = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "an unparsable database URL"
    host = d.get("host") or "localhost"
    port = f":{d['port']}" if d.get("port") else ""
    user = f"{d['user']}@" if d.get("user") else ""
    return f"{user}{host}{port}/{d.get('dbname') or d.get('user') or 'postgres'}"


def connect(url: str, autocommit: bool = False, timeout: int = 15) -> psycopg.Connection:
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise ConfigError("the database URL is not valid; expected postgresql://user:password@host:5432/dbname "
                          "(TENANT_BACKUP_DATABASE_URL)") from None
    try:
        conn = psycopg.connect(url, autocommit=autocommit, application_name=APP_NAME, connect_timeout=timeout)
        check_connection(conn, url, describe_url(url), wait_seconds(url, timeout), application_name=APP_NAME,
                         connect_timeout=timeout)  # sources/direct/pooler.py: a bounded wait, no transaction pooler
        return conn
    except psycopg.OperationalError as err:
        reason = first_line(err)
        # psycopg prefixes "connection failed: connection to server at ... failed:"; keep the reason.
        reason = reason.split("failed: ")[-1] if "failed: " in reason else reason
        if "timeout expired" in reason:
            reason = f"no answer within {timeout} s (is that the database's host and port?)"
        raise ConnectionFailed(f"cannot connect to the database {describe_url(url)}: {reason}; "
                               f"check TENANT_BACKUP_DATABASE_URL") from None


def db_error(err: psycopg.Error, doing: str) -> TenantBackupError:
    """A database error as one line that says what we were doing and the server's reason."""
    if getattr(err, "sqlstate", None) in BUSY_SQLSTATES:
        return Busy(f"{BUSY} ({doing}: {first_line(err)})")
    if isinstance(err, psycopg.errors.InsufficientPrivilege):
        return ConnectionFailed(f"{doing}: permission denied ({first_line(err)}); connect as the database "
                                f"owner or a role that can read every tenant table")
    if isinstance(err, psycopg.errors.UndefinedTable):
        return TenantBackupError(f"{doing}: {first_line(err)} (was a table dropped during the run?); run it again")
    if isinstance(err, psycopg.errors.QueryCanceled):
        return Cancelled(f"{doing}: cancelled")
    if isinstance(err, psycopg.OperationalError):
        return ConnectionFailed(f"{doing}: the database connection failed: {first_line(err)}")
    return TenantBackupError(f"{doing}: {first_line(err)}")


class Session:
    """One connection that serves a whole tenant job in turn — its history row, its tenant lock
    (a session advisory lock) and its snapshot (a transaction) — where a lone backup opens a
    connection for each. `daily --jobs N` keeps N of them in a SessionPool for the whole run."""

    def __init__(self, url: str):
        self.url = url
        self.conn: psycopg.Connection | None = None

    def connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = connect(self.url, autocommit=True)
        return self.conn

    def reset(self) -> None:
        """Between two tenant jobs: no transaction left open (a failed job may leave one)."""
        conn = self.conn
        if conn is None or conn.closed:
            return
        try:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
        except psycopg.Error:
            self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class SessionPool:
    """At most `size` connections, each lent to one tenant job at a time."""

    def __init__(self, url: str, size: int):
        self._free: queue.Queue[Session] = queue.Queue()
        self._all = [Session(url) for _ in range(size)]
        for sess in self._all:
            self._free.put(sess)

    @contextmanager
    def session(self) -> Iterator[Session]:
        sess = self._free.get()
        try:
            yield sess
        finally:
            sess.reset()
            self._free.put(sess)

    def close(self) -> None:
        for sess in self._all:
            sess.close()
