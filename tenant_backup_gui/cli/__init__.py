"""`tenant-backup`: no arguments opens the window; subcommands run headless and never import Qt.

Contract for scripts and schedulers: with --json stdout holds one JSON document and nothing else;
errors are one line on stderr and a non-zero exit (2: configuration or connection, 3: another run
holds the tenant's lock, 4: credentials unavailable); a traceback only with --debug.

parser.py builds the command line from the cmd_*.py modules (one per command group; see its
COMMAND_MODULES); printers.py writes text or JSON."""

from __future__ import annotations

import argparse
import os
import sys

from ..core.errors import TenantBackupError
from .parser import build_parser
from .printers import fail

__all__ = ["build_parser", "main"]


def cmd_window(args) -> int:
    """No command: the window, or one line saying why it cannot open here."""
    from ..platform.display import check_window
    check_window()
    from ..gui.app import run_window
    return run_window(demo=False)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Until the command line is parsed, --json and --debug are only known from the words themselves.
    args = argparse.Namespace(json="--json" in argv, debug="--debug" in argv)
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "profile", None):
            os.environ["TENANT_BACKUP_PROFILE"] = args.profile  # children (the scheduler's job) inherit it
        return (args.func if args.command else cmd_window)(args)
    except TenantBackupError as err:
        return fail(args, err, f"error: {err}", err.exit_code)
    except KeyboardInterrupt as err:
        return fail(args, err, "interrupted", 130)
    except BrokenPipeError:  # `tenant-backup history | head`: the reader left, not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as err:  # noqa: BLE001 - the user gets one line, the developer --debug
        return fail(args, err, f"internal error: {type(err).__name__}: {err} (run again with --debug for details)", 1)
