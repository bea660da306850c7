"""What every command that runs a job shares: the context from the settings, and a run that a
Ctrl-C cancels cleanly."""

from __future__ import annotations

import asyncio

from ..core.errors import Cancelled
from .printers import Progress


def run_job(job, progress: Progress):
    """Run a job to its end; Ctrl-C or SIGTERM asks it to cancel (it cleans up) instead of killing it mid-write."""
    return asyncio.run(_run(job, progress))


async def _run(job, progress: Progress):
    from ..platform.signals import cancel_on_signals
    try:
        with cancel_on_signals(job.cancel) as stop:
            try:
                result = await job.run()
            except Cancelled:
                stop.check()  # a signal's: say which
                raise
            stop.check()  # a job that reports rather than raises (daily) still ends as cancelled
            return result
    finally:
        progress.done()


def context(args):
    from ..platform.settings import load_settings
    from ..services.context import Context
    return Context.from_settings(load_settings())
