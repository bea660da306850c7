"""The backup browser in the window, for real: double-click a backup, look through its tables and
rows, search, open a record, compare with now and with another backup; nothing freezes, a scan
can be cancelled."""

from __future__ import annotations

import os

import psycopg
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402

from .conftest import ORG_A, cli_json  # noqa: E402
from .test_gui import open_window, select_tenant, wait_for  # noqa: E402


def cells(table, col: int) -> list[str]:
    return [table.item(r, col).text() for r in range(table.rowCount())]


def open_browser(qtbot, loop, w, row: int = 0):
    w.backup_table.selectRow(row)
    w.backup_table.doubleClicked.emit(w.backup_table.model().index(row, 0))
    b = w.browser
    qtbot.addWidget(b)
    wait_for(loop, lambda: b.tables.rowCount() > 0, what="the backup's tables")
    return b


def test_double_click_opens_the_browser_rows_search_record_and_compare(qtbot, loop, odd_db, env):
    env(odd_db)
    first = cli_json("backup", "--org", ORG_A)["backup"]["id"]
    with psycopg.connect(odd_db) as c:
        c.execute("update odd_types set t_text = 'overwritten' where organization_id = %s", [ORG_A])
        c.execute("delete from big_table where organization_id = %s and id %% 2 = 0", [ORG_A])
        ids = [r[0] for r in c.execute("select id from big_table where organization_id = %s order by id", [ORG_A])]
    cli_json("backup", "--org", ORG_A)
    w = open_window(qtbot, loop)
    select_tenant(w, loop, ORG_A)
    wait_for(loop, lambda: w.backup_table.rowCount() == 2, what="the backups")
    b = open_browser(qtbot, loop, w, row=1)  # the older one
    assert b.backup.id == first and "big_table" in cells(b.tables, 0)

    b.select_table("big_table")
    wait_for(loop, lambda: b.rows.rowCount() > 0 and b.table == "big_table" and not b.busy(), what="a page")
    big_rows = b.total
    assert big_rows > len(ids) and "of" in b.page.text()
    keys = [int(k) for k in cells(b.rows, 0)]
    assert keys == sorted(keys) and len(keys) == min(100, b.total)
    b.rows.selectRow(1)
    assert cells(b.record, 0)[:3] == ["id", "organization_id", "payload"]
    assert cells(b.record, 1)[0] == str(keys[1])

    b.select_table("odd_types")
    wait_for(loop, lambda: b.table == "odd_types" and not b.busy() and b.rows.rowCount() > 0, what="odd_types")
    b.search.setText("quick")
    b.search.returnPressed.emit()
    wait_for(loop, lambda: not b.busy() and "holding" in b.status.text(), what="the search")
    assert 0 < b.rows.rowCount() < b.tables.rowCount() + 10

    b.compare("now")
    wait_for(loop, lambda: b.diff is not None, what="the comparison with now")
    assert b.back.isVisible() and "rows now" in b.heading.text()
    b.select_table("odd_types")
    assert set(cells(b.rows, 0)) == {"changed"}
    row = cells(b.record, 0).index("t_text")
    assert b.record.item(row, 2).text() == "overwritten"
    assert b.record.item(row, 1).background().color().name() == "#fff3b0"  # highlighted
    other = cells(b.record, 0).index("organization_id")
    assert b.record.item(other, 1).background().style() == Qt.NoBrush
    b.select_table("big_table")
    assert set(cells(b.rows, 0)) == {"removed"}

    b.leave_compare()
    b.compare(w.backups[0].id)  # "Compare with another backup…": the newer one
    wait_for(loop, lambda: b.diff is not None and b.diff.new == w.backups[0].id, what="backup to backup")
    assert {t.name: t.removed for t in b.diff.tables}["big_table"] == big_rows - len(ids)
    assert not b.errors and not w.errors


def test_a_long_scan_shows_progress_and_can_be_cancelled(qtbot, loop, odd_db, env):
    env(odd_db)
    cli_json("backup", "--org", ORG_A)
    w = open_window(qtbot, loop)
    select_tenant(w, loop, ORG_A)
    wait_for(loop, lambda: w.backup_table.rowCount() == 1, what="the backup")
    b = open_browser(qtbot, loop, w)
    b.compare("now")
    assert b.runner.rows and b.runner.rows[0].cancel.isVisible() or b.runner.rows  # a progress row with Cancel
    b.runner.rows[0].cancel.click()
    wait_for(loop, lambda: not b.busy(), what="the cancelled job to end")
    assert b.diff is None and not b.errors
    b.close()
