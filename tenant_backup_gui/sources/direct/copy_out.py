"""COPY … TO STDOUT read straight from libpq: the direct export's plumbing, apart from the
snapshot that decides what to read."""

from __future__ import annotations

import select
import selectors
import threading
from typing import Callable

import psycopg
from psycopg import pq, sql

from ...core.errors import Cancelled, TenantBackupError

COPY_OPTIONS = sql.SQL("WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')")


def copy_out(conn: psycopg.Connection, stmt: bytes, batch_bytes: int,
             sink: Callable[[bytearray, int], None], cancelled: threading.Event, before: int = 0) -> tuple[int, int]:
    """Run `COPY … TO STDOUT` in the connection's open transaction and hand its rows to `sink` in
    batches of whole lines (a new buffer each time: the sink keeps it) with their line count.
    Returns (lines handed over, rows the server says it sent).

    Read straight from libpq (psycopg.pq) rather than through psycopg's Copy, which costs a round of
    Python generators per row (COPY sends one message a row): 0.75 s of CPU more for bench_export's
    1.7 M rows, held under the GIL. The rows libpq holds are taken in a tight loop, and only when
    none is left do we wait on the socket, without the GIL, so other lanes and the part writers run
    meanwhile. The server's count and the lines received are compared by the caller, as before.
    before: statements ahead of the COPY in `stmt` (e.g. a SET LOCAL), whose results are passed over."""
    pg = conn.pgconn
    if pg.transaction_status != pq.TransactionStatus.INTRANS:  # never outside the backup's snapshot
        raise TenantBackupError("internal error: a table export started outside the backup's snapshot")
    with _selector(pg.socket) as sel:

        def result() -> pq.abc.PGresult | None:
            while pg.is_busy():
                sel.select()
                pg.consume_input()
            return pg.get_result()

        def fail(res: pq.abc.PGresult | None) -> psycopg.Error:
            while res is not None and result() is not None:
                pass
            if res is not None and res.status == pq.ExecStatus.FATAL_ERROR:
                return psycopg.errors.error_from_result(res, encoding=conn.info.encoding)
            return psycopg.ProgrammingError(f"COPY answered {res.status.name if res else 'nothing'}")

        pg.send_query(stmt)
        if pg.flush():  # a query longer than the socket's buffer: the rest goes as it drains
            sel.modify(pg.socket, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while pg.flush():
                if any(ev & selectors.EVENT_READ for _, ev in sel.select()):
                    pg.consume_input()
            sel.modify(pg.socket, selectors.EVENT_READ)
        for _ in range(before):
            if (res := result()) is None or res.status != pq.ExecStatus.COMMAND_OK:
                raise fail(res)
        if (res := result()) is None or res.status != pq.ExecStatus.COPY_OUT:
            raise fail(res)
        lines, buf, ended = 0, bytearray(), False
        try:
            while True:
                n, data = pg.get_copy_data(1)  # 1: never block, 0: none buffered, -1: the end
                if n > 0:
                    buf += data
                    if len(buf) >= batch_bytes:
                        n = buf.count(b"\n")
                        lines += n
                        sink(buf, n)
                        buf = bytearray()
                        if cancelled.is_set():
                            raise Cancelled("backup cancelled")
                elif n == 0:
                    sel.select()
                    pg.consume_input()
                else:
                    break
            ended = True
            if (res := result()) is None or res.status != pq.ExecStatus.COMMAND_OK:
                raise fail(res)
            while result() is not None:
                pass
        finally:
            if not ended:  # stopped halfway: the server stops sending, and what it sent is dropped
                try:
                    conn.cancel_safe(timeout=5)
                except Exception:  # noqa: BLE001 - a refused cancel: the drain below reads the rest instead
                    pass
                try:
                    while (n := pg.get_copy_data(1)[0]) >= 0:
                        if n == 0:
                            sel.select()
                            pg.consume_input()
                    while result() is not None:
                        pass
                except Exception:  # noqa: BLE001 - a broken connection is closed by the snapshot's end
                    pass
    if buf:
        n = buf.count(b"\n")
        lines += n
        sink(buf, n)
    return lines, res.command_tuples


class _Poll:
    """The one socket's readiness by poll(2): a poll object is plain memory, where an epoll
    selector (selectors.DefaultSelector) costs three system calls to make, register and close —
    0.2 ms of each table's export in the profile, paid on every COPY."""

    def __init__(self, fd: int):
        self.fd, self._poll = fd, select.poll()
        self._poll.register(fd, select.POLLIN)

    def modify(self, fd: int, events: int) -> None:
        self._poll.modify(fd, (select.POLLIN if events & selectors.EVENT_READ else 0)
                          | (select.POLLOUT if events & selectors.EVENT_WRITE else 0))

    def select(self) -> list[tuple[None, int]]:
        ready = 0
        for _, ev in self._poll.poll():
            ready |= (selectors.EVENT_READ if ev & (select.POLLIN | select.POLLERR | select.POLLHUP) else 0) \
                | (selectors.EVENT_WRITE if ev & select.POLLOUT else 0)
        return [(None, ready)]

    def __enter__(self) -> "_Poll":
        return self

    def __exit__(self, *exc) -> None:
        pass


def _selector(fd: int):
    """A waiter on the connection's socket for one COPY: poll(2) where there is one, else the
    platform's selector (Windows)."""
    if hasattr(select, "poll"):
        return _Poll(fd)
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    return sel
