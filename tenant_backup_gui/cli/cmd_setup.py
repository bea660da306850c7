"""setup (the database's helpers) and doctor (is this installation in order)."""

from __future__ import annotations

import sys

from .printers import out
from .running import context


def cmd_setup(args) -> int:
    from ..services.inventory import setup, setup_sql
    if args.print_sql:
        if args.json:
            out(args, {"sql": setup_sql()}, None)
        else:
            sys.stdout.write(setup_sql())
        return 0
    result = setup(context(args))
    out(args, result, lambda r: r["message"])
    return 0


def cmd_doctor(args) -> int:
    from ..services import doctor
    result = doctor.run()
    mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}

    def human(r):
        return "\n".join(f"{mark[c['status']]}  {c['name']}: {c['message']}" + (f"\n      fix: {c['fix']}" if c["fix"] else "")
                         for c in r["checks"])
    out(args, result, human)
    return 0 if result["success"] else 1


def register(add) -> None:
    add("setup", cmd_setup, "create or upgrade backup_logs and the tool's helpers in the database").add_argument(
        "--print-sql", action="store_true", help="print the SQL instead, for the Supabase SQL editor (run it once "
        "as the postgres role; it is idempotent)")
    add("doctor", cmd_doctor, "check connection, privileges, setup, keyring, schedule, retention and disk space")
