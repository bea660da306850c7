"""The window, for real: Qt widgets offscreen on a qasync loop, the services and PostgreSQL behind."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("PySide6")
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from tenant_backup_gui.gui.main_window import MainWindow  # noqa: E402
from tenant_backup_gui.platform.settings import load_settings  # noqa: E402
from tenant_backup_gui.services.context import Context  # noqa: E402

from .conftest import ORG_A, ORG_B  # noqa: E402
from .helpers import wait_for  # noqa: E402 (test_browse_gui and others import it from here too)

WELDCOR = "5f0c7a4e-2b1d-4c7e-9a55-3e2f1d0c9b88"



def open_window(qtbot, loop) -> MainWindow:
    w = MainWindow(Context.from_settings(load_settings()))
    qtbot.addWidget(w)
    w.show()
    wait_for(loop, lambda: w.tenant_table.rowCount() > 0, what="organizations to load")
    return w


def select_tenant(w: MainWindow, loop, org: str) -> None:
    for r in range(w.tenant_table.rowCount()):
        if w.tenant_table.item(r, 0).data(0x0100)["id"] == org:
            w.tenant_table.selectRow(r)
            break
    wait_for(loop, lambda: (w.selected_tenant() or {}).get("id") == org and org[-4:] in w.backups_title.text()
             or w.selected_tenant()["name"] in w.backups_title.text(), what="tenant selection")


def test_create_manual_backup_shows_in_list_and_history(qtbot, loop, odd_db, env):
    env(odd_db)
    w = open_window(qtbot, loop)
    names = {w.tenant_table.item(r, 1).text() for r in range(w.tenant_table.rowCount())}
    assert {"Acme Welding", "Gone Ltd"} <= names
    select_tenant(w, loop, ORG_A)
    assert w.backup_table.rowCount() == 0
    # never backed up: the picker flags it
    row = next(r for r in range(w.tenant_table.rowCount()) if w.tenant_table.item(r, 4).text() == ORG_A)
    assert "26 hours" in w.tenant_table.item(row, 0).toolTip()
    w.act_backup.trigger()
    wait_for(loop, lambda: w.backup_table.rowCount() == 1, what="the new backup in the list")
    assert w.backup_table.item(0, 2).text() == "manual" and w.backup_table.item(0, 5).text() == "complete"
    wait_for(loop, lambda: w.history_table.rowCount() >= 1 and w.history_table.item(0, 2).text() == "completed",
             what="the history row")
    assert w.history_table.item(0, 1).text() == "manual"
    assert not w.errors
    # the warning mark is gone now that a backup succeeded
    row = next(r for r in range(w.tenant_table.rowCount()) if w.tenant_table.item(r, 4).text() == ORG_A)
    assert w.tenant_table.item(row, 0).toolTip() == ""


def test_search_filters_the_tenant_picker(qtbot, loop, odd_db, env):
    env(odd_db)
    w = open_window(qtbot, loop)
    w.search.setText("côté")  # typed text arrives through textChanged, as from the keyboard
    visible = [w.tenant_table.item(r, 1).text() for r in range(w.tenant_table.rowCount())
               if not w.tenant_table.isRowHidden(r)]
    assert visible == ['Côté & "Fils"']
    w.search.setText(ORG_A[-6:])
    visible = [w.tenant_table.item(r, 4).text() for r in range(w.tenant_table.rowCount())
               if not w.tenant_table.isRowHidden(r)]
    assert visible == [ORG_A]


def test_a_failure_shows_a_dialog_and_the_window_stays_usable(qtbot, loop, odd_db, env):
    store = env(odd_db)
    (store / "tenant-backups").mkdir(parents=True)
    (store / "tenant-backups" / ORG_B).write_text("in the way")  # this tenant's backups cannot be written
    w = open_window(qtbot, loop)
    select_tenant(w, loop, ORG_B)
    w.act_backup.trigger()
    # One wait for both: the history's refresh is started as the dialog opens, and a test loop
    # stopped at that moment (qasync's run_until_complete) would leave the refresh unstarted.
    wait_for(loop, lambda: w.errors and w.history_table.rowCount() >= 1
             and w.history_table.item(0, 2).text() == "failed", what="the error dialog and the failed history row")
    box = w.errors[0]
    assert isinstance(box, QMessageBox) and box.isVisible() and "failed" in box.windowTitle()
    assert "Traceback" not in box.text()
    assert w.history_table.item(0, 2).foreground().color().name() == "#b00020"  # failures stand out
    w.history_table.doubleClicked.emit(w.history_table.model().index(0, 0))  # … and open their detail
    detail = w.errors[-1]
    assert "failed" in detail.text() and "tenant-backups" in detail.detailedText()
    w.hist_status.setCurrentText("completed")  # the filter hides it
    wait_for(loop, lambda: w.history_table.rowCount() == 0, what="the status filter")
    # still usable: another tenant backs up fine
    select_tenant(w, loop, ORG_A)
    w.act_backup.trigger()
    wait_for(loop, lambda: w.backup_table.rowCount() == 1, what="a backup of another tenant")


def test_cancel_stops_a_backup_and_leaves_no_complete_looking_backup(qtbot, loop, demo_db, env):
    store = env(demo_db)
    import psycopg
    with psycopg.connect(demo_db) as c:  # enough rows that the backup is still running when we click
        c.execute("insert into bottle_scans (organization_id, scanned_at) select %s, now() "
                  "from generate_series(1, 600000)", [WELDCOR])
    w = open_window(qtbot, loop)
    select_tenant(w, loop, WELDCOR)
    w.act_backup.trigger()
    wait_for(loop, lambda: w.runner.rows and "rows" in w.runner.rows[0].detail.text(), what="the backup to start")
    w.runner.rows[0].cancel.click()
    wait_for(loop, lambda: not w.runner.rows, what="the job to end")
    assert not list(store.rglob("summary-*.json")) and not list(store.rglob("*.gz"))
    wait_for(loop, lambda: w.history_table.rowCount() >= 1 and w.history_table.item(0, 2).text() == "cancelled",
             what="the cancelled history row")


def test_jobs_of_one_tenant_queue_and_different_tenants_run_side_by_side(qtbot, loop, odd_db, env):
    env(odd_db)
    w = open_window(qtbot, loop)
    select_tenant(w, loop, ORG_A)
    w.act_backup.trigger()
    w.act_backup.trigger()  # queued behind the first, not refused by the tenant lock
    w.runner.submit(ORG_B, "Backup of B", lambda on_event: __import__(
        "tenant_backup_gui.services.backup", fromlist=["BackupJob"]).BackupJob(w.ctx, ORG_B, on_event=on_event))
    assert len(w.runner.rows) == 3
    wait_for(loop, lambda: not w.runner.busy(), what="all jobs")
    assert not w.errors
    from tenant_backup_gui.services.inventory import history
    rows = sorted(history(w.ctx, ORG_A), key=lambda r: r["started_at"])
    assert [r["status"] for r in rows] == ["completed", "completed"]
    assert rows[1]["started_at"] >= rows[0]["completed_at"]  # one at a time for one tenant
    assert history(w.ctx, ORG_B)[0]["status"] == "completed"


def open_restore_wizard(qtbot, loop, org: str):
    """The window on `org`, its newest backup selected, the restore wizard open."""
    w = open_window(qtbot, loop)
    select_tenant(w, loop, org)
    w.backup_table.selectRow(0)
    w.act_restore.trigger()
    qtbot.addWidget(w.wizard)
    return w, w.wizard


def test_restore_wizard_dry_run_gate_confirm_apply_and_undo(qtbot, loop, odd_db, env):
    import psycopg
    from PySide6.QtWidgets import QWizard
    from tenant_backup_gui.gui.restore_wizard import PAGE_APPLY, PAGE_CONFIRM, PAGE_DRY_RUN, PAGE_OPTIONS, PAGE_RESULT
    from .conftest import cli_json
    env(odd_db)
    first = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db) as c:
        c.execute("delete from big_table where organization_id = %s and id <= 10", [ORG_A])
    w, wiz = open_restore_wizard(qtbot, loop, ORG_A)
    nxt = lambda: wiz.button(QWizard.NextButton)
    assert wiz.currentId() == 0 and nxt().isEnabled()
    wiz.next()
    assert wiz.currentId() == PAGE_OPTIONS
    wiz.next()
    assert wiz.currentId() == PAGE_DRY_RUN
    assert not nxt().isEnabled()  # not before the dry run has passed
    wait_for(loop, lambda: wiz.plan is not None, what="the dry run")
    assert nxt().isEnabled()
    page = wiz.page(PAGE_DRY_RUN)
    rows = {page.table.item(r, 0).text(): page.table.item(r, 3).text() for r in range(page.table.rowCount())}
    assert rows["big_table"] == "10"  # ten rows to insert back
    # changing a choice throws the dry run away
    wiz.back()
    opts = wiz.page(PAGE_OPTIONS)
    opts.missing.setChecked(True)
    assert wiz.plan is None
    wiz.next()
    assert not nxt().isEnabled()
    wait_for(loop, lambda: wiz.plan is not None, what="the second dry run")
    assert wiz.plan.tables["big_table"].to_insert == 10
    wiz.next()
    assert wiz.currentId() == PAGE_CONFIRM and not nxt().isEnabled()
    confirm = wiz.page(PAGE_CONFIRM)
    confirm.name.setText("Acme")
    assert not nxt().isEnabled() and "does not match" in confirm.hint.text()
    assert "safety backup" in confirm.text.text()
    confirm.name.setText("Acme Welding")
    assert nxt().isEnabled()
    wiz.next()
    assert wiz.currentId() == PAGE_APPLY
    wait_for(loop, lambda: wiz.currentId() == PAGE_RESULT, what="the apply")
    result = wiz.result
    assert result and result.safety_backup_id and result.tables["big_table"].restored == 10
    assert result.safety_backup_id in wiz.page(PAGE_RESULT).text.text()
    assert wiz.page(PAGE_RESULT).text.text().startswith("Restored 10 rows in ")
    assert "big_table: 10 rows" in wiz.page(PAGE_RESULT).rows.toPlainText()
    with psycopg.connect(odd_db) as c:
        assert c.execute("select count(*) from big_table where organization_id = %s", [ORG_A]).fetchone()[0] == 1500
    # Undo: the same wizard, on the safety backup
    wiz.page(PAGE_RESULT).undo.click()
    wait_for(loop, lambda: w.wizard is not wiz, what="the undo wizard")
    undo = w.wizard
    qtbot.addWidget(undo)
    assert undo.backup.id == result.safety_backup_id and undo.backup.type == "safety"
    undo.next()
    undo.next()
    wait_for(loop, lambda: undo.plan is not None, what="the undo dry run")
    undo.next()
    undo.page(PAGE_CONFIRM).name.setText("Acme Welding")
    undo.next()
    wait_for(loop, lambda: undo.currentId() == PAGE_RESULT, what="the undo apply")
    assert undo.result is not None
    import re  # one number format: "Restored 1,517 rows", never "1517 records"
    assert re.match(r"Restored \d{1,3}(,\d{3})+ rows in \d+ tables", undo.page(PAGE_RESULT).text.text())
    assert "big_table: 1,490 rows" in undo.page(PAGE_RESULT).rows.toPlainText()
    with psycopg.connect(odd_db) as c:  # back to the state before the restore: ten rows missing
        assert c.execute("select count(*) from big_table where organization_id = %s", [ORG_A]).fetchone()[0] == 1490
    assert first["id"]


def test_first_start_opens_settings_and_secrets_go_to_the_keyring(qtbot, loop, odd_db, monkeypatch, tmp_path,
                                                                  file_keyring):
    from tenant_backup_gui.gui.settings_dialog import SettingsDialog
    from .conftest import run_cli
    monkeypatch.delenv("TENANT_BACKUP_DATABASE_URL", raising=False)
    monkeypatch.setenv("TENANT_BACKUP_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("TENANT_BACKUP_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text('exclude = ["big_table"]\n')
    w = MainWindow(Context.from_settings(load_settings()))
    qtbot.addWidget(w)
    w.show()
    wait_for(loop, lambda: getattr(w, "settings_dialog", None) is not None and w.settings_dialog.isVisible(),
             what="the settings dialog on first start")
    dlg: SettingsDialog = w.settings_dialog
    assert dlg.demo_button.isVisible() and "not configured" in w.st_conn.full_text()
    # a URL with a password: the dialog splits it, and saving puts the password in the keyring only
    secret_url = odd_db.replace("postgres:@", "postgres:pw-s3cret@")
    dlg.url.setText(secret_url.replace(":pw-s3cret", ""))
    dlg.password.setText("pw-s3cret")
    assert dlg.password.echoMode() == dlg.password.EchoMode.Password
    assert loop.run_until_complete(dlg.test_connection()) and "Connected" in dlg.status.text()
    dlg.save()
    config = (tmp_path / "config.toml").read_text()
    assert "pw-s3cret" not in config and 'exclude = [' in config and "days = 30" in config
    assert "pw-s3cret" in (tmp_path / "keyring.json").read_text()
    wait_for(loop, lambda: w.tenant_table.rowCount() == 3, what="organizations after saving")
    # the CLI finds the same database through the keyring, with nothing in the environment
    env = {k: v for k, v in os.environ.items() if k != "TENANT_BACKUP_DATABASE_URL"}
    import subprocess, sys, json
    cp = subprocess.run([sys.executable, "-m", "tenant_backup_gui", "tenants", "--json"], env=env,
                        capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    assert len(json.loads(cp.stdout)) == 3
    env["TENANT_BACKUP_TEST_KEYRING_LOCKED"] = "1"
    cp = subprocess.run([sys.executable, "-m", "tenant_backup_gui", "tenants"], env=env, capture_output=True, text=True)
    assert cp.returncode == 4 and "keyring is locked" in cp.stderr and len(cp.stderr.strip().splitlines()) == 1


def test_settings_installs_and_removes_the_daily_run(qtbot, loop, odd_db, env, crontab):
    import subprocess
    from PySide6.QtCore import QTime
    env(odd_db)
    w = open_window(qtbot, loop)
    w.open_settings()
    dlg = w.settings_dialog
    wait_for(loop, lambda: "not installed" in dlg.schedule_state.text(), what="the schedule state")
    dlg.at.setTime(QTime(3, 15))
    dlg.install_button.click()
    wait_for(loop, lambda: dlg.schedule_state.text().startswith("installed"), what="the install")
    line = [l for l in subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout.splitlines()
            if "tenant-backup:daily " in l]
    assert len(line) == 1 and "03:15 UTC" in line[0] and " daily >> " in line[0]
    assert "T03:15" in dlg.schedule_state.text()
    dlg.remove_button.click()
    wait_for(loop, lambda: dlg.schedule_state.text().startswith("not installed"), what="the removal")
    assert not [l for l in subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout.splitlines()
                if "tenant-backup:daily" in l]
