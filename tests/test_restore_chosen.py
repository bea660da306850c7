"""The bad day, put right row by row (issue #21), over both roads: 18 customers deleted with their
cascades and SET NULL links, today's work added since; restoring just those 18 with their
dependents brings them and every cascaded row back byte-exact, relinks their bottles, and keeps
today's work and every other organization as they are."""

from __future__ import annotations

import psycopg
import pytest

from .conftest import cli_json, run_cli
from .roads import ROADS, road_fixture
from .test_restore_rows import bad_day, history_row

TABLES = ("customers", "rentals", "rental_invoices", "invoice_line_items", "line_item_adjustments", "deliveries",
          "bottles")


@pytest.fixture(params=ROADS)
def demo_road(request, demo_db, env, monkeypatch):
    yield from road_fixture(request, demo_db, env, monkeypatch)


def snapshot(db: str, where: str = "true") -> dict[str, dict[str, str]]:
    """Every row of the cascade's tables, by id, as its text (byte-exact comparison)."""
    out = {}
    with psycopg.connect(db) as c:
        for t in TABLES:
            out[t] = dict(c.execute(f"select id::text, t::text from {t} t where {where}").fetchall())
    return out


def others(db: str, org: str) -> str:
    with psycopg.connect(db) as c:
        rows = c.execute("select string_agg(t::text, E'\\n' order by t::text) from customers t "
                         "where organization_id <> %s", [org]).fetchone()[0]
        return rows + "".join(c.execute(f"select string_agg(t::text, ',' order by t::text) from {t} t "
                                        f"where organization_id <> %s", [org]).fetchone()[0] or ""
                              for t in ("bottles", "rentals"))


def test_the_18_customers_come_back_with_their_dependents_and_nothing_else_changes(demo_road, tmp_path):
    org = next(t["id"] for t in cli_json("tenants") if t["name"].startswith("Northern"))
    before = snapshot(demo_road.db)
    backup = cli_json("backup", "--org", org)["backup"]
    day = bad_day(demo_road.db)
    with psycopg.connect(demo_road.db) as c:  # today's work on a bottle that kept its customer
        kept_bottle = c.execute("update bottles set status = 'lost' where organization_id = %s and assigned_customer "
                                "is not null returning id::text", [org]).fetchone()
    today = snapshot(demo_road.db)
    rows = ["--rows", "customers=" + ",".join(sorted(k.upper() for k in day["gone"]))]  # the owner's paste: any case
    dry = cli_json("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--show-rows", *rows,
                   "--with-dependents")
    assert dry["success"], dry["problems"]
    listed = {(t, r["kind"], r["key"][0]) for t, rs in dry["rows"].items() for r in rs}
    expect = {("customers", "insert", k) for k in day["gone"]}
    expect |= {(t, "insert", k) for t in ("rentals", "rental_invoices", "deliveries") for k in day["deleted"][t]}
    expect |= {("bottles", "relink", k) for k in day["bottles"]}
    gone_items = set(before["invoice_line_items"]) - set(today["invoice_line_items"])
    gone_adj = set(before["line_item_adjustments"]) - set(today["line_item_adjustments"])
    expect |= {("invoice_line_items", "insert", k) for k in gone_items}
    expect |= {("line_item_adjustments", "insert", k) for k in gone_adj}
    assert listed == expect  # exactly those rows: not the new customer, not the edited balance
    why = {r["key"][0]: r.get("why") for r in dry["rows"]["customers"]}
    assert set(why.values()) == {"chosen"}
    assert {r.get("why") for r in dry["rows"]["rentals"]} == {"dependent"}
    s = dry["summary"]
    assert s["deleted"] == 0 and s["updated"] == 0 and s["relinked"] == len(day["bottles"])
    assert s["inserted"] == len(expect) - len(day["bottles"])
    assert f"relink {len(day['bottles'])}" in dry["message"]
    text = run_cli("restore", "--org", org, "--backup", backup["id"], "--dry-run", *rows, "--with-dependents",
                   check=True).stdout
    assert f"and relink {s['relinked']} rows in 7 tables" in text and "(dependent)" not in text
    listing = run_cli("restore", "--org", org, "--backup", backup["id"], "--dry-run", *rows, "--with-dependents",
                      "--show-rows", check=True).stdout
    assert "(dependent)" in listing and "relink" in listing
    done = cli_json("restore", "--org", org, "--backup", backup["id"], "--apply", "--plan", dry["plan_id"], "--yes")
    assert (done["summary"]["inserted"], done["summary"]["relinked"]) == (s["inserted"], s["relinked"])
    after = snapshot(demo_road.db)
    for t in TABLES:  # every row that was deleted is back byte for byte; today's rows as they were
        for k, row in after[t].items():
            if k in today[t] and not (t == "bottles" and k in day["bottles"]):
                assert row == today[t][k], (t, k)
            else:
                assert row == before[t][k], (t, k)
        assert set(after[t]) == set(today[t]) | {k for k in before[t] if k not in today[t]}, t
    assert day["new"] in after["customers"] and "1234.56" in after["customers"][day["edited"]]
    if kept_bottle:
        assert "lost" in after["bottles"][kept_bottle[0]]
    logged = history_row(org, "restore")
    meta = logged["metadata"]
    assert (meta["mode"], meta["chosen_keys"], meta["undo"]) == ("rows", 18, False)
    assert logged["records_backed_up"] == s["inserted"] + s["relinked"]


def test_a_chosen_row_that_exists_and_differs_is_a_conflict_kept_unless_overwrite(demo_road):
    org = next(t["id"] for t in cli_json("tenants") if t["name"].startswith("Northern"))
    backup = cli_json("backup", "--org", org)["backup"]
    day = bad_day(demo_road.db)
    one = sorted(day["gone"])[0]
    rows = ["--rows", f"customers={one},{day['edited']}"]
    dry = cli_json("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--show-rows", *rows)
    kinds = {r["key"][0]: r["kind"] for r in dry["rows"]["customers"]}
    assert kinds == {one: "insert", day["edited"]: "conflict"}
    assert dry["summary"]["left_different"] == 1 and dry["summary"]["updated"] == 0
    conflict = next(r for r in dry["rows"]["customers"] if r["kind"] == "conflict")
    assert [c["column"] for c in conflict["changes"]] == ["balance"]
    other = others(demo_road.db, org)
    cli_json("restore", "--org", org, "--backup", backup["id"], "--apply", "--plan", dry["plan_id"], "--yes")
    with psycopg.connect(demo_road.db) as c:
        assert c.execute("select balance::text from customers where id = %s", [day["edited"]]).fetchone()[0] == "1234.56"
        assert c.execute("select count(*) from customers where id = %s", [one]).fetchone()[0] == 1
    assert others(demo_road.db, org) == other
    dry = cli_json("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--show-rows", *rows, "--overwrite")
    assert {r["key"][0]: r["kind"] for r in dry["rows"]["customers"]} == {day["edited"]: "update"}
    cli_json("restore", "--org", org, "--backup", backup["id"], "--apply", "--plan", dry["plan_id"], "--yes")
    with psycopg.connect(demo_road.db) as c:
        assert c.execute("select balance::text from customers where id = %s", [day["edited"]]).fetchone()[0] != "1234.56"


def test_chosen_rows_refusals_say_what_to_do(demo_road):
    org = next(t["id"] for t in cli_json("tenants") if t["name"].startswith("Northern"))
    backup = cli_json("backup", "--org", org)["backup"]
    cp = run_cli("restore", "--org", org, "--backup", backup["id"], "--dry-run",
                 "--rows", "customers=00000000-0000-4000-8000-000000000000")
    assert cp.returncode != 0 and "has no row" in cp.stderr and "Traceback" not in cp.stderr
    assert len(cp.stderr.strip().splitlines()) == 1
    cp = run_cli("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--rows", "nosuch=1")
    assert cp.returncode != 0 and "nosuch" in cp.stderr and "Traceback" not in cp.stderr
    cp = run_cli("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--rows", "customers")
    assert cp.returncode != 0 and "TABLE=KEY" in cp.stderr
    cp = run_cli("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--rows", "customers=not-a-uuid")
    assert cp.returncode != 0 and "Traceback" not in cp.stderr and "customers" in cp.stderr
    # A plan of chosen rows applies only to those rows: other keys at --apply are refused.
    gone = cli_json("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--mode", "missing-only")
    cp = run_cli("restore", "--org", org, "--backup", backup["id"], "--apply", "--plan", gone["plan_id"],
                 "--rows", "customers=00000000-0000-4000-8000-000000000000", "--yes")
    assert cp.returncode != 0 and "other options" in cp.stderr


def test_a_chosen_row_brings_the_missing_parents_it_needs_and_says_so(demo_road):
    org = next(t["id"] for t in cli_json("tenants") if t["name"].startswith("Northern"))
    backup = cli_json("backup", "--org", org)["backup"]
    day = bad_day(demo_road.db)
    rental = sorted(day["deleted"]["rentals"])[0]
    with psycopg.connect(demo_road.db) as c:
        c.execute("set session_replication_role = replica")
        customer = c.execute("select customer_id::text from rentals where id::text = %s", [rental]).fetchone()
    dry = cli_json("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--show-rows",
                   "--rows", f"rentals={rental}")
    listed = {(t, r["kind"], r["key"][0], r.get("why")) for t, rs in dry["rows"].items() for r in rs}
    parents = {x for x in listed if x[3] == "parent"}
    assert ("rentals", "insert", rental, "chosen") in listed
    assert parents and all(t == "customers" and kind == "insert" for t, kind, _k, _w in parents)
    assert customer is None or len(parents) == 1  # the rental's customer was one of the 18, and nothing else
    assert not any(t in ("rental_invoices", "deliveries") for t, *_ in listed)  # no dependents were asked for
    cli_json("restore", "--org", org, "--backup", backup["id"], "--apply", "--plan", dry["plan_id"], "--yes")
    with psycopg.connect(demo_road.db) as c:
        got = c.execute("select c.id::text from rentals r join customers c on c.id = r.customer_id "
                        "where r.id::text = %s", [rental]).fetchone()
    assert got is not None and ("customers", "insert", got[0], "parent") in listed
