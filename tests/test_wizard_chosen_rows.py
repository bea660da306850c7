"""The bad day put right in the window, row by row (issue 21): the owner finds the deleted customers
in the backup's rows, ticks them, reads the dry run's rows (put back, their dependents, their
bottles' links) and applies; today's new customer and edited balance stay. Real widgets offscreen,
the services and the demo database behind."""

from __future__ import annotations

import os

import psycopg
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QWizard  # noqa: E402

from tenant_backup_gui.gui.restore_wizard import PAGE_CONFIRM, PAGE_DRY_RUN, PAGE_OPTIONS, PAGE_RESULT  # noqa: E402

from .conftest import cli_json  # noqa: E402
from .test_gui import open_restore_wizard, wait_for  # noqa: E402
from .test_restore_rows import bad_day  # noqa: E402

NORTHERN = "c0ffee00-1234-4abc-8def-001122334455"


def names_of(db: str, ids) -> dict[str, str]:
    with psycopg.connect(db) as c:
        return dict(c.execute("select id::text, name from customers where id::text = any(%s)", [list(ids)]))


def the_bad_day(demo_db: str, env) -> dict:
    """A backup of Northern Cylinders, then the bad day; the deleted customers' names, from before."""
    env(demo_db)
    cli_json("backup", "--org", NORTHERN)
    with psycopg.connect(demo_db) as c:
        named = dict(c.execute("select id::text, name from customers where organization_id = %s", [NORTHERN]))
    day = bad_day(demo_db)
    day["names"] = named
    return day


def to_chosen_rows(loop, wiz):
    wiz.next()
    opts = wiz.page(PAGE_OPTIONS)
    assert wiz.currentId() == PAGE_OPTIONS
    opts.chosen.setChecked(True)
    picker = opts.picker
    assert picker.isVisible() and not opts.tables.isVisible() and not opts.files.isVisible()
    assert not wiz.button(QWizard.NextButton).isEnabled() and picker.count.text() == "Tick at least one row"
    # It fits a 1280 px wide screen, the unsigned-backup tick (wrapped) included.
    assert wiz.width() <= 1280 and wiz.minimumSizeHint().width() <= 1280 and opts.trust.sizeHint().width() < 1000
    picker.select_table("customers")
    wait_for(loop, lambda: picker.pager.table == "customers" and not picker.busy()
             and picker.pager.rows.rowCount() > 0, what="the backup's customers")
    return opts, picker


def find_and_tick(loop, picker, name: str, key: str) -> None:
    """Search the backup's customers for `name`, tick the row whose key is `key`."""
    pager = picker.pager
    pager.search.setText(name)
    pager.search.returnPressed.emit()
    wait_for(loop, lambda: not picker.busy() and "holding" in picker.status.text(), what=f"the search for {name}")
    keys = [pager.rows.item(r, 0).text() for r in range(pager.rows.rowCount())]
    assert key in keys, (name, keys)
    pager.tick(keys.index(key))


def rows_of(dlg, table: str) -> list[tuple[str, str, str]]:
    """(change, key, why) of every row the dry run lists for `table` (all pages)."""
    dlg.table.setCurrentIndex(dlg.table.findData(table))
    out = []
    dlg.load(0)
    while True:
        out += [(dlg.rows.item(r, 0).text(), dlg.rows.item(r, 1).text(), dlg.rows.item(r, 3).text())
                for r in range(dlg.rows.rowCount())]
        if not dlg.next.isEnabled():
            return out
        dlg.next.click()


def test_the_owner_ticks_two_deleted_customers_and_gets_them_back_with_their_rows(qtbot, loop, demo_db, env):
    day = the_bad_day(demo_db, env)
    one, two = sorted(day["gone"])[:2]
    w, wiz = open_restore_wizard(qtbot, loop, NORTHERN)
    opts, picker = to_chosen_rows(loop, wiz)
    find_and_tick(loop, picker, day["names"][one], one)
    assert picker.count.text() == "1 row chosen" and wiz.button(QWizard.NextButton).isEnabled()
    # The second one by the keyboard: search, select its row, Space.
    pager = picker.pager
    pager.search.setText(day["names"][two])
    pager.search.returnPressed.emit()
    wait_for(loop, lambda: not picker.busy() and day["names"][two] in picker.status.text(), what="the second search")
    row = [pager.rows.item(r, 0).text() for r in range(pager.rows.rowCount())].index(two)
    pager.rows.setFocus()
    pager.rows.selectRow(row)
    qtbot.keyClick(pager.rows, Qt.Key_Space)
    assert picker.count.text() == "2 rows chosen"
    # The ticks are remembered across searches and tables.
    picker.select_table("rentals")
    wait_for(loop, lambda: pager.table == "rentals" and not picker.busy(), what="the rentals")
    picker.select_table("customers")
    wait_for(loop, lambda: pager.table == "customers" and not picker.busy(), what="the customers again")
    find_and_tick(loop, picker, day["names"][one], one)  # ticking it again changes nothing
    item = next(pager.rows.item(r, 0) for r in range(pager.rows.rowCount()) if pager.rows.item(r, 0).text() == one)
    assert item.checkState() == Qt.Checked and picker.count.text() == "2 rows chosen"
    assert "✓ 2" in picker.tables.item(next(r for r in range(picker.tables.rowCount())
                                             if picker.tables.item(r, 0).data(Qt.UserRole) == "customers"), 0).text()
    options = opts.options()
    assert (options.mode, set(options.rows), options.with_dependents, options.overwrite, options.relink,
            options.files) == ("rows", {("customers", (one,)), ("customers", (two,))}, True, False, True, "none")
    wiz.next()
    assert wiz.currentId() == PAGE_DRY_RUN
    wait_for(loop, lambda: wiz.plan is not None or "failed" in wiz.page(PAGE_DRY_RUN).status.text(), timeout=60,
             what="the dry run")
    page = wiz.page(PAGE_DRY_RUN)
    assert wiz.plan is not None, page.status.text() + page.notes.toPlainText()
    assert page.verdict.text().startswith("Will put back") and "relink" in page.verdict.text()
    assert page.tradeoff.text().startswith("2 rows chosen, with the rows that depend on them; no conflicts; links "
                                           "cleared by the deletions put back: ")
    with psycopg.connect(demo_db) as c:
        their_bottles = {r[0] for r in c.execute(
            "select id::text from bottles where id::text = any(%s) and organization_id = %s", [list(day["bottles"]),
                                                                                             NORTHERN])}
    dlg = page.show_rows("customers")
    qtbot.addWidget(dlg)
    customers = rows_of(dlg, "customers")
    assert {(k, key) for k, key, why in customers if why == "chosen"} == {("insert", one), ("insert", two)}
    parents = {key for k, key, why in customers if why != "chosen"}  # deleted customers a dependent row needs
    assert parents <= day["gone"] and all(why == "a parent a restored row needs" for *_, why in customers
                                          if why != "chosen")
    rentals = rows_of(dlg, "rentals")
    assert rentals and {(k, why) for k, _, why in rentals} == {("insert", "depends on a chosen row")}
    bottles = rows_of(dlg, "bottles")
    assert bottles and {k for k, _, _ in bottles} == {"relink"} and {b for _, b, _ in bottles} <= their_bottles
    assert wiz.plan.tables["bottles"].relinked == len(bottles)
    assert wiz.plan.tables["customers"].to_insert == 2 + len(parents) and not wiz.plan.changes[2]  # none deleted
    dlg.close()
    wiz.next()
    confirm = wiz.page(PAGE_CONFIRM)
    assert "Put back 2 chosen rows (and the rows that depend on them) of" in confirm.text.text()
    confirm.name.setText("Northern Cylinders")
    wiz.next()
    wait_for(loop, lambda: wiz.currentId() == PAGE_RESULT, timeout=60, what="the apply")
    assert wiz.result is not None, wiz.error
    assert f"relinked {len(bottles)}" in wiz.page(PAGE_RESULT).text.text()
    wait_for(loop, lambda: "done" in w.st_message.text(), what="the status bar")
    assert f"relinked {len(bottles)}" in w.st_message.text()
    with psycopg.connect(demo_db) as c:
        back = {r[0] for r in c.execute("select id::text from customers where id::text = any(%s)",
                                        [sorted(day["gone"])])}
        assert back == {one, two} | parents  # the others not chosen (nor needed) are still gone
        assert c.execute("select count(*) from customers where id = %s", [day["new"]]).fetchone()[0] == 1
        assert c.execute("select balance::text from customers where id = %s", [day["edited"]]).fetchone()[0] == "1234.56"
        linked = {r[0] for r in c.execute("select id::text from bottles where assigned_customer::text = any(%s)",
                                          [[one, two]])}
        assert linked == {b for _, b, _ in bottles}
        rentals_back = c.execute("select count(*) from rentals where customer_id::text = any(%s)", [[one, two]])
        assert rentals_back.fetchone()[0] == len(rentals)


def test_a_conflict_is_shown_and_kept_unless_overwrite_is_ticked(qtbot, loop, demo_db, env):
    day = the_bad_day(demo_db, env)
    one = sorted(day["gone"])[0]
    w, wiz = open_restore_wizard(qtbot, loop, NORTHERN)
    opts, picker = to_chosen_rows(loop, wiz)
    find_and_tick(loop, picker, day["names"][one], one)
    find_and_tick(loop, picker, day["names"][day["edited"]], day["edited"])
    picker.dependents.setChecked(False)
    assert not picker.overwrite.isChecked() and "conflict" in picker.overwrite_why.text()
    wiz.next()
    wait_for(loop, lambda: wiz.plan is not None or "failed" in wiz.page(PAGE_DRY_RUN).status.text(), timeout=60,
             what="the dry run")
    page = wiz.page(PAGE_DRY_RUN)
    assert wiz.plan is not None, page.status.text()
    assert "conflicts, left as they are" in page.verdict.text()
    assert "conflicts (rows that exist now and differ), kept as they are: 1;" in page.tradeoff.text()
    assert page.table.horizontalHeaderItem(7).text() == "Conflicts (kept)"
    dlg = page.show_rows("customers")
    qtbot.addWidget(dlg)
    assert sorted(rows_of(dlg, "customers")) == sorted([("insert", one, "chosen"),
                                                        ("conflict", day["edited"], "chosen")])
    conflict = next(r for r in range(dlg.rows.rowCount()) if dlg.rows.item(r, 0).text() == "conflict")
    assert "balance: 1234.56 → " in dlg.rows.item(conflict, 4).text()
    dlg.close()
    # Ticking Overwrite throws the dry run away, as every other choice does.
    wiz.back()
    picker.overwrite.setChecked(True)
    assert wiz.plan is None
    picker.overwrite.setChecked(False)
    wiz.next()
    wait_for(loop, lambda: wiz.plan is not None, timeout=60, what="the dry run again")
    wiz.next()
    wiz.page(PAGE_CONFIRM).name.setText("Northern Cylinders")
    wiz.next()
    wait_for(loop, lambda: wiz.currentId() == PAGE_RESULT, timeout=60, what="the apply")
    assert wiz.result is not None, wiz.error
    with psycopg.connect(demo_db) as c:
        assert c.execute("select balance::text from customers where id = %s", [day["edited"]]).fetchone()[0] == "1234.56"
        assert c.execute("select count(*) from customers where id = %s", [one]).fetchone()[0] == 1


def test_missing_rows_only_says_its_trade_off_and_puts_links_back_unless_unticked(qtbot, loop, demo_db, env):
    day = the_bad_day(demo_db, env)
    w, wiz = open_restore_wizard(qtbot, loop, NORTHERN)
    wiz.next()
    opts = wiz.page(PAGE_OPTIONS)
    assert not opts.relink.isVisible()  # Replace: every link is the backup's anyway
    opts.missing.setChecked(True)
    assert opts.relink.isVisible() and opts.relink.isChecked()
    wiz.next()
    wait_for(loop, lambda: wiz.plan is not None, timeout=60, what="the missing-only dry run")
    page = wiz.page(PAGE_DRY_RUN)
    n = len(day["bottles"])
    assert page.tradeoff.text() == ("Missing rows only keeps today's work: rows that differ from the backup stay as "
                                    f"they are now: 2; links cleared by the deletions put back: {n}.")
    dlg = page.show_rows("bottles")
    qtbot.addWidget(dlg)
    assert {k for k, _, _ in rows_of(dlg, "bottles")} == {"relink"}
    assert {k for k, _, _ in rows_of(dlg, "customers")} == {"insert", "left different"}
    dlg.close()
    wiz.back()
    opts.relink.setChecked(False)  # the owner leaves the links as they are: the dry run is thrown away
    assert wiz.plan is None and opts.options().relink is False
    wiz.next()
    wait_for(loop, lambda: wiz.plan is not None, timeout=60, what="the dry run without links")
    assert "stay cleared" in page.tradeoff.text() and wiz.plan.relinked == 0
    assert wiz.plan.tables["bottles"].left_different == n


def test_only_the_rows_deleted_since_the_backup_are_shown_to_tick(qtbot, loop, demo_db, env):
    """The bad day's question — which of last night's customers are gone now? — answered in the
    picker: the diff against now lists exactly the 18, the owner ticks them all and they come back."""
    day = the_bad_day(demo_db, env)
    w, wiz = open_restore_wizard(qtbot, loop, NORTHERN)
    opts, picker = to_chosen_rows(loop, wiz)
    picker.deleted_only.setChecked(True)
    pager = picker.pager
    wait_for(loop, lambda: not picker.busy() and "deleted since the backup" in picker.status.text(),
             what="the customers deleted since")
    keys = [pager.rows.item(r, 0).text() for r in range(pager.rows.rowCount())]
    assert set(keys) == day["gone"] and day["new"] not in keys and day["edited"] not in keys
    name = day["names"][sorted(day["gone"])[0]]
    pager.search.setText(name)
    pager.search.returnPressed.emit()
    assert all(name in pager.rows.item(r, 1).text() for r in range(pager.rows.rowCount()))
    pager.search.setText("")
    pager.search.returnPressed.emit()
    for r in range(pager.rows.rowCount()):
        pager.tick(r)
    assert picker.count.text() == "18 rows chosen"
    picker.deleted_only.setChecked(False)  # the whole table again: the 18 stay ticked
    wait_for(loop, lambda: not picker.busy() and "deleted since" not in picker.status.text(), what="all customers")
    assert picker.count.text() == "18 rows chosen"
    assert {k for _t, (k,) in opts.options().rows} == day["gone"]
