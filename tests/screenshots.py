"""Render the window and each restore-wizard page to resources/screenshots/ (for the README).

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.screenshots [--if-stale]

Runs on a throw-away embedded PostgreSQL with the demo dataset (plus an old-system backup cut by
its 1000-row cap, for the partial-backup warning); with a real display (or Xvfb) unset
QT_QPA_PLATFORM to get the platform's native style. It records a digest of what the pictures are
rendered from (the window's code, this script, the demo data) in rendered-from.json:
tests/test_screenshots.py fails when the README's pictures are older than that code. .ci/run
renders them again (--if-stale) before the tests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "screenshots"
MANIFEST = OUT / "rendered-from.json"
WELDCOR = "5f0c7a4e-2b1d-4c7e-9a55-3e2f1d0c9b88"
NORTHERN = "c0ffee00-1234-4abc-8def-001122334455"
# What the pictures show comes from these: a change to any of them renders them again.
INPUTS = ("tenant_backup_gui/gui/*.py", "tenant_backup_gui/gui/panels/*.py", "tenant_backup_gui/core/partial.py",
          "tenant_backup_gui/core/report.py", "tenant_backup_gui/core/history.py", "tests/screenshots.py",
          "tests/helpers.py", "resources/demo/*.sql", "resources/icons/*")


def inputs_digest() -> str:
    h = hashlib.sha256()
    for pattern in INPUTS:
        for path in sorted(ROOT.glob(pattern)):
            h.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
            h.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return h.hexdigest()


def is_current() -> bool:
    try:
        doc = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return False
    return doc.get("digest") == inputs_digest() and all((OUT / f).exists() for f in doc.get("files", []))


async def wait(pred, timeout=60):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise SystemExit(f"timed out at line {sys._getframe(1).f_lineno}")
        await asyncio.sleep(0.05)


def main() -> int:
    if "--if-stale" in sys.argv and is_current():
        print(f"screenshots in {OUT} are current")
        return 0
    from tests.benchmarks.server import embedded_server
    from tests.helpers import old_system_backup
    from tenant_backup_gui.services.inventory import setup_sql
    with embedded_server() as (server, _):
        url = server.get_uri()
        with psycopg.connect(url, autocommit=True) as c:
            for f in ("demo/schema.sql", "demo/data.sql"):
                c.execute((ROOT / "resources" / f).read_text())
            c.execute(setup_sql())
        work = tempfile.mkdtemp()
        from tenant_backup_gui.core.encryption import encode_key, new_key
        # The backup key by the environment's route (no keyring here): the demo's backups are signed.
        os.environ.update(TENANT_BACKUP_DATABASE_URL=url, TENANT_BACKUP_STORE=f"{work}/store",
                          XDG_STATE_HOME=f"{work}/state", XDG_CONFIG_HOME=f"{work}/config",
                          TENANT_BACKUP_KEY=encode_key(new_key()))
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

        shots: list[str] = []

        def save(widget, name: str) -> None:
            widget.grab().save(str(OUT / name))
            shots.append(name)

        async def shoot_browser(w):
            """The backup browser (double-click): a table's rows and a record, then 'Compare with now…'."""
            w.backup_table.selectRow(1)
            w.browse()
            b = w.browser
            b.resize(1180, 680)
            await wait(lambda: b.tables.rowCount() > 0)
            b.select_table("customers")
            await wait(lambda: b.rows.rowCount() > 0 and not b.busy())
            b.rows.selectRow(min(2, b.rows.rowCount() - 1))
            await asyncio.sleep(0.2)
            save(b, "browser-rows.png")
            with psycopg.connect(url) as c:  # an edit since the backup: a changed row, highlighted
                c.execute("update customers set balance = balance + 120, phone = '+1 306 555 0199' "
                          "where organization_id = %s and name like 'Prairie D%%'", [WELDCOR])
            b.compare("now")
            await wait(lambda: b.diff is not None)
            b.select_table("customers")
            await asyncio.sleep(0.2)
            save(b, "browser-compare.png")
            b.close()

        async def shoot_chosen_rows(w):
            """The bad day (tests/test_restore_rows.py): two of the deleted customers, ticked in the
            backup's rows; the dry run's verdict and its rows (put back, dependents, links back)."""
            from tests.test_restore_rows import bad_day
            with psycopg.connect(url) as c:
                names = dict(c.execute("select id::text, name from customers where organization_id = %s", [NORTHERN]))
            gone = sorted(bad_day(url)["gone"])[:2]
            for r in range(w.tenant_table.rowCount()):
                if w.tenant_table.item(r, 4).text() == NORTHERN:
                    w.tenant_table.selectRow(r)
            await wait(lambda: w.backups and w.backups[0].organization_id == NORTHERN and not w.runner.busy())
            w.backup_table.selectRow(0)
            w.restore()
            wiz = w.wizard
            wiz.next()
            opts = wiz.page(1)
            opts.chosen.setChecked(True)
            picker = opts.picker
            picker.select_table("customers")
            for key in gone:
                picker.pager.search.setText(names[key])
                picker.pager.search.returnPressed.emit()
                await wait(lambda: not picker.busy() and "holding" in picker.status.text())
                picker.pager.tick([picker.pager.rows.item(r, 0).text()
                                   for r in range(picker.pager.rows.rowCount())].index(key))
            picker.pager.search.setText(names[gone[1]].split()[0])  # a wider search: one ticked, others not
            picker.pager.search.returnPressed.emit()
            await wait(lambda: not picker.busy() and "holding" in picker.status.text())
            await asyncio.sleep(0.2)
            save(wiz, "wizard-chosen-rows.png")
            wiz.next()
            await wait(lambda: wiz.plan is not None)
            await asyncio.sleep(0.2)
            save(wiz, "wizard-chosen-dry-run.png")
            rows = wiz.page(2).show_rows("customers")
            rows.resize(1100, 520)
            await asyncio.sleep(0.2)
            save(rows, "wizard-chosen-rows-list.png")
            rows.close()
            wiz.close()

        async def shoot():
            ctx = Context.from_settings(load_settings())
            await DailyJob(ctx).run()
            with psycopg.connect(url) as c:
                c.execute("delete from bottle_scans where organization_id = %s and id %% 5 = 0", [WELDCOR])
            old_system_backup(url, Path(f"{work}/store"), WELDCOR)  # cut by the old 1000-row cap
            w = MainWindow(ctx)
            w.resize(1280, 760)
            w.show()
            await wait(lambda: w.tenant_table.rowCount() > 0)
            for r in range(w.tenant_table.rowCount()):
                if w.tenant_table.item(r, 4).text() == WELDCOR:
                    w.tenant_table.selectRow(r)
            w.create_backup()
            await wait(lambda: not w.runner.busy())
            await wait(lambda: w.backup_table.rowCount() >= 3)
            await asyncio.sleep(0.5)
            save(w, "main-window.png")
            with psycopg.connect(url) as c:  # a customer edited since: the dry run's row list shows it
                c.execute("update customers set balance = balance + 75, phone = '+1 306 555 0142' "
                          "where organization_id = %s and name like 'Prairie D%%'", [WELDCOR])
            w.backup_table.selectRow(1)
            w.restore()
            wiz = w.wizard
            save(wiz, "wizard-1-backup.png")
            wiz.next()
            save(wiz, "wizard-2-options.png")
            wiz.next()
            await wait(lambda: wiz.plan is not None)
            await asyncio.sleep(0.2)
            save(wiz, "wizard-3-dry-run.png")
            rows = wiz.page(2).show_rows("customers")  # double-click a table: the rows it changes
            rows.resize(1100, 560)
            edited = next((r for r in range(rows.rows.rowCount()) if rows.rows.item(r, 0).text() == "update"), 0)
            rows.rows.selectRow(edited)
            await asyncio.sleep(0.2)
            save(rows, "wizard-rows.png")
            rows.close()
            wiz.next()
            wiz.page(3).name.setText("Weldcor Supply")
            save(wiz, "wizard-4-confirm.png")
            wiz.next()
            await wait(lambda: wiz.currentId() == 5)
            save(wiz, "wizard-6-result.png")
            wiz.close()
            await w.load_backups()
            await shoot_browser(w)
            w.backup_table.selectRow(w.backup_table.rowCount() - 1)  # the old system's partial backup
            w.restore()
            wiz = w.wizard
            wiz.next()
            await asyncio.sleep(0.2)
            wiz.page(1).trust.setChecked(True)  # the old system's backup is unsigned: the owner's word
            save(wiz, "wizard-partial.png")
            wiz.page(1).replace.setChecked(True)
            wiz.next()
            await wait(lambda: wiz.plan is not None or "problems" in wiz.page(2).status.text())
            await asyncio.sleep(0.2)
            save(wiz, "wizard-partial-dry-run.png")
            wiz.close()
            await shoot_chosen_rows(w)
            w.open_settings()
            dlg = w.settings_dialog
            dlg.supabase_url.setText("https://abcdefghijklmnop.supabase.co")
            dlg.supabase_key.setText("x" * 40)
            dlg.store_kind.setCurrentIndex(dlg.store_kind.findData("supabase"))
            dlg.mirror.setText("/srv/backups/mirror")
            await asyncio.sleep(0.3)
            save(dlg, "settings.png")
            dlg.reject()
            w.close()

        with loop:
            loop.run_until_complete(shoot())
        MANIFEST.write_text(json.dumps({"digest": inputs_digest(), "files": shots}, indent=1) + "\n")
        print(f"screenshots in {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
