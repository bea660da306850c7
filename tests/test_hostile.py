"""A hostile backup cannot reach past its tenant, even unsigned (issue 20): the structural proofs
of the restore engine hold without the signature. Each edited backup here is signed again with
the test key (rewrite_table(..., signed=True) / resign), or is in the old system's format, so the
proofs, not the origin check, are what refuses. Every refusal is one line naming the table, the
row's key and the other organization or the sequence, before anything is written; over both roads."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg

from .conftest import ORG_A, ORG_B, cli_json, run_cli
from .helpers import old_system_backup, resign
from .roads import rewrite_table, road, summary_path  # noqa: F401 (fixture)
from .test_restore import everything
from .test_restore_trust import dry_run, edit_row, first, refused_and_untouched


def sequence_value(db: str, seq: str) -> int:
    return first(db, f"select last_value from {seq}")


def add_rows(*rows: dict):
    def edit(lines):
        return lines + [json.dumps(r) for r in rows]
    return edit


def dry(org: str, backup: str, *args: str):
    return run_cli("restore", "--org", org, "--backup", backup, "--dry-run", "--json", *args)


# ------------------------------------------------------------------ 1: shared sequences

def test_an_id_past_a_shared_sequence_is_refused_and_moves_nothing(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    victim = first(road.db, "select min(id) from big_table where organization_id = %s", ORG_A)
    rewrite_table(road.store, ORG_A, backup["id"], "big_table", edit_row(victim, id=9223372036854775807))
    before = sequence_value(road.db, "big_table_id_seq")
    state = everything(road.db)
    line = refused_and_untouched(road, dry_run(ORG_A, backup["id"]), state,
                                 "big_table", "id=9223372036854775807", "big_table_id_seq", "nothing was changed")
    assert sequence_value(road.db, "big_table_id_seq") == before, line
    with psycopg.connect(road.db) as c:  # every other tenant still gets its ids
        c.execute("insert into big_table (organization_id, payload) values (%s, 'after')", [ORG_B])


def test_ids_the_sequence_drew_already_restore(road):
    """Values at or below the sequence's current value were drawn before: a restore may write them."""
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(road.db) as c:
        c.execute("delete from odd_serial where organization_id = %s", [ORG_A])
    out = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    assert out["tables"] and not out["problems"], out


def test_a_serial_column_id_past_its_sequence_is_refused(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    victim = first(road.db, "select min(id) from odd_serial where organization_id = %s", ORG_A)
    rewrite_table(road.store, ORG_A, backup["id"], "odd_serial", edit_row(victim, id=2147483647))
    state = everything(road.db)
    refused_and_untouched(road, dry_run(ORG_A, backup["id"]), state, "odd_serial", "id=2147483647",
                          "odd_serial_id_seq")


# ------------------------------------------------------------------ 8: no dry run draws a value

def test_no_dry_run_draws_a_sequence_value(road):
    """A serial column new since the backup: the apply's inserts take its default (drawing values,
    as they must), the dry run's rehearsal must not draw any."""
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(road.db, autocommit=True) as c:
        c.execute("alter table big_table add column ticket bigserial")
        c.execute("delete from big_table where organization_id = %s and id %% 2 = 0", [ORG_A])
    if getattr(road, "refresh", None):
        road.refresh()
    before = sequence_value(road.db, "big_table_ticket_seq")
    out = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    assert out["tables"] and sequence_value(road.db, "big_table_ticket_seq") == before
    assert any("ticket" in w for w in out["warnings"]), out["warnings"]


# ------------------------------------------------------------------ 4: the column list is what is checked

def drop_column(store: Path, org: str, backup_id: str, table: str, column: str) -> None:
    path = summary_path(store, org, backup_id)
    doc = json.loads(path.read_text())
    entry = doc["manifest"]["tables"][table]
    entry["columns"] = [c for c in entry["columns"] if c["name"] != column]
    path.write_text(json.dumps(doc))
    resign(path)


def test_a_column_list_without_the_key_is_refused_and_draws_nothing(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    drop_column(road.store, ORG_A, backup["id"], "big_table", "id")
    before = sequence_value(road.db, "big_table_id_seq")
    state = everything(road.db)
    refused_and_untouched(road, dry_run(ORG_A, backup["id"]), state, "big_table", "id", "column list")
    assert sequence_value(road.db, "big_table_id_seq") == before


def test_a_column_list_without_the_tenant_or_a_scope_column_is_refused(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    drop_column(road.store, ORG_A, backup["id"], "orders", "organization_id")
    state = everything(road.db)
    refused_and_untouched(road, dry_run(ORG_A, backup["id"]), state, "orders", "organization_id", "column list")
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    drop_column(road.store, ORG_A, backup["id"], "order_items", "order_id")
    refused_and_untouched(road, dry_run(ORG_A, backup["id"]), state, "order_items", "order_id", "column list")


# ------------------------------------------------------------------ 2: every foreign key

def test_a_non_scope_foreign_key_into_another_organization_is_refused(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    theirs = first(road.db, "select id::text from teams where organization_id = %s order by id limit 1", ORG_B)
    member = first(road.db, "select min(id::text) from members where organization_id = %s", ORG_A)
    rewrite_table(road.store, ORG_A, backup["id"], "members", edit_row(member, team_id=theirs))
    state = everything(road.db)
    line = refused_and_untouched(road, dry_run(ORG_A, backup["id"]), state, "members", member, "team_id", ORG_B)
    assert "nothing was changed" in line


def test_a_foreign_key_of_a_table_without_the_tenant_column_is_refused(road):
    """order_item_notes has no organization_id; a second link to order_items (not its scope's) into B's item."""
    with psycopg.connect(road.db, autocommit=True) as c:
        c.execute("alter table order_item_notes add column other_item_id uuid references order_items(id)")
    if getattr(road, "refresh", None):
        road.refresh()
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    theirs = first(road.db, "select min(i.id::text) from order_items i join orders o on o.id = i.order_id "
                            "where o.organization_id = %s", ORG_B)
    note = first(road.db, "select min(n.id) from order_item_notes n join order_items i on i.id = n.order_item_id "
                          "join orders o on o.id = i.order_id where o.organization_id = %s", ORG_A)
    rewrite_table(road.store, ORG_A, backup["id"], "order_item_notes", edit_row(note, other_item_id=theirs))
    state = everything(road.db)
    refused_and_untouched(road, dry_run(ORG_A, backup["id"]), state, "order_item_notes", f"id={note}",
                          "other_item_id", ORG_B)


# ------------------------------------------------------------------ 3: a decoy parent in missing-only

def decoy(road, backup_id: str) -> str:
    theirs = first(road.db, "select id::text from orders where organization_id = %s order by id limit 1", ORG_B)
    item = str(uuid.uuid4())
    rewrite_table(road.store, ORG_A, backup_id, "orders",
                  add_rows({"id": theirs, "organization_id": ORG_A, "placed": "2024-01-01"}))
    rewrite_table(road.store, ORG_A, backup_id, "order_items",
                  add_rows({"id": item, "order_id": theirs, "sku": "decoy", "qty": 1}))
    return item


def test_a_decoy_parent_in_missing_only_is_refused(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    item = decoy(road, backup["id"])
    state = everything(road.db)
    for tables in ((), ("--tables", "orders,order_items")):
        cp = dry(ORG_A, backup["id"], "--mode", "missing-only", *tables)
        refused_and_untouched(road, cp, state, "order_items", item, ORG_B, "nothing was changed")


# ------------------------------------------------------------------ 6: what the structure cannot judge

def test_an_unsigned_backup_lists_unique_values_and_changes_to_the_organization_row(road):
    with psycopg.connect(road.db, autocommit=True) as c:
        c.execute("alter table members add column email text unique")
        c.execute("update members set email = 'm' || id || '@example.com'")
    if getattr(road, "refresh", None):
        road.refresh()
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    member = first(road.db, "select min(id::text) from members where organization_id = %s", ORG_A)
    rewrite_table(road.store, ORG_A, backup["id"], "members", edit_row(member, email="ceo@b.example"), signed=False)
    rewrite_table(road.store, ORG_A, backup["id"], "organizations",
                  lambda lines: [json.dumps({**json.loads(l), "name": "Taken Over"}) for l in lines], signed=False)
    assert dry(ORG_A, backup["id"]).returncode != 0  # unsigned: the owner's word first
    out = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run", "--trust-unsigned")
    warnings = "\n".join(out["warnings"])
    assert "members" in warnings and "email" in warnings and member in warnings, warnings
    assert "organizations" in warnings and "name" in warnings, warnings
    signed = cli_json("backup", "--org", ORG_A)["backup"]  # a signed, untouched backup: no such list
    out = cli_json("restore", "--org", ORG_A, "--backup", signed["id"], "--dry-run")
    assert not any("email" in w for w in out["warnings"]), out["warnings"]


# ------------------------------------------------------------------ 7: the old system's format

def old_format(road, tables: dict[str, list[dict]]) -> str:
    """An old-system backup (no checksums, no signature) holding these tables' rows, as its files had them."""
    summary = old_system_backup(road.db, road.store, ORG_A)
    doc = json.loads(summary.read_text())
    ts = "2025-02-03T02-00-01-000Z"
    for table, rows in tables.items():
        key = f"tenant-backups/{ORG_A}/{ts[:10]}/{table}-{ts}.json"
        text = json.dumps({"table": table, "timestamp": ts, "record_count": len(rows), "data": rows})
        (road.store / key).write_text(text)
        doc["tables"][table] = {"success": True, "record_count": len(rows), "size": len(text), "storage_path": key}
    doc["total_records"] = sum(t["record_count"] for t in doc["tables"].values() if t["success"])
    summary.write_text(json.dumps(doc))
    return "2025-02-03"


def rows_of(db: str, q: str, *args) -> list[dict]:
    with psycopg.connect(db) as c:
        return [r[0] for r in c.execute(f"select row_to_json(t) from ({q}) t", list(args))]


def test_an_old_system_backup_past_a_sequence_is_refused(road):
    rows = rows_of(road.db, "select * from big_table where organization_id = %s order by id", ORG_A)
    rows[0]["id"] = 9223372036854775807
    backup = old_format(road, {"big_table": rows})
    before = sequence_value(road.db, "big_table_id_seq")
    state = everything(road.db)
    cp = dry(ORG_A, backup, "--trust-unsigned", "--tables", "big_table")
    refused_and_untouched(road, cp, state, "big_table", "id=9223372036854775807", "big_table_id_seq")
    assert sequence_value(road.db, "big_table_id_seq") == before


def test_an_old_system_backup_with_a_decoy_parent_is_refused(road):
    theirs = first(road.db, "select id::text from orders where organization_id = %s order by id limit 1", ORG_B)
    item = str(uuid.uuid4())
    orders = rows_of(road.db, "select * from orders where organization_id = %s", ORG_A)
    items = rows_of(road.db, "select i.* from order_items i join orders o on o.id = i.order_id "
                             "where o.organization_id = %s", ORG_A)
    backup = old_format(road, {"orders": orders + [{"id": theirs, "organization_id": ORG_A, "placed": "2024-01-01"}],
                               "order_items": items + [{"id": item, "order_id": theirs, "sku": "d", "qty": 1}]})
    state = everything(road.db)
    cp = dry(ORG_A, backup, "--trust-unsigned", "--mode", "missing-only", "--tables", "orders,order_items")
    refused_and_untouched(road, cp, state, "order_items", item, ORG_B)


# ------------------------------------------------------------------ 9: chosen rows (issue 21)
# The choice narrows what is written; every proof still runs on what is chosen.

def test_a_chosen_row_carrying_another_organizations_key_never_overwrites_it(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    theirs = first(road.db, "select id::text from orders where organization_id = %s order by id limit 1", ORG_B)
    rewrite_table(road.store, ORG_A, backup["id"], "orders",
                  add_rows({"id": theirs, "organization_id": ORG_A, "placed": "1999-01-01"}))
    state = everything(road.db)
    out = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run", "--show-rows",
                   "--rows", f"orders={theirs}", "--overwrite")
    assert [r["kind"] for r in out["rows"]["orders"]] == ["conflict"] and out["rows"]["orders"][0].get("now") is None
    assert out["summary"]["inserted"] == out["summary"]["updated"] == 0
    cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", out["plan_id"], "--yes")
    assert everything(road.db) == state  # B's order as it was; nothing else written


def test_a_chosen_row_pointing_into_another_organization_is_refused(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    theirs = first(road.db, "select id::text from teams where organization_id = %s order by id limit 1", ORG_B)
    member = first(road.db, "select min(id::text) from members where organization_id = %s", ORG_A)
    rewrite_table(road.store, ORG_A, backup["id"], "members", edit_row(member, team_id=theirs))
    with psycopg.connect(road.db) as c:
        c.execute("set session_replication_role = replica")
        c.execute("delete from members where id = %s", [member])
    state = everything(road.db)
    refused_and_untouched(road, dry(ORG_A, backup["id"], "--rows", f"members={member}"), state,
                          "members", member, "team_id", ORG_B, "nothing was changed")


def test_a_chosen_row_past_a_shared_sequence_is_refused(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    victim = first(road.db, "select min(id) from big_table where organization_id = %s", ORG_A)
    rewrite_table(road.store, ORG_A, backup["id"], "big_table", edit_row(victim, id=9223372036854775807))
    state = everything(road.db)
    refused_and_untouched(road, dry(ORG_A, backup["id"], "--rows", "big_table=9223372036854775807"), state,
                          "big_table", "id=9223372036854775807", "big_table_id_seq")


def test_a_chosen_child_of_a_decoy_parent_is_refused(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    item = decoy(road, backup["id"])
    state = everything(road.db)
    for more in ((), ("--with-dependents",), ("--overwrite",)):
        cp = dry(ORG_A, backup["id"], "--rows", f"order_items={item}", *more)
        refused_and_untouched(road, cp, state, "order_items", item, ORG_B, "nothing was changed")


def test_chosen_rows_come_back_from_an_old_system_backup(road):
    """Its lines are written `"column": value` (with a space): the line picking finds them too."""
    orders = rows_of(road.db, "select * from orders where organization_id = %s order by id", ORG_A)
    items = rows_of(road.db, "select i.* from order_items i join orders o on o.id = i.order_id "
                             "where o.organization_id = %s", ORG_A)
    backup = old_format(road, {"orders": orders, "order_items": items})
    order = orders[0]["id"]
    with psycopg.connect(road.db) as c:
        c.execute("set session_replication_role = replica")
        lost = [r[0] for r in c.execute("delete from order_items where order_id = %s returning id::text", [order])]
        c.execute("delete from orders where id = %s", [order])
    assert lost
    out = cli_json("restore", "--org", ORG_A, "--backup", backup, "--dry-run", "--trust-unsigned", "--show-rows",
                   "--rows", f"orders={order}", "--with-dependents")
    assert {(t, r["key"][0]) for t, rs in out["rows"].items() for r in rs} == \
        {("orders", order)} | {("order_items", i) for i in lost}
    cli_json("restore", "--org", ORG_A, "--backup", backup, "--apply", "--plan", out["plan_id"], "--yes",
             "--trust-unsigned")
    assert first(road.db, "select count(*) from order_items where order_id = %s", order) == len(lost)


def test_a_second_line_of_a_relinked_row_never_writes_its_link(road):
    """Links back (missing-only, chosen rows): an edited backup holding a row twice, once pointing at a
    team this restore brings back and once at another organization's team. Only the first link was
    proven; the second must never be written, whichever line the update would meet first."""
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    team = first(road.db, "select t.id::text from teams t where organization_id = %s "
                          "and exists (select 1 from members m where m.team_id = t.id) order by id limit 1", ORG_A)
    theirs = first(road.db, "select id::text from teams where organization_id = %s order by id limit 1", ORG_B)
    member = first(road.db, "select min(id::text) from members where team_id::text = %s", team)

    def twice(lines):  # the hostile line first, then the true one
        rows = [json.loads(line) for line in lines]
        true = next(r for r in rows if r["id"] == member)
        return [json.dumps({**true, "team_id": theirs})] + lines
    rewrite_table(road.store, ORG_A, backup["id"], "members", twice)
    with psycopg.connect(road.db) as c:
        c.execute("set session_replication_role = replica")
        c.execute("update teams set lead_member_id = null where id = %s", [team])
        c.execute("update members set team_id = null where team_id = %s", [team])
        c.execute("delete from teams where id = %s", [team])
    for mode in (("--mode", "missing-only"), ("--rows", f"teams={team}")):
        out = dry(ORG_A, backup["id"], *mode)
        if out.returncode == 0:
            plan = json.loads(out.stdout)["plan_id"]
            done = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", plan, "--yes")
            assert done.returncode == 0 or "nothing was changed" in done.stderr, done.stderr
        assert first(road.db, "select count(*) from members where team_id::text = %s", theirs) == \
            first(road.db, "select count(*) from members m join teams t on t.id = m.team_id "
                           "where t.id::text = %s and m.organization_id = t.organization_id", theirs)


def test_a_chosen_row_pointing_into_a_table_the_backup_lacks_is_judged_by_the_tenant_now(road):
    """The proofs take the tenant's every table for its scope, not only the tables a chosen-rows
    restore reads: a link into a tenant table the (edited) backup leaves out is not a shared lookup's."""
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    theirs = first(road.db, "select id::text from teams where organization_id = %s order by id limit 1", ORG_B)
    member = first(road.db, "select min(id::text) from members where organization_id = %s", ORG_A)
    rewrite_table(road.store, ORG_A, backup["id"], "members", edit_row(member, team_id=theirs))
    path = summary_path(road.store, ORG_A, backup["id"])
    doc = json.loads(path.read_text())
    doc["tables"].pop("teams")
    doc["manifest"]["tables"].pop("teams")
    doc["manifest"]["order"].remove("teams")
    path.write_text(json.dumps(doc))
    resign(path)
    with psycopg.connect(road.db) as c:
        c.execute("set session_replication_role = replica")
        c.execute("update teams set lead_member_id = null where lead_member_id = %s", [member])
        c.execute("delete from members where id = %s", [member])
    state = everything(road.db)
    refused_and_untouched(road, dry(ORG_A, backup["id"], "--rows", f"members={member}"), state,
                          "members", member, "team_id", ORG_B)


def test_an_overwrite_that_changes_a_value_other_rows_point_at_is_refused(road):
    """--overwrite writes the backup's columns; where one is a unique value another table's foreign
    key points at (renamed since, the children following ON UPDATE CASCADE), those children would
    point at nothing: the restore is refused, as a replace that removed the key would be."""
    with psycopg.connect(road.db, autocommit=True) as c:
        c.execute("alter table teams add column code text unique")
        c.execute("update teams set code = 'T-' || id")
        c.execute("create table team_badges (id uuid primary key default gen_random_uuid(), organization_id uuid "
                  "not null references organizations(id), team_code text references teams(code) on update cascade)")
        c.execute("insert into team_badges (organization_id, team_code) select organization_id, code from teams")
    if getattr(road, "refresh", None):
        road.refresh()
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    team = first(road.db, "select min(id::text) from teams where organization_id = %s", ORG_A)
    with psycopg.connect(road.db) as c:
        c.execute("update teams set code = code || '-renamed' where id = %s", [team])
    state = everything(road.db)
    badges = first(road.db, "select string_agg(team_code, ',' order by id) from team_badges")
    cp = dry(ORG_A, backup["id"], "--rows", f"teams={team}", "--overwrite")
    assert cp.returncode != 0 and "team_badges" in cp.stdout + cp.stderr, cp.stdout[-800:] + cp.stderr
    assert everything(road.db) == state
    assert first(road.db, "select string_agg(team_code, ',' order by id) from team_badges") == badges


def test_a_chosen_row_edited_while_the_apply_waits_for_its_locks_is_never_overwritten(road):
    """The chosen rows' fingerprint is read once the apply holds the tables, not before: staff who
    commit an edit while the apply waits for their lock get a refusal, not their work overwritten."""
    import subprocess
    import sys
    import time
    from .conftest import ROOT
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    member = first(road.db, "select min(id::text) from members where organization_id = %s", ORG_A)
    with psycopg.connect(road.db) as c:
        c.execute("update members set name = 'edited since the backup' where id = %s", [member])
    plan = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run", "--rows", f"members={member}",
                    "--overwrite")["plan_id"]
    staff = psycopg.connect(road.db)
    staff.execute("update members set name = 'staff, just now' where id = %s", [member])  # not committed yet
    apply = subprocess.Popen([sys.executable, "-m", "tenant_backup_gui", "restore", "--org", ORG_A, "--backup",
                              backup["id"], "--apply", "--plan", plan, "--yes"], cwd=str(ROOT),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6)  # the apply reads, checks, takes its safety backup, then waits for the tables
        staff.commit()
        out, err = apply.communicate(timeout=240)
    finally:
        staff.close()
        if apply.poll() is None:
            apply.kill()
    assert first(road.db, "select name from members where id = %s", member) == "staff, just now", (out, err)
    assert apply.returncode != 0 and "changed since the dry run" in err, (out, err)
