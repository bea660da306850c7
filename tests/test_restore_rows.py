"""The bad day, row by row (issue #21), over both roads: the dry run names exactly the rows it
changes, and every report of the restore says the same numbers."""

from __future__ import annotations

import csv
import json

import psycopg
import pytest

from .conftest import cli_json, run_cli
from .roads import ROADS, road_fixture


@pytest.fixture(params=ROADS)
def demo_road(request, demo_db, env, monkeypatch):
    """The demo (Northern Cylinders and its neighbours), reached by either road."""
    yield from road_fixture(request, demo_db, env, monkeypatch)


def bad_day(db: str) -> dict:
    """18 customers deleted with their rentals, invoices (line items, adjustments) and deliveries;
    their bottles lose assigned_customer (as ON DELETE SET NULL would); a customer added and another's
    balance edited. Returns what was done, by key."""
    with psycopg.connect(db) as c:
        org = c.execute("select id::text from organizations where name like 'Northern%'").fetchone()[0]
        gone = [r[0] for r in c.execute(
            "select c.id::text from customers c where organization_id = %s "
            "and exists (select 1 from bottles b where b.assigned_customer = c.id) order by id limit 18", [org])]
        edited = c.execute("select id::text from customers where organization_id = %s and id::text <> all(%s) "
                           "order by id limit 1", [org, gone]).fetchone()[0]
        bottles = [r[0] for r in c.execute("select id::text from bottles where assigned_customer::text = any(%s)",
                                           [gone])]
        c.execute("set session_replication_role = replica")  # the app's audit trigger stays quiet
        c.execute("delete from line_item_adjustments where line_item_id in (select l.id from invoice_line_items l "
                  "join rental_invoices i on i.id = l.invoice_id where i.customer_id::text = any(%s))", [gone])
        c.execute("delete from invoice_line_items where invoice_id in (select id from rental_invoices "
                  "where customer_id::text = any(%s))", [gone])
        deleted = {}
        for t in ("rental_invoices", "rentals", "deliveries"):
            deleted[t] = {r[0] for r in c.execute(f"delete from {t} where customer_id::text = any(%s) "
                                                  f"returning id::text", [gone])}
        c.execute("update bottles set assigned_customer = null where id::text = any(%s)", [bottles])
        c.execute("delete from customers where id::text = any(%s)", [gone])
        new = c.execute("insert into customers (organization_id, name) values (%s, 'Brand New Welding') "
                        "returning id::text", [org]).fetchone()[0]
        c.execute("update customers set balance = 1234.56 where id::text = %s", [edited])
    return {"org": org, "gone": set(gone), "bottles": set(bottles), "new": new, "edited": edited,
            "deleted": deleted}


def history_row(org: str, kind: str) -> dict:
    return next(r for r in cli_json("history", "--org", org) if r.get("backup_type") == kind)


def test_the_dry_run_names_exactly_the_rows_it_changes_and_every_report_agrees(demo_road, tmp_path):
    org = cli_json("tenants")
    org = next(t["id"] for t in org if t["name"].startswith("Northern"))
    backup = cli_json("backup", "--org", org)["backup"]
    day = bad_day(demo_road.db)
    # Replace: the 18 come back (with their children), the new customer goes, the edits revert.
    out = tmp_path / "rows.csv"
    dry = cli_json("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--show-rows",
                   "--csv", str(out))
    rows = dry["rows"]
    kinds = {(t, r["kind"], r["key"][0]) for t, rs in rows.items() for r in rs}
    assert {k for t, kind, k in kinds if t == "customers" and kind == "insert"} == day["gone"]
    assert {k for t, kind, k in kinds if t == "customers" and kind == "delete"} == {day["new"]}
    assert {k for t, kind, k in kinds if t == "customers" and kind == "update"} == {day["edited"]}
    assert {k for t, kind, k in kinds if t == "bottles"} == day["bottles"]
    assert all(kind == "update" for t, kind, k in kinds if t == "bottles")
    for t in ("rentals", "rental_invoices", "deliveries"):
        assert {k for tt, kind, k in kinds if tt == t} == day["deleted"][t], t
    edited = next(r for r in rows["customers"] if r["kind"] == "update")
    assert edited["label"] and [c["column"] for c in edited["changes"]] == ["balance"]
    assert edited["changes"][0]["now"] == "1234.56"
    bottle = rows["bottles"][0]
    assert bottle["changes"] == [{"column": "assigned_customer", "now": None,
                                  "backup": bottle["changes"][0]["backup"]}]
    # The counts are the list's, and only the tables that change are counted as changing.
    for t, doc in dry["tables"].items():
        listed = rows.get(t, [])
        assert doc["to_insert"] == sum(r["kind"] == "insert" for r in listed), t
        assert doc["to_update"] == sum(r["kind"] == "update" for r in listed), t
        assert doc["to_delete"] == sum(r["kind"] == "delete" for r in listed), t
        assert doc["unchanged"] == doc["record_count"] - doc["to_insert"] - doc["to_update"], t
    s = dry["summary"]
    assert s["tables_changed"] == len(rows) < s["total_tables"]
    with out.open(encoding="utf-8-sig") as fh:
        lines = list(csv.DictReader(fh))
    assert {(ln["table"], ln["key"]) for ln in lines} == {(t, r["key"][0]) for t, rs in rows.items() for r in rs}
    text = run_cli("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--show-rows", check=True).stdout
    assert f"update         {day['edited']}" in text and "balance: 1234.56 →" in text
    # Missing rows only: the 18 and their children come back, and the bottles get their customer
    # back (a link cleared by the delete, not today's work); the new customer and the edited balance
    # are left different, and said to be; "unchanged" means equal.
    miss = cli_json("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--mode", "missing-only",
                    "--show-rows")
    b = miss["tables"]["bottles"]
    assert (b["left_different"], b["relinked"]) == (0, len(day["bottles"]))
    assert miss["tables"]["customers"]["left_different"] == 2  # the edited one, and the new one
    assert b["unchanged"] == b["record_count"] - len(day["bottles"])
    relinked = {r["key"][0]: r for r in miss["rows"]["bottles"]}
    assert set(relinked) == day["bottles"] and {r["kind"] for r in relinked.values()} == {"relink"}
    assert [c["column"] for c in next(iter(relinked.values()))["changes"]] == ["assigned_customer"]
    assert miss["summary"]["left_different"] == sum(r["kind"] == "left" for v in miss["rows"].values() for r in v)
    assert miss["summary"]["relinked"] == len(day["bottles"])
    kept = cli_json("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--mode", "missing-only",
                    "--no-relink")  # the owner may leave the links as they are
    assert kept["tables"]["bottles"]["left_different"] == len(day["bottles"]) and kept["summary"]["relinked"] == 0
    # The apply says what it changed, in the dry run's numbers; so does the history.
    done = cli_json("restore", "--org", org, "--backup", backup["id"], "--apply", "--plan", dry["plan_id"], "--yes")
    changed = (s["inserted"], s["updated"], s["deleted"])
    assert (done["summary"]["inserted"], done["summary"]["updated"], done["summary"]["deleted"]) == changed
    assert done["message"].startswith(f"Restored: insert".replace("insert", "inserted"))
    assert f"in {s['tables_changed']} tables" in done["message"] and f"in {s['tables_changed']} tables" in dry["message"]
    logged = history_row(org, "restore")
    assert logged["records_backed_up"] == sum(changed) and logged["tables_count"] == s["tables_changed"]
    meta = logged["metadata"]
    assert (meta["mode"], meta["chosen_keys"], meta["undo"]) == ("replace", 0, False)
    dry_logged = history_row(org, "dry_run")
    assert dry_logged["metadata"]["mode"] == "missing-only"  # the newest dry run: the missing-only one
    with psycopg.connect(demo_road.db) as c:  # nothing of the list is left on the server
        assert c.execute("select count(*) from tenant_backup_row_list").fetchone()[0] == 0
