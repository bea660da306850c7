"""The wizard's dry run, row by row: clicking a table lists the rows the restore changes (paged,
searchable), clicking a row shows it whole, now and in the backup side by side (issue #21)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from .conftest import ORG_A, cli_json  # noqa: E402
from .test_gui import open_restore_wizard, wait_for  # noqa: E402


def test_the_dry_run_page_shows_each_changed_row_and_its_record(qtbot, loop, odd_db, env):
    import psycopg
    from tenant_backup_gui.gui.restore_wizard import PAGE_DRY_RUN
    env(odd_db)
    cli_json("backup", "--org", ORG_A)
    with psycopg.connect(odd_db) as c:
        c.execute("delete from big_table where organization_id = %s and id <= 150", [ORG_A])
        c.execute("update big_table set payload = 'edited today' where organization_id = %s and id = 151", [ORG_A])
    w, wiz = open_restore_wizard(qtbot, loop, ORG_A)
    wiz.next()
    wiz.next()
    wait_for(loop, lambda: wiz.plan is not None, what="the dry run")
    page = wiz.page(PAGE_DRY_RUN)
    assert page.rows_button.isEnabled()
    row = next(r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() == "big_table")
    page.table.cellDoubleClicked.emit(row, 0)  # the owner double-clicks the table
    dlg = page.rows_dialog
    qtbot.addWidget(dlg)
    assert dlg.current_table() == "big_table"
    kinds = [dlg.rows.item(r, 0).text() for r in range(dlg.rows.rowCount())]
    assert len(kinds) == 100 and dlg.next.isEnabled()  # paged: the first hundred of 151
    assert dlg.rows.item(0, 1).text() == "1"  # in key order
    dlg.next.click()
    assert dlg.rows.rowCount() == 51 and not dlg.next.isEnabled()
    edited = next(r for r in range(dlg.rows.rowCount()) if dlg.rows.item(r, 0).text() == "update")
    assert dlg.rows.item(edited, 1).text() == "151"
    assert "payload: edited today → " in dlg.rows.item(edited, 4).text()
    # The record, whole: now and in the backup, side by side, the changed column marked
    dlg.rows.selectRow(edited)
    rec = {dlg.record.item(r, 0).text(): (dlg.record.item(r, 1).text(), dlg.record.item(r, 2).text())
           for r in range(dlg.record.rowCount())}
    assert rec["payload"][0] == "edited today" and rec["payload"][1] != "edited today"
    assert rec["id"] == ("151", "151")
    # Searchable: one row holds this value
    dlg.search.setText("edited today")
    dlg.search.returnPressed.emit()
    assert dlg.rows.rowCount() == 1 and dlg.rows.item(0, 1).text() == "151"
    # A row the restore puts back has no "now"
    dlg.search.setText("")
    dlg.load(0)
    dlg.rows.selectRow(0)
    assert all(dlg.record.item(r, 1).text() == "" for r in range(dlg.record.rowCount()))
    # The counts say the same
    assert wiz.plan.tables["big_table"].to_insert == 150 and wiz.plan.tables["big_table"].to_update == 1
