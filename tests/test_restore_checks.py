"""What a dry run must catch before anything is written, and what a failed restore must say:
references into other schemas, type changes, the failing row named by its key (never its values),
expired plans, and kill -9 at the moments that matter."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from .conftest import ORG_A, ORG_B, ROOT, cli_json, run_cli
from .roads import road  # noqa: F401 (fixture: the test body runs over both roads)
from .test_restore import apply, dry_run, everything


def test_references_into_another_schema_that_would_dangle_block_the_apply(odd_db, env):
    """profiles.id → auth.users.id on Supabase: a user deleted since the backup."""
    env(odd_db)
    with psycopg.connect(odd_db) as c:
        c.execute("create schema auth")
        c.execute("create table auth.users (id uuid primary key, email text)")
        c.execute("insert into auth.users select gen_random_uuid(), 'u' || g || '@x' from generate_series(1, 3) g")
        c.execute("alter table members add column user_id uuid references auth.users(id)")
        c.execute("update members set user_id = (select id from auth.users order by email limit 1) "
                  "where organization_id = %s", [ORG_A])
        members = c.execute("select count(*) from members where organization_id = %s", [ORG_A]).fetchone()[0]
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db) as c:  # the user is deleted since; today's members no longer point to it
        c.execute("update members set user_id = null where organization_id = %s", [ORG_A])
        c.execute("delete from auth.users where email = (select min(email) from auth.users)")
    plan = dry_run(ORG_A, backup["id"])
    assert plan["success"] is False and plan["plan_id"] is None
    assert any(f"{members} row(s) of members would reference missing auth.users rows through user_id" in p
               for p in plan["problems"]), plan["problems"]
    # leaving members out is the way forward the message names
    names = [n for n in plan["tables"] if n != "members"]
    plan = dry_run(ORG_A, backup["id"], "--tables", ",".join(names))
    assert plan["success"], plan["problems"]


def test_an_incompatible_type_change_is_reported_with_its_rows_and_needs_consent(odd_db, env):
    env(odd_db)
    with psycopg.connect(odd_db) as c:
        c.execute("update big_table set payload = 'p' || id where organization_id = %s", [ORG_A])
        c.execute("update big_table set payload = id::text where organization_id = %s and id <= 1000", [ORG_A])
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db) as c:  # payload becomes a number: 500 of the backup's values do not fit
        c.execute("update big_table set payload = null where payload !~ '^[0-9]+$'")
        c.execute("alter table big_table alter column payload type integer using payload::integer")
    plan = dry_run(ORG_A, backup["id"])
    assert plan["success"] is False
    assert any("big_table.payload changed type from text to integer: 500 row(s) hold values that do not fit" in p
               for p in plan["problems"]), plan["problems"]
    plan = dry_run(ORG_A, backup["id"], "--allow-dropped-columns")
    assert plan["success"], plan["problems"]
    assert apply(ORG_A, backup["id"], plan["plan_id"], "--allow-dropped-columns").returncode == 0
    with psycopg.connect(odd_db) as c:
        assert c.execute("select count(*), count(payload) from big_table where organization_id = %s",
                         [ORG_A]).fetchone() == (1500, 0)


def test_a_compatible_type_change_restores_with_a_warning(odd_db, env):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db) as c:
        c.execute("alter table odd_serial alter column label type varchar(200)")
    plan = dry_run(ORG_A, backup["id"])
    assert plan["success"], plan["problems"]
    assert any("odd_serial.label changed type from text to character varying(200): every value converts" in w
               for w in plan["warnings"])


def test_a_failing_row_is_named_by_its_key_and_its_values_never_shown(odd_db, env):
    env(odd_db)
    with psycopg.connect(odd_db) as c:
        c.execute("update members set name = 'hunter2-secret' where organization_id = %s", [ORG_A])
        first = c.execute("select id::text from members where organization_id = %s order by id limit 1",
                          [ORG_A]).fetchone()[0]
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db) as c:  # a column added since, NOT NULL and without a default
        c.execute("alter table members add column must text")
        c.execute("update members set must = 'x'")
        c.execute("alter table members alter column must set not null")
    state = everything(odd_db)
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    assert cp.returncode == 1
    line = cp.stderr.strip().splitlines()[-1]
    assert "restoring table members row id=" in line and "must" in line and "not-null" in line, cp.stderr
    assert "hunter2" not in cp.stderr and "Traceback" not in cp.stderr
    assert everything(odd_db) == state

    # another organization's row with a key the backup holds: the table, the key, the reason
    with psycopg.connect(odd_db) as c:
        c.execute("alter table members drop column must")
        c.execute("update members set organization_id = %s where id = %s", [ORG_B, first])
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    assert cp.returncode == 1
    assert "restoring table members" in cp.stderr and f"Key (id)=({first}) already exists" in cp.stderr, cp.stderr
    assert "nothing was changed" in cp.stderr


def test_an_expired_plan_is_refused(odd_db, env, tmp_path):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    plan = dry_run(ORG_A, backup["id"])
    path = next(Path(tmp_path / "xdg-state").rglob(f"{plan['plan_id']}.json"))
    doc = json.loads(path.read_text())
    doc["expires_at"] = "2000-01-01T00:00:00+00:00"
    path.write_text(json.dumps(doc))
    cp = apply(ORG_A, backup["id"], plan["plan_id"])
    assert cp.returncode == 1 and "expired" in cp.stderr and "dry run again" in cp.stderr


def _restore_query(url: str) -> tuple[str, object] | None:
    """What the apply's connection is running inside its transaction, if anything, and since when."""
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute("select query, query_start from pg_stat_activity where application_name = 'tenant-backup' "
                        "and datname = current_database() and xact_start is not null and state = 'active' "
                        "and pid <> pg_backend_pid() order by xact_start limit 1").fetchone()
    return (row[0], row[1]) if row else None


def test_kill_9_inside_the_transaction_leaves_the_tenant_as_before(demo_db, env):
    """SIGKILL the apply when the database shows it staging rows, checking them (before the safety
    backup) and restoring them (the engine's second call: deletes and inserts): each time the
    tenant is exactly as before; once left alone, exactly restored."""
    org = "5f0c7a4e-2b1d-4c7e-9a55-3e2f1d0c9b88"
    env(demo_db)
    with psycopg.connect(demo_db) as c:
        c.execute("insert into bottle_scans (organization_id, scanned_at) select %s, now() "
                  "from generate_series(1, 400000)", [org])
    backup = cli_json("backup", "--org", org)["backup"]
    restored_state = everything(demo_db)
    with psycopg.connect(demo_db) as c:
        c.execute("delete from bottle_scans where organization_id = %s and id %% 2 = 0", [org])
        c.execute("update customers set phone = 'changed' where organization_id = %s", [org])
    damaged = everything(demo_db)
    hit = []
    engine = 'SELECT public."tenant_backup__run"'
    stage = ('COPY "public"."tenant_backup_stage', 'COPY "tenant_backup_stage')  # unlogged or temporary
    for moment, nth in ((stage, 1), (engine, 1), (engine, 2)):
        plan = dry_run(org, backup["id"])
        proc = subprocess.Popen([sys.executable, "-m", "tenant_backup_gui", "restore", "--org", org, "--backup",
                                 backup["id"], "--apply", "--plan", plan["plan_id"], "--yes"],
                                cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        seen = set()
        while proc.poll() is None and time.monotonic() < deadline:
            q = _restore_query(demo_db)
            if q and q[0].lstrip().startswith(moment):
                seen.add(q[1])
                if len(seen) == nth:
                    proc.send_signal(signal.SIGKILL)
                    hit.append((moment, nth))
                    break
            time.sleep(0.005)
        proc.wait()
        time.sleep(0.5)  # the server notices the dead client and rolls back
        assert everything(demo_db) == damaged, f"changed after a kill during {moment}"
    assert len(hit) >= 3, hit  # the kills did land inside the transaction
    plan = dry_run(org, backup["id"])
    assert apply(org, backup["id"], plan["plan_id"]).returncode == 0
    assert everything(demo_db) == restored_state


def test_another_tenants_orphan_rows_do_not_block_a_restore_but_a_dangling_row_it_writes_does(road):
    """The reference check looks at what the restore wrote, over validated foreign keys: orphan
    rows of organization B — one written while the app's triggers were off, one kept under a key
    re-added NOT VALID — are B's business, not a reason to refuse every restore of A."""
    db = road.db
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(db) as c:
        c.execute("set session_replication_role = replica")  # the key stays validated; the row dangles
        c.execute("update teams set lead_member_id = gen_random_uuid() "
                  "where id = (select id from teams where organization_id = %s order by id limit 1)", [ORG_B])
        c.execute("set session_replication_role = origin")
        c.execute("alter table members drop constraint members_team_id_fkey")
        c.execute("update members set team_id = gen_random_uuid() "
                  "where id = (select id from members where organization_id = %s order by id limit 1)", [ORG_B])
        c.execute("alter table members add constraint members_team_id_fkey foreign key (team_id) "
                  "references teams(id) not valid")
    plan = dry_run(ORG_A, backup["id"])
    assert plan["success"], plan["problems"]
    assert apply(ORG_A, backup["id"], plan["plan_id"]).returncode == 0

    # A restore that itself would write a dangling row is still refused: A's members are gone since.
    with psycopg.connect(db) as c:
        c.execute("update teams set lead_member_id = null where organization_id = %s", [ORG_A])
        c.execute("delete from members where organization_id = %s", [ORG_A])
    names = [n for n in plan["tables"] if n != "members"]
    plan = dry_run(ORG_A, backup["id"], "--tables", ",".join(names))
    assert plan["success"] is False
    assert any("row(s) of teams would reference missing members rows through lead_member_id" in p
               for p in plan["problems"]), plan["problems"]


def test_every_refusal_the_engine_raises_has_its_sqlstate_mapped_and_the_sql_shares_the_constants():
    """The engine's refusals reach the user by SQLSTATE; a code raised in SQL that Python does not
    map would surface as a raw database error. Both SQL files take the lock class from
    core/constants.py, and the script setup installs holds its value, on both roads."""
    import re
    from tenant_backup_gui.core.constants import LOCK_CLASS
    from tenant_backup_gui.sources.restore_engine import REFUSALS
    engine = (ROOT / "resources" / "sql" / "restore_engine.sql").read_text()
    raised = {code for f in ("restore_engine.sql", "restore_choice.sql", "restore_rows.sql")
              for code in re.findall(r"errcode = '(TB\d{3})'", (ROOT / "resources" / "sql" / f).read_text())}
    assert "TB013" in raised
    assert raised and raised <= set(REFUSALS), raised - set(REFUSALS)
    assert "{{LOCK_CLASS}}" in engine and "{{OWN_TABLES}}" in engine
    supabase = (ROOT / "resources" / "sql" / "supabase.sql").read_text()
    assert "31595" not in supabase and "advisory_xact_lock({{LOCK_CLASS}}" in supabase
    from tenant_backup_gui.services.inventory import setup_sql
    from tenant_backup_gui.sources.rest.setup import setup_sql as rest_sql
    for script in (setup_sql(), rest_sql()):
        assert not re.search(r"\{\{[A-Z_]+\}\}", script)
        assert f"advisory_xact_lock({LOCK_CLASS}, hashtext(org))" in script
