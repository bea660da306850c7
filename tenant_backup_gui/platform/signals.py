"""SIGTERM and SIGINT stop a headless job the way its Cancel button does.

systemd's stop, a Kubernetes Job's deadline and Ctrl-C must end a run in seconds, not wait for a
database that will never answer: the first signal calls the job's cancel() (off the event loop, which
must stay free to finish the job) and sets `stop_requested`, which every wait that does not belong to
a job — a connection waiting for a pooler's free server connection (sources/direct/pooler.py) — watches.
The job then ends as a cancelled job does: its history row says so, nothing half-written is kept. A
second signal ends the process at once (the escape hatch, as a second Ctrl-C is everywhere)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from ..core.errors import Cancelled

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Set from the first signal until the job's run is over: waits outside the job's reach give up.
stop_requested = threading.Event()


class Stop:
    """Which signal asked the job to stop (None: none did)."""

    def __init__(self, cancel: Callable[[], None]):
        self.cancel = cancel
        self.signal: signal.Signals | None = None

    @property
    def name(self) -> str | None:
        return self.signal.name if self.signal is not None else None

    def check(self) -> None:
        """Raise Cancelled naming the signal, if one came: the job's end, whatever it returned."""
        if self.signal is not None:
            raise Cancelled(f"interrupted by {self.name}: the job was cancelled; see tenant-backup history")

    def received(self, signum: int) -> None:
        if self.signal is not None:  # the second one: stop now
            sys.stderr.write(f"\ntenant-backup: {signal.Signals(signum).name} again: stopped at once\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        self.signal = signal.Signals(signum)
        stop_requested.set()
        # cancel() may talk to the database (a cancel request): not on the loop that must finish the job.
        threading.Thread(target=self.cancel, name="cancel-on-signal", daemon=True).start()


@contextmanager
def cancel_on_signals(cancel: Callable[[], None]) -> Iterator[Stop]:
    """Within: SIGINT/SIGTERM call cancel() once (a second one exits). On the running event loop's
    own handlers when there is one (the CLI runs its jobs under asyncio.run), else signal.signal."""
    stop = Stop(cancel)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    installed: list[tuple[int, object]] = []
    for sig in STOP_SIGNALS:
        try:
            if loop is not None:
                loop.add_signal_handler(sig, stop.received, sig)
                installed.append((sig, None))
            elif threading.current_thread() is threading.main_thread():
                installed.append((sig, signal.signal(sig, lambda signum, _frame: stop.received(signum))))
        except (NotImplementedError, RuntimeError, ValueError):  # Windows' loop, or not the main thread
            pass
    try:
        yield stop
    finally:
        for sig, previous in installed:
            if loop is not None:
                loop.remove_signal_handler(sig)
            else:
                signal.signal(sig, previous)
        stop_requested.clear()
