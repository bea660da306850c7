"""Lanes: the connections that export one backup's tables, all on that backup's snapshot.

A backup opens its own lanes (`backup --jobs N`), and in `daily --jobs N` it may be joined later by
a connection of the run's pool that has no tenant left to start: the tail of the night (one big
tenant, a few slow ones) then uses every connection of the pool instead of one each, and the run
still never holds more than its N pooled connections. A lane that joins adopts the backup's
exported snapshot (sources/direct/snapshot.py Snapshot.worker), so what the backup holds is the same
whichever lane reads a table."""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable

from ..core.errors import TenantBackupError


class TableLanes:
    """One backup's tables not yet started, taken one item at a time by its lanes: an item is a
    tuple of table numbers (one large table, or small ones exported together). `export(lane_snap,
    item, writer)` exports an item's tables on a lane and returns their entries; `new_writer()`
    gives a lane that joins its own part writer."""

    def __init__(self, snap, tables: list, order: list[tuple[int, ...]], export: Callable, new_writer: Callable, own: int = 1):
        self.snap, self.tables = snap, tables
        self._todo = deque(order)
        self._export, self._new_writer = export, new_writer
        self.entries: list = [None] * len(tables)
        self.errors: list[BaseException] = []
        self.lanes = own  # connections exporting tables: the backup's own, then those lent
        self._cond = threading.Condition()
        self._open = True
        self._joined = 0

    def waiting(self) -> int:
        """Tables no lane has started, while lent connections may still join."""
        with self._cond:
            return len(self._todo) if self._open and not self.errors else 0

    def _next(self) -> tuple[int, ...] | None:
        with self._cond:
            return self._todo.popleft() if self._todo and not self.errors else None

    def run(self, lane_snap, writer) -> None:
        """One lane: tables until none is left; the first error stops every lane."""
        while (item := self._next()) is not None:
            try:
                for k, entry in zip(item, self._export(lane_snap, item, writer)):
                    self.entries[k] = entry
            except BaseException as err:  # noqa: BLE001 - the first one stops the others, then is raised
                with self._cond:
                    self.errors.append(err)
                self.snap.cancel()  # the coordinator cancels every lane's query
                return

    def join(self, session) -> bool:
        """A lent connection becomes a lane until no table is left. False when it came too late,
        or could not adopt the snapshot (the lanes already running finish the backup)."""
        with self._cond:
            if not self._open or not self._todo or self.errors:
                return False
            self._joined += 1
        try:
            try:
                lane_snap = self.snap.worker(self.tables, session=session)
            except TenantBackupError:  # e.g. a schema change queued on the tables: no more lent lanes
                with self._cond:
                    self._open = False
                return False
            try:
                with self._cond:
                    self.lanes += 1
                self.run(lane_snap, self._new_writer())
            finally:
                self.snap.release(lane_snap)
            return True
        finally:
            with self._cond:
                self._joined -= 1
                self._cond.notify_all()

    def close(self) -> None:
        """No lane joins any more; returns once those that joined are done (they read this
        snapshot, which must outlive them)."""
        with self._cond:
            self._open = False
            while self._joined:
                self._cond.wait()


class Lending:
    """`daily`'s side: pooled connections with no tenant left to start are lent, as lanes, to
    the running backups that have the most tables waiting per lane. A lender waits while some
    tenant's backup has not yet opened its tables (it may be the big one), and stops when no
    backup has a table waiting."""

    def __init__(self, tenants: list[str]):
        self._cond = threading.Condition()
        self._pending = set(tenants)  # backups that may still open tables to lanes
        self._open: dict[str, TableLanes] = {}

    def opened(self, org_id: str, lanes: TableLanes) -> None:
        """A backup's tables are open to lent lanes."""
        with self._cond:
            self._pending.discard(org_id)
            self._open[org_id] = lanes
            self._cond.notify_all()

    def ended(self, org_id: str) -> None:
        """A tenant's backup ended (or never opened its tables to lanes)."""
        with self._cond:
            self._pending.discard(org_id)
            self._open.pop(org_id, None)
            self._cond.notify_all()

    def _neediest(self) -> TableLanes | None:
        waiting = [(lanes.waiting() / lanes.lanes, lanes) for lanes in self._open.values()]
        waiting = [w for w in waiting if w[0] > 0]
        return max(waiting, key=lambda w: w[0])[1] if waiting else None

    def lend(self, session, cancelled: threading.Event) -> int:
        """On a worker with no tenant left: be a lane of running backups while any has a table
        waiting. Returns the backups helped."""
        helped = 0
        while not cancelled.is_set():
            with self._cond:
                while (lanes := self._neediest()) is None and self._pending and not cancelled.is_set():
                    self._cond.wait(1.0)  # woken by opened/ended; the timeout only re-checks cancel
            if lanes is None:
                return helped
            helped += lanes.join(session)
        return helped
