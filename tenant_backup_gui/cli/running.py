"""What every command that runs a job shares: the context from the settings, and a run that a
Ctrl-C cancels cleanly."""

from __future__ import annotations

import asyncio

from ..core.errors import Cancelled, TenantBackupError
from .printers import Progress


def run_job(job, progress: Progress, leftovers: bool = True):
    """Run a job to its end; Ctrl-C or SIGTERM asks it to cancel (it cleans up) instead of killing it mid-write.
    First, the history rows of this host's killed jobs (any kind, any organization) say so; not for
    the jobs that read only the backup store (leftovers=False: verify, show), which must not wait
    on a database they do not use."""
    return asyncio.run(_run(job, progress, leftovers))


def _mark_dead(ctx) -> None:
    from ..core.errors import TenantBackupError
    from ..services.leftovers import mark_dead
    if ctx is None:
        return
    try:
        mark_dead(ctx)
    except TenantBackupError:
        pass  # no history to put right here (no database configured): the job says what it needs


async def _run(job, progress: Progress, leftovers: bool):
    from ..platform.signals import cancel_on_signals
    try:
        with cancel_on_signals(job.cancel) as stop:  # the leftovers' wait for a connection ends on a signal too
            try:
                if leftovers:
                    await asyncio.to_thread(_mark_dead, getattr(job, "ctx", None))
                    stop.check()
                result = await job.run()
            except Cancelled:
                stop.check()  # a signal's: say which
                raise
            stop.check()  # a job that reports rather than raises (daily) still ends as cancelled
            return result
    finally:
        progress.done()


def context(args):
    """The settings' context; on the way, --org (when given) becomes the id it names: every command
    that takes --org calls this first, so a name works everywhere an id does (cli/orgs.py)."""
    from ..platform.settings import load_settings
    from ..services.context import Context
    ctx = Context.from_settings(load_settings())
    if getattr(args, "org", None):
        from ..platform.signals import cancel_on_signals
        from .orgs import resolve_org
        # The lookup may wait for a pooled connection: SIGTERM/SIGINT end that wait too, in one line.
        with cancel_on_signals(lambda: None) as stop:
            try:
                args.org = resolve_org(ctx, args.org)
            except TenantBackupError:
                stop.check()  # a signal's: say which
                raise
            stop.check()
    return ctx
