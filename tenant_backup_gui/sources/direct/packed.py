"""Many small tables of one tenant in one COPY: the per-table round trip was the profile's second
cost (2.3 ms a table, 1.35 ms of it waiting on the server) and most of a grown app's tables hold a
few rows per tenant or none. Each table's query becomes one branch of a UNION ALL whose lines carry
the table's number; the router below hands each table's lines, number stripped, to the sink in
table order. The line format stays the one backup JSON line each table's own COPY gives."""

from __future__ import annotations

from typing import Callable

from psycopg import sql

from ...core.errors import TenantBackupError
from .copy_out import COPY_OPTIONS

# A parallel plan may interleave the branches (Parallel Append): off for this one statement.
_SERIAL = b"SET LOCAL max_parallel_workers_per_gather = 0; "
_RESTORE = b"; SET LOCAL max_parallel_workers_per_gather TO DEFAULT"


def packed_statement(queries: list[str], conn) -> bytes:
    """`COPY (SELECT 0, <table 0's row JSON> … UNION ALL SELECT 1, …) TO STDOUT` between a SET
    LOCAL that keeps the branches in order and the one that puts it back: one round trip; the
    COPY is the second of its three statements (copy_out's `before=1`)."""
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("(SELECT {}, q.r::text FROM ({}) q(r))").format(sql.Literal(j), sql.SQL(q))
        for j, q in enumerate(queries))
    copy = sql.SQL("COPY ({}) TO STDOUT {}").format(union, COPY_OPTIONS).as_bytes(conn)
    return _SERIAL + copy + _RESTORE


class Router:
    """The packed COPY's batches split by table: `sink(j, lines, count)` for table j's lines
    (without their number), tables in increasing order, a table's lines possibly over several
    calls. Lines out of table order — which the statement rules out — stop the export rather than
    land in the wrong table."""

    def __init__(self, tables: int, sink: Callable[[int, bytes, int], None]):
        self.counts = [0] * tables
        self._sink = sink
        self._current = 0

    def __call__(self, batch: bytearray, lines: int) -> None:
        pos, end, previous = 0, len(batch), -1
        while pos < end:
            tab = batch.index(b"\x02", pos)
            j = int(batch[pos:tab])
            if j < self._current or j <= previous or j >= len(self.counts):
                raise TenantBackupError("internal error: the tables' rows arrived out of order; run the backup again")
            prefix = b"%d\x02" % j
            last = batch.rfind(b"\n" + prefix, pos, end)  # the run's last line (a table's lines are contiguous)
            stop = batch.index(b"\n", pos if last < 0 else last + 1) + 1
            run = bytes(batch[pos:stop])
            n = run.count(b"\n")
            data = run[len(prefix):].replace(b"\n" + prefix, b"\n")
            if len(data) != len(run) - n * len(prefix):  # another table's line inside the run
                raise TenantBackupError("internal error: the tables' rows arrived interleaved; run the backup again")
            self.counts[j] += n
            self._current = previous = j
            self._sink(j, data, n)
            pos = stop
