"""Poolers in front of the database: a session pooler works, a transaction pooler cannot.

A tenant job keeps state in its session for its whole length — a session advisory lock (the tenant's
lock), a snapshot exported to other connections, prepared statements. Behind a transaction-mode
pooler (Supabase's pooler on port 6543, PgBouncer's `pool_mode = transaction`) each transaction may
run on another server connection, so that state leaks to strangers and vanishes for us: backups
refused because "another backup is running", "DuplicatePreparedStatement". Such a URL is refused on
connect, in one line naming the session pooler to use instead.

And a pooler keeps a client waiting, without a word, while its pool has no free server connection
(PgBouncer's query_wait_timeout, 120 s by default, then it drops the client, who connects again):
`daily --jobs 3` behind a pool of 2 waited for ever. So the first answer on a new connection has the
same bounded wait as the connection itself, and a job that cannot have one fails in one line naming
the pool limit and --jobs. That wait also gives up when a signal asked the process to stop."""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time
from pathlib import Path

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from ...core.errors import Cancelled, ConnectionFailed
from ...platform.signals import stop_requested

STOP_GRACE_SECONDS = 3.0

# url -> True when it was found to go through a transaction pooler; probed once per process.
_modes: dict[str, bool] = {}
_probing = threading.Lock()


class NoAnswer(Exception):
    """The server (the pooler) gave no answer within the wait."""


def wait_seconds(url: str, default: float) -> float:
    """The URL's own connect_timeout when it sets one (the owner's word), else ours."""
    try:
        given = conninfo_to_dict(url).get("connect_timeout")
        return max(1.0, float(given)) if given else default
    except (psycopg.ProgrammingError, ValueError):
        return default


def first_values(pgconn: pq.abc.PGconn, query: bytes, seconds: float) -> list[bytes | None]:
    """Run `query` (simple protocol) and return the first row of its last result, waiting at most
    `seconds` for the answer. psycopg's own calls wait without a limit; this one polls, so once a
    signal asked the process to stop no wait lasts more than STOP_GRACE_SECONDS longer — enough for
    the job's own last words (its history row) on a connection the pool can serve at once."""
    deadline = time.monotonic() + seconds
    stopping = False
    fd = pgconn.socket

    def wait(for_write: bool) -> None:
        nonlocal deadline, stopping
        while True:
            if not stopping and stop_requested.is_set():
                stopping, deadline = True, min(deadline, time.monotonic() + STOP_GRACE_SECONDS)
            left = deadline - time.monotonic()
            if left <= 0:
                if stopping:
                    raise Cancelled("stopped while waiting for the database")
                raise NoAnswer()
            r, w, _ = select.select([] if for_write else [fd], [fd] if for_write else [], [], min(left, 0.2))
            if r or w:
                return

    pgconn.send_query(query)  # raises psycopg.OperationalError itself
    while pgconn.flush() != 0:
        wait(True)
    last = None
    while True:
        while pgconn.is_busy():
            wait(False)
            pgconn.consume_input()
        res = pgconn.get_result()
        if res is None:
            break
        if res.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.OperationalError(pq.error_message(res).strip())
        if res.status == pq.ExecStatus.TUPLES_OK:
            last = res
    if last is None or last.ntuples == 0:
        return []
    return [last.get_value(0, i) for i in range(last.nfields)]


def _peer_is_server(conn: psycopg.Connection, pid: int, server_port: bytes | None) -> bool:
    """Is the other end of our socket the server itself (no pooler in between)? Over TCP: the server
    sees our socket's own port. Over a Unix socket (same host, Linux): the socket's peer is the
    postmaster, the parent of our backend."""
    try:
        with socket.socket(fileno=os.dup(conn.pgconn.socket)) as s:
            if s.family in (socket.AF_INET, socket.AF_INET6):
                return server_port is not None and int(server_port) == s.getsockname()[1]
            if s.family == socket.AF_UNIX and hasattr(socket, "SO_PEERCRED"):
                peer = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[0]
                parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                return parent == peer
    except (OSError, ValueError, IndexError):
        pass
    return False


def transaction_pooled(conn: psycopg.Connection, url: str, pid: int, seconds: float, **connect_args) -> bool:
    """Does this connection hand our transactions to different server sessions?

    The probe: a session pooler pins one server backend to our connection for its life; a
    transaction pooler lends one per transaction and takes it back in between. So, after our first
    transaction saw backend `pid`, a second client opens a transaction and holds it, and we ask for
    our backend again. Session mode (or no pooler): the second client can never be given `pid`, and
    we still have it. Transaction mode: `pid` was free between our transactions, so either the
    second client got it (PgBouncer reuses the most recently freed server first) or, if it got
    another, our next transaction lands where the pool puts it — rarely back on `pid` while the
    other holds its own. It costs one short extra connection, once per URL and process, and is
    skipped when our socket's other end is the server itself (_peer_is_server). A second
    client that gets no answer within the wait (a full session pool) leaves the answer to the
    next connection."""
    if _peer_is_server(conn, pid, first_values(conn.pgconn, b"SELECT inet_client_port()", seconds)[0]):
        return False  # a direct connection
    try:
        other = psycopg.connect(url, autocommit=True, **connect_args)
    except psycopg.OperationalError:
        return False  # cannot tell now; the session's own connection works
    try:
        theirs = first_values(other.pgconn, b"BEGIN; SELECT pg_backend_pid()", seconds)
        if int(theirs[0]) == pid:
            return True
        again = first_values(conn.pgconn, b"SELECT pg_backend_pid()", seconds)
        return int(again[0]) != pid
    finally:
        other.close()


def refuse_transaction_pooler(where: str) -> ConnectionFailed:
    return ConnectionFailed(
        f"the database URL {where} goes through a transaction-mode pooler, which moves a job's session "
        f"(its tenant lock, its snapshot) between server connections; use the session pooler instead "
        f"(Supabase: port 5432 on the same pooler host, Connect → Session pooler) or the direct "
        f"connection in TENANT_BACKUP_DATABASE_URL")


def pool_full(where: str, seconds: float) -> ConnectionFailed:
    return ConnectionFailed(
        f"no free server connection at {where} within {seconds:g} s: the pooler's pool (PgBouncer's "
        f"default_pool_size, Supabase's Pool Size) is smaller than the connections this run needs "
        f"(one per --jobs, plus one); lower --jobs or raise the pool size")


def check_connection(conn: psycopg.Connection, url: str, where: str, seconds: float, **connect_args) -> None:
    """Called on every new connection: its first answer within `seconds` (else one line on the
    pool limit and --jobs), and a transaction pooler refused (probed once per URL)."""
    try:
        try:
            pid = int(first_values(conn.pgconn, b"SELECT pg_backend_pid()", seconds)[0])
        except NoAnswer:
            raise pool_full(where, seconds) from None
        pooled = _modes.get(url)
        if pooled is None:
            with _probing:
                pooled = _modes.get(url)
                if pooled is None:
                    try:
                        pooled = _modes[url] = transaction_pooled(conn, url, pid, seconds, **connect_args)
                    except NoAnswer:  # a full session pool kept the second client waiting: ask again later
                        pooled = False
        if pooled:
            raise refuse_transaction_pooler(where)
    except BaseException:
        conn.close()
        raise
