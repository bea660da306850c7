"""Render the window and each restore-wizard page to resources/screenshots/ (for the README).

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.screenshots

Runs on a throw-away embedded PostgreSQL with the demo dataset; with a real display (or Xvfb)
unset QT_QPA_PLATFORM to get the platform's native style."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "screenshots"
WELDCOR = "5f0c7a4e-2b1d-4c7e-9a55-3e2f1d0c9b88"


async def wait(pred, timeout=60):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise SystemExit("timed out")
        await asyncio.sleep(0.05)


def main() -> int:
    from tests.benchmarks.server import embedded_server
    with embedded_server() as (server, _):
        url = server.get_uri()
        with psycopg.connect(url, autocommit=True) as c:
            for f in ("demo/schema.sql", "demo/data.sql", "sql/setup.sql"):
                c.execute((ROOT / "resources" / f).read_text())
        work = tempfile.mkdtemp()
        os.environ.update(TENANT_BACKUP_DATABASE_URL=url, TENANT_BACKUP_STORE=f"{work}/store",
                          XDG_STATE_HOME=f"{work}/state", XDG_CONFIG_HOME=f"{work}/config")
        from PySide6.QtWidgets import QApplication
        import qasync
        from tenant_backup_gui.gui.main_window import MainWindow
        from tenant_backup_gui.platform.settings import load_settings
        from tenant_backup_gui.services.context import Context
        from tenant_backup_gui.services.daily import DailyJob
        app = QApplication(sys.argv)
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        OUT.mkdir(parents=True, exist_ok=True)

        async def shoot():
            ctx = Context.from_settings(load_settings())
            await DailyJob(ctx).run()
            with psycopg.connect(url) as c:
                c.execute("delete from bottle_scans where organization_id = %s and id %% 5 = 0", [WELDCOR])
            w = MainWindow(ctx)
            w.resize(1280, 760)
            w.show()
            await wait(lambda: w.tenant_table.rowCount() > 0)
            for r in range(w.tenant_table.rowCount()):
                if w.tenant_table.item(r, 4).text() == WELDCOR:
                    w.tenant_table.selectRow(r)
            w.create_backup()
            await wait(lambda: not w.runner.busy())
            await wait(lambda: w.backup_table.rowCount() >= 2)
            await asyncio.sleep(0.5)
            w.grab().save(str(OUT / "main-window.png"))
            w.backup_table.selectRow(1)
            w.restore()
            wiz = w.wizard
            wiz.grab().save(str(OUT / "wizard-1-backup.png"))
            wiz.next()
            wiz.grab().save(str(OUT / "wizard-2-options.png"))
            wiz.next()
            await wait(lambda: wiz.plan is not None)
            await asyncio.sleep(0.2)
            wiz.grab().save(str(OUT / "wizard-3-dry-run.png"))
            wiz.next()
            wiz.page(3).name.setText("Weldcor Supply")
            wiz.grab().save(str(OUT / "wizard-4-confirm.png"))
            wiz.next()
            await wait(lambda: wiz.currentId() == 5)
            wiz.grab().save(str(OUT / "wizard-6-result.png"))
            wiz.close()
            w.open_settings()
            dlg = w.settings_dialog
            dlg.supabase_url.setText("https://abcdefghijklmnop.supabase.co")
            dlg.supabase_key.setText("x" * 40)
            dlg.store_kind.setCurrentIndex(dlg.store_kind.findData("supabase"))
            dlg.mirror.setText("/srv/backups/mirror")
            await asyncio.sleep(0.3)
            dlg.grab().save(str(OUT / "settings.png"))
            dlg.reject()
            w.close()

        with loop:
            loop.run_until_complete(shoot())
        print(f"screenshots in {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
