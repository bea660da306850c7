"""demo: the app on a sandbox database with demo organizations (the window, or --headless)."""

from __future__ import annotations

import os

from .printers import out


def cmd_demo(args) -> int:
    from ..services import demo
    if args.stop:
        stopped = demo.stop()
        out(args, {"stopped": stopped}, "sandbox stopped" if stopped else "the sandbox was not running")
        return 0
    if not args.headless and not args.json:
        from ..platform.display import check_window
        check_window()  # before the sandbox starts: nothing is left running when the window cannot open
    if args.reset:
        demo.reset()
    box = demo.start()
    from ..platform.sandbox import key
    env = {"TENANT_BACKUP_DATABASE_URL": box.url, "TENANT_BACKUP_STORE": str(box.store)}
    if args.json:  # the key is a secret: a program reads it from its file, as the shell line below does
        out(args, {"database_url": box.url, "store": str(box.store), "env": env, "key_file": str(box.key_file)}, None)
        return 0
    if not args.headless:
        from ..gui.app import run_window
        os.environ.update(env, TENANT_BACKUP_KEY=key(box))
        shown = []
        try:
            return run_window(demo=True, on_shown=lambda: shown.append(True))
        finally:
            if not shown:
                demo.stop()
    exports = "\n".join(f"  export {k}='{v}'" for k, v in env.items())
    exports += f"\n  export TENANT_BACKUP_KEY=\"$(cat '{box.key_file}')\""
    print(f"""The sandbox is running: PostgreSQL with 4 demo organizations, backups in {box.store}

Use the CLI against it:
{exports}
  tenant-backup tenants
  tenant-backup backup --org <id>
  tenant-backup backups --org <id>
  tenant-backup verify --org <id> --backup <backup id>
  tenant-backup daily
  tenant-backup cleanup --dry-run
  tenant-backup history

Stop it with: tenant-backup demo --stop    (start afresh: tenant-backup demo --reset)""")
    return 0


def register(add) -> None:
    d = add("demo", cmd_demo, "run the app on a sandbox database with demo organizations")
    d.add_argument("--headless", action="store_true", help="start the sandbox and print how to use the CLI on it")
    d.add_argument("--stop", action="store_true", help="stop the sandbox database")
    d.add_argument("--reset", action="store_true", help="wipe the sandbox and start afresh")
