"""A restore trusts nothing in the backup's files (issue 10): an attacker with write access to the
store can rewrite a part and recompute its checksum, so `verify` says intact; the restore itself
must prove every row it would write belongs to the organization being restored, that the bytes
are the ones its dry run read, and it takes no safety backup before every refusal check passed.
Each test runs over both roads (direct connection and REST), through the one engine."""

from __future__ import annotations

import json

import psycopg
import pytest

from tenant_backup_gui.core import manifest as mf

from .conftest import ORG_A, ORG_B, cli_json, fingerprint as rows_of, quoted
from .roads import part_bytes, rewrite_table, road, summary_path  # noqa: F401 (fixture)
from .helpers import apply, dry_run_process as dry_run, one_line, resign  # here a dry run's process: refusals are read
from .test_restore import damage, everything


def refused_and_untouched(road, cp, state, *words: str) -> str:
    assert cp.returncode != 0, cp.stdout
    line = one_line(cp)
    for w in words:
        assert w in line, line
    assert everything(road.db) == state, "a refused restore wrote something"
    return line


def safety_backups(org: str) -> list[dict]:
    return [b for b in cli_json("backups", "--org", org) if b["type"] == "safety"]


def first(db: str, q: str, *args):
    with psycopg.connect(db) as c:
        return c.execute(q, list(args)).fetchone()[0]


def edit_row(row_id, **changes):
    """An edit for rewrite_table: the line of the row with this id gets these values."""
    def edit(lines):
        rows = [json.loads(line) for line in lines]
        return [json.dumps({**r, **changes} if r["id"] == row_id else r) for r in rows]
    return edit


def test_a_row_edited_to_carry_another_organization_is_refused(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    victim = first(road.db, "select min(id) from big_table where organization_id = %s", ORG_A)
    rewrite_table(road.store, ORG_A, backup["id"], "big_table", edit_row(victim, organization_id=ORG_B))
    assert cli_json("verify", "--org", ORG_A, "--backup", backup["id"])["success"]  # checksums recomputed
    damage(road.db, ORG_A)
    state = everything(road.db)
    line = refused_and_untouched(road, dry_run(ORG_A, backup["id"]), state, "big_table", f"id={victim}", ORG_B)
    assert "nothing was" in line


def test_a_child_row_pointing_at_another_organizations_parent_is_refused(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    theirs = first(road.db, "select id::text from orders where organization_id = %s order by id limit 1", ORG_B)
    item = first(road.db, "select min(i.id::text) from order_items i join orders o on o.id = i.order_id "
                          "where o.organization_id = %s", ORG_A)
    rewrite_table(road.store, ORG_A, backup["id"], "order_items", edit_row(item, order_id=theirs))
    state = everything(road.db)
    refused_and_untouched(road, dry_run(ORG_A, backup["id"]), state, "order_items", item, ORG_B)
    # the genuine backup still restores afterwards: nothing of B's was touched
    genuine = cli_json("backup", "--org", ORG_A)["backup"]
    plan = json.loads(dry_run(ORG_A, genuine["id"]).stdout)
    assert plan["success"], plan
    assert apply(ORG_A, genuine["id"], plan["plan_id"]).returncode == 0


def test_another_organizations_part_swapped_in_is_refused(road):
    ours = cli_json("backup", "--org", ORG_A)["backup"]
    theirs = cli_json("backup", "--org", ORG_B)["backup"]
    assert theirs["tables"]["order_item_notes"]["record_count"] > 0
    rewrite_table(road.store, ORG_A, ours["id"], "order_item_notes",
                  data=part_bytes(road.store, ORG_B, theirs["id"], "order_item_notes"))
    assert cli_json("verify", "--org", ORG_A, "--backup", ours["id"])["success"]
    state = everything(road.db)
    refused_and_untouched(road, dry_run(ORG_A, ours["id"]), state, "order_item_notes", ORG_B)


def test_a_backup_whose_summary_names_another_organization_is_not_this_ones(road):
    theirs = cli_json("backup", "--org", ORG_B)["backup"]
    src = summary_path(road.store, ORG_B, theirs["id"]).parent
    dst = road.store / "tenant-backups" / ORG_A / src.name
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():  # parts and summary moved under A, the summary's part keys too
        data = f.read_bytes()
        if f.name.startswith("summary-"):
            data = data.replace(f"tenant-backups/{ORG_B}/".encode(), f"tenant-backups/{ORG_A}/".encode())
        (dst / f.name).write_bytes(data)
    listed = {b["id"]: b for b in cli_json("backups", "--org", ORG_A)}
    assert listed[theirs["id"]]["complete"] is False
    assert "summary names organization " + ORG_B in listed[theirs["id"]]["problem"]
    state = everything(road.db)
    cp = dry_run(ORG_A, theirs["id"])
    assert cp.returncode != 0 and ORG_B in one_line(cp)
    assert everything(road.db) == state


def truncate_a_part(store, backup_id: str) -> None:
    """Half of a part's rows gone, its checksum and counts recomputed: `verify` still says intact."""
    rewrite_table(store, ORG_A, backup_id, "big_table", lambda lines: lines[: len(lines) // 2])
    assert cli_json("verify", "--org", ORG_A, "--backup", backup_id)["success"]


def edit_the_summary(store, backup_id: str) -> None:
    path = summary_path(store, ORG_A, backup_id)
    doc = json.loads(path.read_text())
    doc["manifest"]["warnings"].append("edited")
    path.write_text(json.dumps(doc))
    resign(path)  # the plan's pins, not the signature, must catch it


@pytest.mark.parametrize("change", [truncate_a_part, edit_the_summary])
def test_the_backup_changing_after_the_dry_run_refuses_the_apply_before_any_safety_backup(road, change):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    damage(road.db, ORG_A)
    plan = json.loads(dry_run(ORG_A, backup["id"]).stdout)
    assert plan["success"], plan
    change(road.store, backup["id"])
    state = everything(road.db)
    refused_and_untouched(road, apply(ORG_A, backup["id"], plan["plan_id"]), state,
                          "the backup changed since the dry run")
    assert safety_backups(ORG_A) == []


def test_a_refused_apply_takes_no_safety_backup(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    plan = json.loads(dry_run(ORG_A, backup["id"]).stdout)
    with psycopg.connect(road.db) as c:
        c.execute("update big_table set payload = 'edited after the dry run' where organization_id = %s "
                  "and id = (select min(id) from big_table where organization_id = %s)", [ORG_A, ORG_A])
    state = everything(road.db)
    refused_and_untouched(road, apply(ORG_A, backup["id"], plan["plan_id"]), state,
                          "the data changed since the dry run")
    assert safety_backups(ORG_A) == []
    # the one that passes every check takes it, then restores
    plan = json.loads(dry_run(ORG_A, backup["id"]).stdout)
    done = json.loads(apply(ORG_A, backup["id"], plan["plan_id"]).stdout)
    assert done["success"] and [b["id"] for b in safety_backups(ORG_A)] == [done["safety_backup_id"]]


NAMES = ["it's", 'it"s', "größe", "grüße"]


def test_tables_whose_names_differ_only_in_odd_characters_get_their_own_parts(road):
    with psycopg.connect(road.db) as c:
        for i, name in enumerate(NAMES):
            ident = quoted(name)
            c.execute(f"create table {ident} (id int primary key, organization_id uuid not null, v text)")
            c.execute(f"insert into {ident} select g, %s, %s || g from generate_series(1, {i + 2}) g", [ORG_A, name])
    if road.name == "rest":
        road.refresh()
    before = rows_of(road.db, NAMES)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    doc = json.loads(summary_path(road.store, ORG_A, backup["id"]).read_text())
    keys = [(p["key"], p.get("offset")) for n in NAMES for p in doc["manifest"]["tables"][n]["parts"]]  # packed: a range each
    assert len(set(keys)) == len(keys) == 4, keys
    assert {n: doc["manifest"]["tables"][n]["record_count"] for n in NAMES} == \
        {n: i + 2 for i, n in enumerate(NAMES)}
    with psycopg.connect(road.db) as c:
        for name in NAMES:
            c.execute("delete from " + quoted(name))
    plan = json.loads(dry_run(ORG_A, backup["id"]).stdout)
    assert plan["success"], plan
    assert apply(ORG_A, backup["id"], plan["plan_id"]).returncode == 0
    assert rows_of(road.db, NAMES) == before


def test_part_keys_are_distinct_for_names_that_used_to_collide():
    keys = {mf.part_key(ORG_A, "2025-01-15T02-00-04-512Z", n, 1) for n in NAMES}
    assert len(keys) == len(NAMES)
    for k in keys:  # still a plain file name, still carrying the backup id
        assert "2025-01-15T02-00-04-512Z" in k and "/" not in k.rsplit("/", 1)[-1]


def test_a_backup_whose_two_tables_map_to_one_part_file_fails_loudly(tmp_path):
    """Whatever the naming, a part file is never written twice within a backup: a table name
    written again (two tables, one key) stops the backup instead of overwriting the first one's rows."""
    from tenant_backup_gui.core.errors import TenantBackupError
    from tenant_backup_gui.stores.backups import BackupWriter
    from tenant_backup_gui.stores.folder import FolderStore
    writer = BackupWriter(FolderStore(tmp_path), ORG_A, "2025-01-15T02-00-04-512Z", 1 << 20)
    for _ in range(2):
        writer.begin_table("it's")
        writer.write(b'{"id": 1}\n', 1)
    with pytest.raises(TenantBackupError) as e:
        writer.end_table()
        writer.end_table()
    assert "map to the same part file" in str(e.value)
    writer.abort()
