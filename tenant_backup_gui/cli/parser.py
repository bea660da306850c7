"""The command line: common options, then one sub-command per registered command module.

A command group is a module with `register(add)`, where `add(name, func, help)` returns the
sub-command's parser for its options and `func(args) -> exit code` runs it. Adding a group is
one entry in COMMAND_MODULES (and its import above it: static imports, so that a frozen build
finds every module). The modules import their services inside their functions, so that
`tenant-backup --help` stays fast and no sub-command ever imports Qt."""

from __future__ import annotations

import argparse

from .. import __version__
from . import (cmd_backup, cmd_browse, cmd_credentials, cmd_daily, cmd_demo, cmd_history, cmd_inventory, cmd_restore,
               cmd_schedule, cmd_setup)
from .options import Parser

COMMAND_MODULES = (
    cmd_setup,        # setup, doctor
    cmd_inventory,    # tenants, scope, backups, verify
    cmd_backup,       # backup
    cmd_daily,        # daily, cleanup
    cmd_history,      # history
    cmd_restore,      # restore
    cmd_browse,       # show, diff
    cmd_schedule,     # schedule
    cmd_credentials,  # credentials
    cmd_demo,         # demo
)


def _common_options(parser: argparse.ArgumentParser, default) -> None:
    """--json, --debug and --profile, before the command or after it. After it they must not reset
    what was given before it, so there their default is 'not given' (SUPPRESS)."""
    parser.add_argument("--json", action="store_true", default=default(False), help="print one JSON document on stdout")
    parser.add_argument("--debug", action="store_true", default=default(False), help="show a traceback on errors")
    parser.add_argument("--profile", metavar="NAME", default=default(None), help="a named profile: its own config, "
                        "keyring entries, backup folder and schedule (default: TENANT_BACKUP_PROFILE, else 'default')")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="tenant-backup", description="Per-tenant backups and restores for a "
               "multi-tenant Supabase/PostgreSQL app. No command: open the window.")
    p.add_argument("--version", action="version", version=f"tenant-backup {__version__}")
    _common_options(p, lambda d: d)
    common = Parser(add_help=False)
    _common_options(common, lambda d: argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, func, help_):
        sp = sub.add_parser(name, parents=[common], help=help_, description=help_)
        sp.set_defaults(func=func)
        return sp

    for module in COMMAND_MODULES:
        module.register(add)
    return p
