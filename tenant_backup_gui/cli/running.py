"""What every command that runs a job shares: the context from the settings, and a run that a
Ctrl-C cancels cleanly."""

from __future__ import annotations

import asyncio
import signal

from .printers import Progress


def run_job(job, progress: Progress):
    """Run a job to its end; Ctrl-C asks it to cancel (it cleans up) instead of killing it mid-write."""
    return asyncio.run(_run(job, progress))


async def _run(job, progress: Progress):
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, job.cancel)
        loop.add_signal_handler(signal.SIGTERM, job.cancel)
    except (NotImplementedError, RuntimeError):
        pass
    try:
        return await job.run()
    finally:
        progress.done()


def context(args):
    from ..platform.settings import load_settings
    from ..services.context import Context
    return Context.from_settings(load_settings())
