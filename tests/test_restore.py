"""Restore one tenant on a real PostgreSQL: exact, isolated, atomic, and only through a dry run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from .conftest import LEGACY_ORG, ORG_A, ORG_B, ROOT, cli_json, fingerprint, run_cli
from .helpers import apply, dry_run, load_summary
from .roads import legacy_road, road  # noqa: F401 (fixtures: each test body runs over both roads)

OWN = {"backup_logs", "tenant_backup_meta"}


def everything(url: str) -> dict:
    fp = fingerprint(url)
    return {t: rows for t, rows in fp.items() if t not in OWN}


def damage(url: str, org: str) -> None:
    """The bad day: rows deleted, changed and added across the tenant's tables."""
    with psycopg.connect(url) as c:
        c.execute("delete from order_item_notes where order_item_id in (select i.id from order_items i "
                  "join orders o on o.id = i.order_id where o.organization_id = %s)", [org])
        c.execute("delete from big_table where organization_id = %s and id %% 3 = 0", [org])
        c.execute("update odd_types set t_text = 'overwritten', f_double = 1 where organization_id = %s", [org])
        c.execute("update teams set lead_member_id = null where organization_id = %s", [org])
        c.execute("delete from members where organization_id = %s", [org])
        c.execute("update nodes set parent_id = null where organization_id = %s", [org])
        c.execute("insert into odd_serial (organization_id, label) values (%s, 'added today')", [org])
        c.execute("insert into big_table (organization_id, payload) values (%s, 'added today')", [org])
        c.execute("delete from no_pk_table where organization_id = %s and a = 2", [org])
        c.execute("insert into no_pk_table values (%s, 1, 'dup')", [org])
        c.execute("update unique_only set label = 'changed' where organization_id = %s", [org])


def test_replace_restores_the_tenant_byte_for_byte_and_touches_nobody_else(road):
    odd_db = road.db
    before = everything(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    damage(odd_db, ORG_A)
    damage(odd_db, ORG_B)
    neighbours = {t: r for t, r in everything(odd_db).items()}
    hits = len(neighbours["trigger_hits"])

    plan = dry_run(ORG_A, backup["id"])
    assert plan["success"] is True and plan["plan_id"]
    t = plan["tables"]
    assert t["big_table"]["to_insert"] == 500 and t["big_table"]["to_delete"] == 1
    assert t["big_table"]["current_rows"] == 1001 and t["big_table"]["record_count"] == 1500
    assert t["odd_types"]["to_update"] == t["odd_types"]["record_count"] == 7 and t["odd_types"]["unchanged"] == 0
    assert t["members"]["to_insert"] == 3 and t["order_item_notes"]["to_insert"] == backup["tables"]["order_item_notes"]["record_count"]
    assert t["no_pk_table"]["to_insert"] == 1 and t["no_pk_table"]["to_delete"] == 1
    assert t["organizations"]["to_update"] == 0 and t["organizations"]["unchanged"] == 1
    assert "countries" not in t and "trigger_hits" not in t
    s = plan["summary"]
    assert s["organization_id"] == ORG_A and s["backup_id"] == backup["id"] and s["errors"] == 0
    assert everything(odd_db) == neighbours  # the dry run changed nothing

    done = apply(ORG_A, backup["id"], plan["plan_id"])
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["success"] and result["safety_backup_id"]
    assert result["summary"]["total_records_restored"] == backup["total_records"]

    after = everything(odd_db)
    for table, rows in after.items():
        a_rows = [r for r in rows if ORG_A in r or table in ("order_items", "order_item_notes")]
        if table in ("order_items", "order_item_notes", "trigger_hits", "countries"):
            continue
        assert a_rows == [r for r in before[table] if ORG_A in r], table
    # the neighbour's damage is still there, untouched
    for table in after:
        if table in ("order_items", "order_item_notes", "trigger_hits"):
            continue
        assert [r for r in after[table] if ORG_B in r] == [r for r in neighbours[table] if ORG_B in r], table
    with psycopg.connect(odd_db) as c:
        notes = c.execute("select count(*) from order_item_notes n join order_items i on i.id = n.order_item_id "
                          "join orders o on o.id = i.order_id where o.organization_id = %s", [ORG_A]).fetchone()[0]
        assert notes == backup["tables"]["order_item_notes"]["record_count"]
    assert len(after["trigger_hits"]) == hits  # the app's trigger did not fire
    # the safety backup is listed and holds the damaged state
    listed = cli_json("backups", "--org", ORG_A)
    safety = next(b for b in listed if b["id"] == result["safety_backup_id"])
    assert safety["type"] == "safety" and safety["complete"]
    kinds = [r["backup_type"] for r in cli_json("history", "--org", ORG_A)]
    assert kinds[:3] == ["restore", "safety", "dry_run"]


def test_new_rows_insert_fine_after_a_restore(odd_db, env):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db) as c:  # rows added after the backup push the sequences…
        c.execute("insert into odd_serial (organization_id, label) select %s, 'x' from generate_series(1, 5)", [ORG_A])
        c.execute("delete from odd_serial where organization_id = %s", [ORG_A])
        c.execute("select setval(pg_get_serial_sequence('odd_serial', 'id'), 1)")  # …or someone reset them:
        c.execute("select setval(pg_get_serial_sequence('odd_types', 'id'), 1)")
    # a restore never moves a sequence every tenant shares (issue 20): the owner moves it first
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    assert cp.returncode != 0 and "odd_serial_id_seq" in cp.stderr and "nothing was changed" in cp.stderr
    with psycopg.connect(odd_db) as c:
        for t in ("odd_serial", "odd_types"):
            c.execute(f"select setval(pg_get_serial_sequence('{t}', 'id'), 100000)")
    plan = dry_run(ORG_A, backup["id"])
    assert apply(ORG_A, backup["id"], plan["plan_id"]).returncode == 0
    with psycopg.connect(odd_db) as c:
        c.execute("insert into odd_serial (organization_id, label) values (%s, 'new')", [ORG_A])
        c.execute("insert into odd_types (organization_id) values (%s)", [ORG_A])
        c.execute("insert into big_table (organization_id, payload) values (%s, 'new')", [ORG_A])


def test_apply_needs_a_plan_and_refuses_when_the_data_changed(odd_db, env):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--yes")
    assert cp.returncode == 2 and "--plan" in cp.stderr
    cp = apply(ORG_A, backup["id"], "plan-0000000000000000")
    assert cp.returncode == 1 and "no such plan" in cp.stderr
    plan = dry_run(ORG_A, backup["id"])
    cp = apply(ORG_A, backup["id"], plan["plan_id"], "--mode", "missing-only")
    assert cp.returncode == 1 and "other options" in cp.stderr
    other = cli_json("backup", "--org", ORG_A)["backup"]
    cp = apply(ORG_A, other["id"], plan["plan_id"])  # a plan applies to its own backup only
    assert cp.returncode == 1 and f"is for backup {backup['id']}" in cp.stderr
    cp = apply(ORG_B, backup["id"], plan["plan_id"])
    assert cp.returncode == 1 and "not this one" in cp.stderr
    with psycopg.connect(odd_db) as c:
        c.execute("update big_table set payload = 'edited after the dry run' where organization_id = %s and id = 1", [ORG_A])
    state = everything(odd_db)
    cp = apply(ORG_A, backup["id"], plan["plan_id"])
    assert cp.returncode == 1 and "the data changed since the dry run; run it again" in cp.stderr
    assert everything(odd_db) == state
    # without a terminal and without --yes, nobody is asked and nothing happens
    plan = dry_run(ORG_A, backup["id"])
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", plan["plan_id"])
    assert cp.returncode == 2 and "--yes" in cp.stderr


def test_dry_run_refuses_a_damaged_backup(odd_db, env):
    store = env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    s = load_summary(store, ORG_A, backup["id"])
    part = store / s["manifest"]["tables"]["big_table"]["parts"][0]["key"]
    original = part.read_bytes()
    flipped = bytearray(original)
    flipped[-20] ^= 0x04
    part.write_bytes(bytes(flipped))
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    assert cp.returncode == 1 and "damaged" in cp.stderr and "checksum" in cp.stderr
    part.write_bytes(original[: len(original) // 2])
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    assert cp.returncode == 1 and "damaged" in cp.stderr


def test_missing_only_puts_back_deleted_rows_and_keeps_todays_work(odd_db, env):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db) as c:
        c.execute("delete from big_table where organization_id = %s and id <= 100", [ORG_A])  # the accident
        c.execute("update big_table set payload = 'today' where organization_id = %s and id = 200", [ORG_A])
        c.execute("insert into big_table (organization_id, payload) values (%s, 'new today')", [ORG_A])
    plan = dry_run(ORG_A, backup["id"], "--mode", "missing-only")
    assert plan["tables"]["big_table"]["to_insert"] == 100
    assert plan["tables"]["big_table"]["to_delete"] == 0 and plan["tables"]["big_table"]["to_update"] == 0
    done = apply(ORG_A, backup["id"], plan["plan_id"], "--mode", "missing-only")
    assert done.returncode == 0, done.stderr
    with psycopg.connect(odd_db) as c:
        assert c.execute("select count(*) from big_table where organization_id = %s and id <= 100", [ORG_A]).fetchone()[0] == 100
        assert c.execute("select payload from big_table where id = 200").fetchone()[0] == "today"
        assert c.execute("select count(*) from big_table where payload = 'new today'").fetchone()[0] == 1


def test_selected_tables_only_and_refused_when_it_would_break_foreign_keys(odd_db, env):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db) as c:
        c.execute("delete from big_table where organization_id = %s", [ORG_A])
        c.execute("update unique_only set label = 'today' where organization_id = %s", [ORG_A])
    plan = dry_run(ORG_A, backup["id"], "--tables", "big_table")
    assert list(plan["tables"]) == ["big_table"] and plan["tables"]["big_table"]["to_insert"] == 1500
    assert apply(ORG_A, backup["id"], plan["plan_id"], "--tables", "big_table").returncode == 0
    with psycopg.connect(odd_db) as c:
        assert c.execute("select count(*) from big_table where organization_id = %s", [ORG_A]).fetchone()[0] == 1500
        assert c.execute("select label from unique_only where organization_id = %s and code = 'X1'", [ORG_A]).fetchone()[0] == "today"
        # orders restored alone would delete orders that today's order_items still point to
        c.execute("insert into orders values ('00000000-0000-4000-8004-00000000ffff', %s, '2026-01-01')", [ORG_A])
        c.execute("insert into order_items values ('00000000-0000-4000-8005-00000000ffff', "
                  "'00000000-0000-4000-8004-00000000ffff', 'NEW', 1)")
    plan = dry_run(ORG_A, backup["id"], "--tables", "orders")
    assert plan["success"] is False and plan["plan_id"] is None
    assert any("order_items" in p and "missing orders" in p for p in plan["problems"])


def test_a_deleted_organization_comes_back_from_its_backup(odd_db, env):
    env(odd_db)
    before = everything(odd_db)
    backup = cli_json("backup", "--org", ORG_B)["backup"]
    with psycopg.connect(odd_db) as c:  # the organization is gone entirely
        for t in ("order_item_notes", "order_items"):
            c.execute(f"delete from {t}")
        for t in ("odd_types", "odd_serial", "nodes", "big_table", "no_pk_table", "unique_only", "orders"):
            c.execute(f"delete from {t} where organization_id = %s", [ORG_B])
        c.execute("update teams set lead_member_id = null where organization_id = %s", [ORG_B])
        c.execute("delete from members where organization_id = %s", [ORG_B])
        c.execute("delete from teams where organization_id = %s", [ORG_B])
        c.execute("delete from organizations where id = %s", [ORG_B])
    plan = dry_run(ORG_B, backup["id"])
    assert plan["success"], plan["problems"]
    assert plan["tables"]["organizations"]["to_insert"] == 1
    assert apply(ORG_B, backup["id"], plan["plan_id"]).returncode == 0
    after = everything(odd_db)
    for table in after:
        if table in ("trigger_hits",):
            continue
        assert [r for r in after[table] if ORG_B in r] == [r for r in before[table] if ORG_B in r], table


def test_a_dropped_column_is_reported_and_needs_consent(odd_db, env):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db) as c:
        c.execute("alter table big_table drop column payload")
        c.execute("alter table big_table add column note text default 'new column'")
    plan = dry_run(ORG_A, backup["id"])
    assert plan["success"] is False
    assert any("big_table.payload no longer exists: 1500 row(s)" in p for p in plan["problems"])
    plan = dry_run(ORG_A, backup["id"], "--allow-dropped-columns")
    assert plan["success"] and any("big_table.note is new" in w for w in plan["warnings"])
    assert apply(ORG_A, backup["id"], plan["plan_id"], "--allow-dropped-columns").returncode == 0
    with psycopg.connect(odd_db) as c:
        assert c.execute("select count(*), min(note) from big_table where organization_id = %s", [ORG_A]).fetchone() == (1500, "new column")


def test_the_old_systems_backup_restores(legacy_road):
    org, legacy_db = LEGACY_ORG, legacy_road.db
    plan = dry_run(org, "2025-01-15", "--trust-unsigned")  # unsigned by nature: restored on the owner's word
    assert plan["success"], plan["problems"]
    assert plan["warnings"][0].startswith("UNSIGNED") and plan["signed"] is False
    assert plan["warnings"][1].startswith("unverifiable: no checksums")
    assert any("user_invites" in w for w in plan["warnings"])
    assert {n: t["to_insert"] for n, t in plan["tables"].items()} == {"organizations": 1, "customers": 3, "bottles": 2}
    assert apply(org, "2025-01-15", plan["plan_id"], "--trust-unsigned").returncode == 0
    with psycopg.connect(legacy_db) as c:
        rows = c.execute("select name, balance::text, created_at from customers order by name").fetchall()
        assert [r[0] for r in rows] == ["Côté & Fils", 'North "Star" Farms', "Prairie Welding Ltd."]
        assert rows[2][1] == "1520.75" and rows[0][1] is None
        assert c.execute("select settings->>'tz' from organizations").fetchone()[0] == "America/Regina"


KILL_POINTS = [0.3, 0.8, 1.4, 2.2, 3.5]


def test_kill_9_during_apply_leaves_the_tenant_before_or_after_never_between(demo_db, env):
    """SIGKILL the apply process at several moments: the tenant is either exactly as before or
    exactly restored."""
    org = "5f0c7a4e-2b1d-4c7e-9a55-3e2f1d0c9b88"
    env(demo_db)
    with psycopg.connect(demo_db) as c:  # a tenant big enough that the apply takes a while
        c.execute("insert into bottle_scans (organization_id, scanned_at) select %s, now() "
                  "from generate_series(1, 300000)", [org])
    backup = cli_json("backup", "--org", org)["backup"]
    restored_state = everything(demo_db)
    outcomes = []
    for delay in KILL_POINTS:
        with psycopg.connect(demo_db) as c:
            c.execute("delete from bottle_scans where organization_id = %s and id %% 2 = 0", [org])
            c.execute("update customers set phone = 'changed' where organization_id = %s", [org])
        damaged = everything(demo_db)
        plan = dry_run(org, backup["id"])
        proc = subprocess.Popen([sys.executable, "-m", "tenant_backup_gui", "restore", "--org", org, "--backup",
                                 backup["id"], "--apply", "--plan", plan["plan_id"], "--yes"],
                                cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(0.3)  # the server notices the dead client and rolls back
        now = everything(demo_db)
        assert now in (damaged, restored_state), f"in between after a kill at {delay}s"
        outcomes.append("restored" if now == restored_state else "before")
    assert "before" in outcomes  # at least one kill landed mid-way and was rolled back


def test_a_change_row_to_json_cannot_see_still_counts_as_a_change(odd_db, env):
    """SQL NULL → JSON null in a json column looks the same to row_to_json; the fingerprint and
    the comparison must still see it."""
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db) as c:
        row = c.execute("select id from odd_types where organization_id = %s and j_json is null order by id limit 1",
                        [ORG_A]).fetchone()[0]
    plan = dry_run(ORG_A, backup["id"])
    assert plan["tables"]["odd_types"]["to_update"] == 0
    with psycopg.connect(odd_db) as c:
        c.execute("update odd_types set j_json = 'null' where id = %s", [row])
    cp = apply(ORG_A, backup["id"], plan["plan_id"])
    assert cp.returncode == 1 and "the data changed since the dry run" in cp.stderr
    again = dry_run(ORG_A, backup["id"])
    assert again["tables"]["odd_types"]["to_update"] == 1


def test_types_without_binary_io_restore_exactly(road):
    """isn's isbn13 and seg have no binary send/receive, nor a JSON form of their own: their values
    travel as their text and come back exactly, on either road."""
    odd_db = road.db
    with psycopg.connect(odd_db) as c:
        c.execute("create extension if not exists isn; create extension if not exists seg")
        c.execute("create table books (id int primary key, organization_id uuid not null, isbn isbn13, "
                  "pages seg, tags isbn13[], label text)")
        c.execute("insert into books select g, %s, case when g %% 2 = 0 then '978-0-306-40615-7'::isbn13 end, "
                  "(g || ' .. ' || g * 2)::seg, array['9780306406157'::isbn13], 'b' || g from generate_series(1, 9) g",
                  [ORG_A])
    if road.name == "rest":
        road.refresh()
    before = fingerprint(odd_db, ["books"])
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db) as c:
        c.execute("delete from books where id > 4")
        c.execute("update books set pages = '0 .. 1'::seg, isbn = null")
    plan = dry_run(ORG_A, backup["id"])
    assert plan["success"], plan
    assert plan["tables"]["books"]["to_insert"] == 5 and plan["tables"]["books"]["to_update"] == 4
    assert apply(ORG_A, backup["id"], plan["plan_id"]).returncode == 0
    assert fingerprint(odd_db, ["books"]) == before


def test_an_empty_table_has_no_part_and_still_restores_empty(odd_db, env):
    """An empty table is listed with 0 rows and no part file (a part per table was the nightly's
    largest cost); its backup verifies, and restoring it empties the table again."""
    with psycopg.connect(odd_db) as c:
        c.execute("delete from no_pk_table where organization_id = %s", [ORG_A])
    store = env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    entry = load_summary(store, ORG_A, backup["id"])["manifest"]["tables"]["no_pk_table"]
    assert entry["record_count"] == 0 and entry["parts"] == []
    assert not [p for p in store.rglob("no_pk_table*")]
    assert cli_json("verify", "--org", ORG_A, "--backup", backup["id"])["success"] is True
    with psycopg.connect(odd_db) as c:
        c.execute("insert into no_pk_table values (%s, 1, 'added after the backup')", [ORG_A])
    plan = dry_run(ORG_A, backup["id"])
    assert apply(ORG_A, backup["id"], plan["plan_id"]).returncode == 0
    with psycopg.connect(odd_db) as c:
        assert c.execute("select count(*) from no_pk_table where organization_id = %s", [ORG_A]).fetchone() == (0,)
