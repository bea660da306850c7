"""The window on the bad day (issue 11): restore reachable in one click, impossible to misread.
Real widgets offscreen, the services and PostgreSQL behind."""

from __future__ import annotations

import re

import psycopg
import pytest
from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMessageBox, QWizard

from tenant_backup_gui.gui.main_window import MainWindow
from tenant_backup_gui.gui.restore_wizard import PAGE_CONFIRM, PAGE_DRY_RUN, PAGE_OPTIONS, PAGE_RESULT
from tenant_backup_gui.platform.settings import load_settings
from tenant_backup_gui.services.context import Context

from .conftest import LEGACY_ORG, ORG_A, ORG_B, cli_json, run_cli
from .test_files import files, seed  # noqa: F401 - files: the Storage stack fixture
from .test_gui import open_restore_wizard, open_window, select_tenant, wait_for
from .test_partial import TS, write_truncated_legacy_backup

UNGROUPED = re.compile(r"(?<![\d,.\-T:])\d{4,}(?![\d,\-T:])")  # 8120, not 8,120 nor an id or a date


def visible_texts(table, col):
    return [table.item(r, col).text() for r in range(table.rowCount()) if not table.isRowHidden(r)]


def to_dry_run(loop, wiz):
    while wiz.currentId() < PAGE_DRY_RUN:
        wiz.next()
    assert wiz.currentId() == PAGE_DRY_RUN
    wait_for(loop, lambda: wiz.plan is not None or "failed" in wiz.page(PAGE_DRY_RUN).status.text(),
             what="the dry run")
    return wiz.page(PAGE_DRY_RUN)


def test_restore_starts_from_the_organization_alone_and_names_its_final_button(qtbot, loop, odd_db, env):
    env(odd_db)
    cli_json("backup", "--org", ORG_A)
    newest = cli_json("backup", "--org", ORG_A)["backup"]["id"]
    with psycopg.connect(odd_db) as c:
        c.execute("delete from big_table where organization_id = %s and id <= 10", [ORG_A])
    w = open_window(qtbot, loop)
    select_tenant(w, loop, ORG_A)
    wait_for(loop, lambda: w.backup_table.rowCount() == 2, what="the backups")
    assert w.backup_table.currentRow() < 0  # the owner picked the organization, no backup row
    assert w.act_restore.isEnabled()  # … and can start (Ctrl+R too)
    assert w.act_restore.shortcut() == QKeySequence("Ctrl+R")
    w.act_restore.trigger()
    wiz = w.wizard
    qtbot.addWidget(wiz)
    assert wiz.backup.id == newest and newest in wiz.page(0).list.currentItem().toolTip()
    # every page has the same header: a title and a subtitle
    for pid in wiz.pageIds():
        assert wiz.page(pid).title() and wiz.page(pid).subTitle(), pid
    page = to_dry_run(loop, wiz)
    assert page.verdict.text() == "Will insert 10 rows."  # above the table, in plain words
    assert page.verdict.y() < page.table.y()
    assert page.table.item(0, 0).text() == "big_table" and page.table.item(0, 3).font().bold()  # changes first
    for label in (page.status, page.verdict):
        assert not UNGROUPED.search(label.text()), label.text()  # "1,500", never "1500"
    wiz.back()
    wiz.page(PAGE_OPTIONS).missing.setChecked(True)
    page = to_dry_run(loop, wiz)
    assert page.verdict.text() == "Will put back 10 rows deleted since the backup and change nothing else."
    wiz.next()
    assert wiz.currentId() == PAGE_CONFIRM
    nxt = wiz.button(QWizard.NextButton)
    assert nxt.text() == "Restore Acme Welding" and "#b00020" in nxt.styleSheet()  # named and red
    assert not nxt.isEnabled()
    wiz.page(PAGE_CONFIRM).name.setText("Acme Welding")
    assert nxt.isEnabled()
    wiz.back()
    assert wiz.button(QWizard.NextButton).styleSheet() == ""  # only the final action is destructive
    # history: the dry run shows no "0 B" and says what it was
    w.hist_type.setCurrentText("dry_run")
    wait_for(loop, lambda: w.history_table.rowCount() == 2 and set(visible_texts(w.history_table, 1)) == {"dry_run"},
             what="the dry-run history rows")
    assert w.history_table.item(0, 4).text() == ""
    assert newest in w.history_table.item(0, 7).text() and "missing-only" in w.history_table.item(0, 7).text()
    w.hist_type.setCurrentText("manual")
    wait_for(loop, lambda: w.history_table.rowCount() == 2 and w.history_table.item(0, 1).text() == "manual",
             what="the backup history rows")
    assert w.history_table.item(0, 4).text().endswith("KiB")  # a backup's size means something
    assert w.history_table.item(0, 7).text().startswith("warning: ")  # the job's own warnings, not an empty cell


def test_states_read_the_same_as_the_cli_and_numbers_are_grouped(qtbot, loop, odd_db, env):
    env(odd_db)
    cli_json("backup", "--org", ORG_A)
    cli_text = run_cli("backups", "--org", ORG_A, check=True).stdout
    w = open_window(qtbot, loop)
    select_tenant(w, loop, ORG_A)
    wait_for(loop, lambda: w.backup_table.rowCount() == 1, what="the backup")
    state = w.backup_table.item(0, 5).text()
    assert state == "complete" and cli_text.rstrip().endswith(state)
    records = w.backup_table.item(0, 3).text()
    assert re.fullmatch(r"\d{1,3}(,\d{3})+", records), records  # locale grouping, like the wizard


def test_selection_starts_on_who_needs_attention_and_statuses_fit(qtbot, loop, odd_db, env):
    store = env(odd_db)
    cli_json("backup", "--org", ORG_A)  # Acme, first by name, is fine
    w = open_window(qtbot, loop)
    assert w.selected_tenant()["id"] == ORG_B  # Côté was never backed up: it needs attention
    status = dict(zip(visible_texts(w.tenant_table, 1), visible_texts(w.tenant_table, 3)))
    assert status == {"Acme Welding": "ok", 'Côté & "Fils"': "never backed up", "Gone Ltd": "deleted"}
    w.close()
    (store / "tenant-backups").mkdir(parents=True, exist_ok=True)
    (store / "tenant-backups" / ORG_B).write_text("in the way")
    assert run_cli("backup", "--org", ORG_B).returncode != 0
    with psycopg.connect(odd_db) as c:
        c.execute("update backup_logs set completed_at = now() - interval '31 hours 10 minutes', "
                  "started_at = now() - interval '31 hours 11 minutes' where organization_id = %s", [ORG_A])
        failed_on = c.execute("select started_at from backup_logs where organization_id = %s", [ORG_B]).fetchone()[0]
    w = open_window(qtbot, loop)
    w.resize(1100, 700)
    status = dict(zip(visible_texts(w.tenant_table, 1), visible_texts(w.tenant_table, 3)))
    assert status["Acme Welding"] == "stale: 31 h"
    assert status['Côté & "Fils"'] == f"failed {failed_on.astimezone():%Y-%m-%d}"
    assert w.selected_tenant()["id"] == ORG_A  # the first active one needing attention
    loop.run_until_complete(__import__("asyncio").sleep(0.2))
    t = w.tenant_table
    assert not t.horizontalScrollBar().isVisible()
    fm = t.fontMetrics()
    for r in range(t.rowCount()):  # every status fits its column
        assert fm.horizontalAdvance(t.item(r, 3).text()) <= t.columnWidth(3), t.item(r, 3).text()


def test_the_status_bar_shows_the_last_job_message_in_full(qtbot, loop, odd_db, env):
    env(odd_db)
    w = open_window(qtbot, loop)
    w.resize(900, 600)
    select_tenant(w, loop, ORG_A)
    w.act_backup.trigger()
    wait_for(loop, lambda: "Backup of Acme Welding: done" in w.st_message.text(), what="the job's message")
    loop.run_until_complete(__import__("asyncio").sleep(0.2))
    msg = w.st_message
    assert msg.isVisible() and msg.fontMetrics().horizontalAdvance(msg.text()) <= msg.width()
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z", msg.text())  # the backup's id, not "Backu"
    assert w.st_conn.full_text().startswith("Database:") and "…" in w.st_conn.text()  # the connection gives way
    assert w.st_conn.toolTip() == w.st_conn.full_text()


def test_a_partial_backup_is_marked_and_replace_needs_a_tick_naming_the_deletions(qtbot, loop, legacy_db, env):
    store = env(legacy_db)
    write_truncated_legacy_backup(legacy_db, store)
    w = open_window(qtbot, loop)
    select_tenant(w, loop, LEGACY_ORG)
    wait_for(loop, lambda: w.backup_table.rowCount() == 1, what="the backup")
    state = w.backup_table.item(0, 5)
    assert state.text().startswith("PARTIAL") and "bottles" in state.toolTip()
    w.act_restore.trigger()
    wiz = w.wizard
    qtbot.addWidget(wiz)
    assert "PARTIAL" in wiz.page(0).list.currentItem().text()
    wiz.next()
    opts = wiz.page(PAGE_OPTIONS)
    assert opts.missing.isChecked() and opts.partial.isVisible()  # told before any dry-run number
    assert opts.trust.isVisible() and not wiz.button(QWizard.NextButton).isEnabled()  # old system: unsigned
    opts.trust.setChecked(True)  # the box that names the risk
    assert "1,000" in opts.partial.text() and "invoice_line_items" in opts.partial.text()
    wiz.next()
    page = wiz.page(PAGE_DRY_RUN)
    wait_for(loop, lambda: wiz.plan is not None, what="the missing-only dry run")
    assert "partial" in page.verdict.text()
    wiz.back()
    opts.replace.setChecked(True)
    page = to_dry_run(loop, wiz)
    assert page.verdict.text().startswith("Will delete 2,600 rows")  # the 2,600 bottles the backup lacks
    assert page.verdict.text().endswith("the backup is partial: consider Missing rows only.")
    wiz.next()
    confirm = wiz.page(PAGE_CONFIRM)
    nxt = wiz.button(QWizard.NextButton)
    assert confirm.accept_partial.isVisible() and "2,600 in bottles" in confirm.accept_partial.text()
    confirm.name.setText("Weldcor Supply")
    assert not nxt.isEnabled()  # the name is not enough for this one
    confirm.accept_partial.setChecked(True)
    assert nxt.isEnabled() and nxt.text() == "Restore Weldcor Supply"
    nxt.click()
    wait_for(loop, lambda: wiz.currentId() == PAGE_RESULT, what="the apply")
    assert wiz.result is not None, wiz.error
    with psycopg.connect(legacy_db) as c:  # what the tick named is what went
        assert c.execute("select count(*) from bottles").fetchone()[0] == 1000


class UrlCatcher(QObject):
    def __init__(self):
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url):
        self.urls.append(url)


@pytest.fixture
def opened_urls():
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    yield catcher.urls
    QDesktopServices.unsetUrlHandler("file")


def test_menu_bar_file_and_help(qtbot, loop, odd_db, env, opened_urls):
    store = env(odd_db)
    w = open_window(qtbot, loop)
    menus = {m.title().replace("&", ""): [a for a in m.actions() if not a.isSeparator()]
             for m in (a.menu() for a in w.menuBar().actions())}
    assert [a.text().replace("&", "") for a in menus["File"]] == ["Settings", "Open backup folder", "Open log", "Quit"]
    assert [a.text().replace("&", "") for a in menus["Help"]][-1] == "About Tenant Backup"
    assert w.act_quit.shortcut() == QKeySequence(QKeySequence.Quit) and w.act_quit.menuRole() == QAction.QuitRole
    assert w.act_settings.menuRole() == QAction.PreferencesRole and w.act_about.menuRole() == QAction.AboutRole
    store.mkdir(parents=True, exist_ok=True)
    w.act_open_folder.trigger()
    assert [u.toLocalFile() for u in opened_urls] == [str(store.resolve())]
    w.act_readme.trigger()
    assert opened_urls[-1].toLocalFile().endswith("README.md")
    w.act_about.trigger()
    from tenant_backup_gui import __version__
    assert w.about_box.isVisible() and __version__ in w.about_box.text()
    w.act_doctor.trigger()
    wait_for(loop, lambda: getattr(w, "doctor_box", None) is not None, what="the doctor's results")
    assert "database" in w.doctor_box.text() and "Doctor:" in w.st_message.text()
    w.act_quit.trigger()
    assert not w.isVisible()


def test_closing_the_demo_window_asks_to_stop_the_sandbox(qtbot, qapp, loop, env, tmp_path):
    from tenant_backup_gui.platform.sandbox import sandbox_dir
    from tenant_backup_gui.services import demo
    box = demo.start()
    try:
        env(box.url, store=box.store)
        w = MainWindow(Context.from_settings(load_settings()), demo=True)
        qtbot.addWidget(w)
        w.show()
        wait_for(loop, lambda: w.tenant_table.rowCount() > 0, what="organizations to load")
        w.close()
        q = w.close_question
        assert q is not None and q.isVisible() and w.isVisible()
        assert q.defaultButton().text() == "Stop the sandbox"
        q.button(QMessageBox.Cancel).click()  # changed my mind: nothing happens
        assert w.isVisible() and (sandbox_dir() / "pgdata" / "postmaster.pid").exists()
        w.close()
        qapp.setQuitOnLastWindowClosed(False)  # the test's loop outlives the window (the app's would quit)
        w.close_question.defaultButton().click()  # Enter: the default
        wait_for(loop, lambda: not w.isVisible(), what="the window to close")
        assert not (sandbox_dir() / "pgdata" / "postmaster.pid").exists()
    finally:
        qapp.setQuitOnLastWindowClosed(True)
        demo.stop()


def parts_become_loops(store, org: str) -> None:
    """Every row file of the organization's backups turns into a link to itself: looking at one
    raises OSError (too many levels of symbolic links), an error that is not the tool's own, as
    a disk or a mount gone wrong would."""
    for part in [p for p in (store / "tenant-backups" / org).rglob("*") if p.is_file()
                 and not p.name.startswith("summary-")]:
        part.unlink()
        part.symlink_to(part.name)


def test_an_unexpected_error_never_leaves_the_wizard_stuck(qtbot, loop, odd_db, env):
    """Issue 19: the wizard caught only the tool's own errors; anything else left the dry-run page
    running forever, or the apply page with Back disabled and no way on."""
    from tenant_backup_gui.gui.restore_wizard import PAGE_APPLY
    store = env(odd_db)
    cli_json("backup", "--org", ORG_A)
    w = open_window(qtbot, loop)
    select_tenant(w, loop, ORG_A)
    wait_for(loop, lambda: w.backup_table.rowCount() == 1, what="the backup")
    w.act_restore.trigger()
    wiz = w.wizard
    qtbot.addWidget(wiz)
    to_dry_run(loop, wiz)
    assert wiz.plan is not None
    wiz.next()
    wiz.page(PAGE_CONFIRM).name.setText("Acme Welding")
    parts_become_loops(store, ORG_A)  # after the dry run, before the apply
    wiz.next()
    assert wiz.currentId() == PAGE_APPLY
    wait_for(loop, lambda: wiz.currentId() == PAGE_RESULT, what="the failed apply")
    text = wiz.page(PAGE_RESULT).text.text()
    assert wiz.result is None and "internal error: OSError" in text and text.startswith("Nothing was changed."), text
    wiz.close()
    # A dry run that meets the same error says so and can be run again.
    w.act_restore.trigger()
    wiz = w.wizard
    qtbot.addWidget(wiz)
    page = to_dry_run(loop, wiz)
    assert page.status.text().startswith("The dry run failed: internal error: OSError"), page.status.text()
    assert page.run_button.isEnabled() and wiz.plan is None


def test_a_failed_apply_after_its_uploads_does_not_say_nothing_was_changed(qtbot, loop, files, odd_db):
    """Issue 19: the wizard said "Nothing was changed" of any failed apply, also when files had
    been uploaded before it failed; and the failed restore's history row was written after the
    failure, so its duration left out the staging, the checks and the safety backup."""
    from tenant_backup_gui.core import history as h
    seed(files)
    cli_json("backup", "--org", ORG_A)
    files.api.storage_delete("invoices", [f"{ORG_A}/2026/01/inv 1.pdf"])
    _, wiz = open_restore_wizard(qtbot, loop, ORG_A)
    to_dry_run(loop, wiz)
    assert wiz.plan is not None and wiz.plan.files["to_upload"]
    wiz.next()
    wiz.page(PAGE_CONFIRM).name.setText("Acme Welding")
    files.stack.fail_uploads_to = "invoices"  # Storage refuses the restore's uploads, past every retry
    try:
        wiz.next()
        wait_for(loop, lambda: wiz.currentId() == PAGE_RESULT, timeout=90, what="the failed apply")
    finally:
        files.stack.fail_uploads_to = None
    text = wiz.page(PAGE_RESULT).text.text()
    assert wiz.result is None and "Nothing was changed" not in text, text
    assert text.startswith("Not everything is as before: files may have been uploaded to Storage"), text
    assert "the rows were not changed" in text
    rows = cli_json("history", "--org", ORG_A)
    failed = next(r for r in rows if r["backup_type"] == "restore")
    safety = next(r for r in rows if r["backup_type"] == "safety")
    assert failed["status"] == "failed" and h.started(failed) <= h.started(safety)
    assert h.duration(failed) >= h.duration(safety)
