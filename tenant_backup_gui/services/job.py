"""The shape every long operation shares, after Vorta's borg jobs."""

from __future__ import annotations

import asyncio
import threading
import time

from ..core.errors import ConfigError, TenantBackupError
from ..core.events import Event, EventSink, ignore


PROGRESS_SECONDS = 0.1  # a job's progress events at most this often: a display needs no more


class Job:
    coalesce_progress = False

    def __init__(self, on_event: EventSink = ignore):
        self.on_event = on_event
        self.cancelled = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._emitting = threading.RLock()
        self._progress_at = float("-inf")

    def prepare(self) -> list:
        """What stops this job from running: one-line messages (or the error itself, when its
        kind matters, e.g. credentials unavailable). Touches nothing."""
        return []

    def cancel(self) -> None:
        self.cancelled.set()

    def check_prepared(self) -> None:
        problems = self.prepare()
        if problems:
            first = problems[0]
            raise first if isinstance(first, TenantBackupError) else ConfigError(str(first))

    def bind_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    def bind_like(self, parent: "Job") -> None:
        """Deliver events on the loop of `parent`, which runs this job on one of its threads."""
        self._loop, self._loop_thread = parent._loop, parent._loop_thread

    def emit(self, event: Event) -> None:
        """Deliver on the event loop's thread, whichever thread the work runs on, so a window
        can update its widgets from the callback. Without a loop, one event at a time: a job's
        parallel lanes (tables, tenants) never call the listener at once.
        With coalesce_progress (a backup within `daily`), progress events are coalesced, one per
        PROGRESS_SECONDS: the profile of a 100-table `daily` put 0.3 ms of each table in events,
        most of them progress handed across threads for a line redrawn anyway. Elsewhere (a
        window's backup, whose last count is what the person reads) every event is delivered."""
        if event.kind == "progress" and self.coalesce_progress:
            now = time.monotonic()
            if now - self._progress_at < PROGRESS_SECONDS:
                return
            self._progress_at = now
        if self._loop is None or threading.get_ident() == self._loop_thread:
            with self._emitting:
                self.on_event(event)
        else:
            try:
                self._loop.call_soon_threadsafe(self.on_event, event)
            except RuntimeError:  # loop closed: nobody is listening any more
                pass
