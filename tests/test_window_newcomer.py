"""The window as a newcomer found it (issue 24): the selection kept by backup id, Tab between the
panes, Help → README after a refused save, one last-job message for every kind of job, Settings
saying where each value comes from, history naming organizations, and the layout at three sizes.
Real widgets offscreen, the services and PostgreSQL behind."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tenant_backup_gui.core.files import FileEntry
from tenant_backup_gui.core.manifest import BackupInfo
from tenant_backup_gui.core.signing import UNSIGNED, Origin
from tenant_backup_gui.gui.panels import BackupsPanel
from tenant_backup_gui.gui.restore_wizard import PAGE_CONFIRM, PAGE_RESULT

from .conftest import ORG_A, ORG_B, cli_json
from .test_gui import open_window, select_tenant
from .test_gui import wait_for as wait_briefly
from .test_window_bad_day import opened_urls, to_dry_run  # noqa: F401 - opened_urls: a fixture


def wait_for(loop, predicate, timeout=90.0, what="condition"):
    """As test_gui's, with room for a machine busy with other runs (a refresh reads the store and
    the database once more after every job)."""
    wait_briefly(loop, predicate, timeout, what)


def select_backup(w, loop, backup_id: str) -> None:
    row = next(r for r in range(w.backup_table.rowCount()) if w.backup_table.item(r, 6).text() == backup_id)
    w.backup_table.selectRow(row)
    assert w.selected_backup().id == backup_id


def test_the_selected_backup_stays_selected_when_a_newer_one_arrives(qtbot, loop, odd_db, env):
    env(odd_db)
    older = cli_json("backup", "--org", ORG_A)["backup"]["id"]
    cli_json("backup", "--org", ORG_A)
    w = open_window(qtbot, loop)
    select_tenant(w, loop, ORG_A)
    wait_for(loop, lambda: w.backup_table.rowCount() == 2, what="the backups")
    select_backup(w, loop, older)  # the older one, second row
    w.act_daily.trigger()  # a new backup lands on the first row, pushing the others down
    wait_for(loop, lambda: w.backup_table.rowCount() == 3, what="the daily backup in the list")
    assert w.selected_backup().id == older and w.backup_table.currentRow() == 2
    w.act_restore.trigger()  # Ctrl+R opens the wizard on the backup the owner chose
    qtbot.addWidget(w.wizard)
    assert w.wizard.backup.id == older
    # the history keeps its selected entry too, by its id
    w.wizard.reject()
    loop.run_until_complete(w.refresh())
    w.history_table.selectRow(w.history_table.rowCount() - 1)
    chosen = w.history_table.item(w.history_table.currentRow(), 0).data(Qt.UserRole)["id"]
    cli_json("backup", "--org", ORG_A)
    loop.run_until_complete(w.refresh())
    assert w.history_table.item(w.history_table.currentRow(), 0).data(Qt.UserRole)["id"] == chosen
    assert w.selected_tenant()["id"] == ORG_A and w.selected_backup().id == older


def test_tab_moves_between_the_panes_and_arrows_within_them(qtbot, loop, odd_db, env):
    env(odd_db)
    cli_json("backup", "--org", ORG_A)
    w = open_window(qtbot, loop)
    w.activateWindow()
    select_tenant(w, loop, ORG_A)
    w.tenant_table.setFocus()
    order = []
    for _ in range(12):
        order.append(QApplication.focusWidget())
        QTest.keyClick(QApplication.focusWidget(), Qt.Key_Tab)
    assert order[0] is w.tenant_table
    assert order[1] is w.backup_table and order[2] is w.history_table  # one Tab per pane, not per cell
    buttons = [b.defaultAction() for b in order if hasattr(b, "defaultAction")]
    assert w.act_backup in buttons and w.act_restore in buttons  # the toolbar is reached by Tab
    assert w.search in order  # … and round again to the search box
    # the arrows move within a table
    w.tenant_table.setFocus()
    before = w.selected_tenant()["id"]
    QTest.keyClick(w.tenant_table, Qt.Key_Down)
    assert QApplication.focusWidget() is w.tenant_table and w.selected_tenant()["id"] != before


def test_help_readme_after_a_save_the_keyring_refused(qtbot, loop, odd_db, env, opened_urls, monkeypatch):  # noqa: F811
    env(odd_db)
    monkeypatch.delenv("TENANT_BACKUP_DATABASE_URL")
    monkeypatch.setenv("TENANT_BACKUP_TEST_KEYRING_LOCKED", "1")  # the keyring refuses
    from tenant_backup_gui.gui.main_window import MainWindow
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.context import Context
    w = MainWindow(Context.from_settings(load_settings()))
    qtbot.addWidget(w)
    w.show()
    wait_for(loop, lambda: getattr(w, "settings_dialog", None) is not None and w.settings_dialog.isVisible(),
             what="the settings dialog")
    for _ in range(2):
        dlg = w.settings_dialog
        dlg.url.setText(odd_db)
        dlg.save()
        assert "keyring" in dlg.status.text() and dlg.isVisible()  # refused, said so
        dlg.reject()
        w.act_readme.trigger()
        assert "not part of this installation" not in w.st_message.text()
        assert opened_urls and opened_urls[-1].toLocalFile().endswith("README.md")
        assert Path(opened_urls[-1].toLocalFile()).is_file()
        opened_urls.clear()
        w.open_settings()


def test_the_status_bar_says_what_every_job_did(qtbot, loop, odd_db, env):
    env(odd_db)
    w = open_window(qtbot, loop)
    select_tenant(w, loop, ORG_A)
    w.act_backup.trigger()
    wait_for(loop, lambda: "Backup of Acme Welding: done" in w.st_message.text(), what="the backup's message")
    wait_for(loop, lambda: w.backup_table.rowCount() == 1, what="the backup in the list")
    backup_id = w.backups[0].id
    with psycopg.connect(odd_db) as c:
        c.execute("delete from big_table where organization_id = %s and id <= 10", [ORG_A])
    w.backup_table.selectRow(0)
    w.act_verify.trigger()
    wait_for(loop, lambda: w.st_message.text().startswith(f"Verify {backup_id}: done"), what="the verify message")
    w.act_restore.trigger()
    wiz = w.wizard
    qtbot.addWidget(wiz)
    to_dry_run(loop, wiz)
    wait_for(loop, lambda: w.st_message.text().startswith("Dry run of Acme Welding"), what="the dry run's message")
    assert "Will insert 10 rows" in w.st_message.text() and backup_id in w.st_message.text()
    wiz.next()
    wiz.page(PAGE_CONFIRM).name.setText("Acme Welding")
    wiz.next()
    wait_for(loop, lambda: wiz.currentId() == PAGE_RESULT, what="the apply")
    msg = w.st_message.text()
    assert re.match(r"Restore of Acme Welding: done — inserted 10 rows in 1 table from backup ", msg), msg
    assert wiz.result.safety_backup_id in msg
    wiz.page(PAGE_RESULT).undo.click()
    wait_for(loop, lambda: w.wizard is not wiz, what="the undo wizard")
    undo = w.wizard
    qtbot.addWidget(undo)
    to_dry_run(loop, undo)
    undo.next()
    undo.page(PAGE_CONFIRM).name.setText("Acme Welding")
    undo.next()
    wait_for(loop, lambda: undo.currentId() == PAGE_RESULT, what="the undo")
    assert w.st_message.text().startswith("Undo of the restore of Acme Welding: done")
    w.act_daily.trigger()
    wait_for(loop, lambda: w.st_message.text().startswith("Daily run:"), timeout=120, what="the daily's message")
    assert "cleanup:" in w.st_message.text()


def test_settings_says_where_each_value_comes_from_and_tests_what_is_in_effect(qtbot, loop, odd_db, env):
    env(odd_db)
    w = open_window(qtbot, loop)
    w.open_settings()
    dlg = w.settings_dialog
    assert "TENANT_BACKUP_DATABASE_URL" in dlg.sources.text() and "TENANT_BACKUP_STORE" in dlg.sources.text()
    assert dlg.url.text() and dlg.url.isReadOnly()  # what is in effect, shown
    assert loop.run_until_complete(dlg.test_connection()), dlg.status.text()
    assert dlg.status.text().startswith("Connected") and "TENANT_BACKUP_DATABASE_URL" in dlg.status.text()


def test_history_across_organizations_names_them(qtbot, loop, odd_db, env):
    env(odd_db)
    cli_json("backup", "--org", ORG_A)
    cli_json("backup", "--org", ORG_B)
    w = open_window(qtbot, loop)
    select_tenant(w, loop, ORG_A)
    org_col = 8
    assert w.history_table.isColumnHidden(org_col)  # one organization: no column
    w.hist_tenant.setChecked(False)
    wait_for(loop, lambda: not w.history_table.isColumnHidden(org_col), what="the Organization column")
    names = {w.history_table.item(r, org_col).text() for r in range(w.history_table.rowCount())}
    assert {"Acme Welding", 'Côté & "Fils"'} <= names
    assert w.history_table.horizontalHeader().visualIndex(org_col) == 1  # beside Started


def _info(**kw) -> BackupInfo:
    base = dict(id="2026-12-06T10-35-00-000Z", organization_id=ORG_A, organization_name="Acme", date="2026-12-06",
                created_at=datetime(2026, 12, 6, 10, 35, tzinfo=timezone.utc), type="manual", total_records=1500,
                total_size=409_088, complete=True, origin=Origin("signed", "k1"))
    base.update(kw)
    return BackupInfo(**base)


def test_backup_sizes_include_files_and_unsigned_and_long_states_read_right(qtbot):
    panel = BackupsPanel()
    qtbot.addWidget(panel)
    panel.resize(700, 300)
    panel.show()
    files = [FileEntry("avatars", f"{ORG_A}/{i}.png", "0" * 64, 300_000) for i in range(3)]
    long = "the summary was never written: " + "part 3 of big_table is missing, " * 6
    items = [_info(files=files), _info(id="2026-12-06T10-36-00-000Z"),
             _info(id="2026-12-05T02-00-00-000Z", type="daily_tenant", origin=Origin(UNSIGNED)),
             _info(id="2026-12-04T02-00-00-000Z", complete=False, problem=long)]
    panel.fill({"name": "Acme"}, items)
    t = panel.table
    assert t.item(0, 4).text() != t.item(1, 4).text() and t.item(0, 4).text() == "1.2 MiB"
    assert "3 files" in t.item(0, 4).toolTip()
    assert t.item(2, 5).text() == "complete · UNSIGNED" and "not signed" in t.item(2, 5).toolTip()
    assert t.item(0, 5).text() == "complete"
    # the long INCOMPLETE state is cut, not the ID column pushed out of view
    assert t.item(3, 5).text().startswith("INCOMPLETE") and long in t.item(3, 5).toolTip()
    right = t.columnViewportPosition(6) + 40
    assert 0 <= t.columnViewportPosition(6) and right <= t.viewport().width(), (right, t.viewport().width())


def test_the_layout_at_three_sizes(qtbot, loop, odd_db, env, tmp_path):
    """At 800×500, 1024×700 and 1920×1080: names and statuses before "Last backup", the history's
    Detail readable, the status bar's database and store apart (pictures in the test's tmp dir)."""
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]["id"]
    cli_json("backup", "--org", ORG_B)
    plan = cli_json("restore", "--org", ORG_A, "--backup", backup, "--dry-run")["plan_id"]
    cli_json("restore", "--org", ORG_A, "--backup", backup, "--apply", "--plan", plan, "--yes")
    w = open_window(qtbot, loop)
    select_tenant(w, loop, ORG_A)
    wait_for(loop, lambda: w.backup_table.rowCount() == 2, what="the backup and the safety backup")
    wait_for(loop, lambda: any(w.history_table.item(r, 1).text() == "restore"
                               for r in range(w.history_table.rowCount())), what="the restore in history")
    for width, height in ((800, 500), (1024, 700), (1920, 1080)):
        w.resize(width, height)
        loop.run_until_complete(__import__("asyncio").sleep(0.3))
        w.grab().save(str(tmp_path / f"window-{width}x{height}.png"))
        orgs, fm = w.tenant_table, w.tenant_table.fontMetrics()
        for r in range(orgs.rowCount()):  # every name whole, every status whole
            for col in (1, 3):
                assert fm.horizontalAdvance(orgs.item(r, col).text()) + 8 <= orgs.columnWidth(col), (width, r, col)
        if width >= 1024:
            assert not orgs.isColumnHidden(2) or width < 1920, "Last backup hidden with room to spare"
        hist = w.history_table
        restore_row = next(r for r in range(hist.rowCount()) if hist.item(r, 1).text() == "restore")
        detail = hist.item(restore_row, 7).text()
        assert detail.startswith(f"from {backup}; safety backup ")
        wanted = min(hist.fontMetrics().horizontalAdvance(detail), 300 if width >= 1024 else 220)  # 800: the backup id whole
        assert hist.columnWidth(7) >= wanted, (width, hist.columnWidth(7))
        assert hist.columnViewportPosition(7) + wanted <= hist.viewport().width(), width  # in view, not scrolled off
        assert w.st_conn.text().startswith("Database:") and w.st_store.text().startswith("Store:"), width
        assert w.st_store.isVisible() and w.st_conn.isVisible()
        if width >= 1024:  # the backups' ID column in view, whole
            b = w.backup_table
            assert b.columnViewportPosition(6) + b.fontMetrics().horizontalAdvance(backup) <= b.viewport().width()
    print(f"screenshots: {tmp_path}")


def test_an_older_read_of_the_backups_arriving_last_never_replaces_a_newer_list(qtbot, loop, odd_db, env, monkeypatch):
    """Reads of the list overlap (a selection, then a job's refresh); under load the older one can
    answer last. It used to fill the list with what it read: the backup just taken vanished from the
    window (the status-bar test above timed out on exactly that). A slow network is simulated by
    answering the first read late; what it reads is real."""
    import asyncio
    import threading
    from tenant_backup_gui.services import inventory
    env(odd_db)
    w = open_window(qtbot, loop)
    select_tenant(w, loop, ORG_A)
    wait_for(loop, lambda: w.backup_table.rowCount() == 0, what="the empty list")
    real, read, late = inventory.backups, threading.Event(), threading.Event()

    def slow_first(ctx, org):
        items = real(ctx, org)
        if not read.is_set():
            read.set()
            late.wait(30)  # answers after the newer read has filled the list
        return items
    monkeypatch.setattr(inventory, "backups", slow_first)
    older = asyncio.ensure_future(w.load_backups())
    wait_for(loop, read.is_set, what="the older read")
    cli_json("backup", "--org", ORG_A)
    loop.run_until_complete(w.load_backups())
    assert w.backup_table.rowCount() == 1
    late.set()
    loop.run_until_complete(older)
    assert w.backup_table.rowCount() == 1 and len(w.backups) == 1
