"""The restore over REST, driven as the product drives it: the restore jobs (the CLI's dry run and
apply) on the REST road of tests/roads.py — the backup's rows staged through the real PostgREST
(configured as Supabase, max-rows 1000), then one RPC of the installed engine restoring the tenant
in one transaction. Where a test must act between staging and that RPC, it uses the jobs' own
session (RestRestore), never a path of its own."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from types import SimpleNamespace

import psycopg
import pytest

from tenant_backup_gui.core.config import Config
from tenant_backup_gui.core.errors import LockBusy, TenantBackupError
from tenant_backup_gui.services.inventory import setup_sql
from tenant_backup_gui.sources.direct.lock import TenantLock
from tenant_backup_gui.sources.supabase_http import SupabaseProject
from tenant_backup_gui.sources.rest.restore import HELPERS_MISSING, RestRestore, SupabaseRestore, new_run_id
from tenant_backup_gui.stores.backups import find_backup, iter_part_blocks
from tenant_backup_gui.stores.folder import FolderStore

from .conftest import ORG_A, ORG_B, cli_json, run_cli
from .helpers import apply, dry_run, rows_of, wait_for
from .roads import road_fixture
from .supabase_local import postgrest_binary
from .test_restore import damage, everything

pytestmark = pytest.mark.skipif(postgrest_binary() is None, reason="PostgREST not installed (.ci/run installs it)")


@pytest.fixture
def rest(odd_db, env, monkeypatch):
    """The odd schema with big_table past max-rows (1000), reached over the REST road."""
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("insert into big_table (organization_id, payload) select %s, 'more ' || g "
                  "from generate_series(1, 1100) g", [ORG_A])
    yield from road_fixture(SimpleNamespace(param="rest"), odd_db, env, monkeypatch)


def staged(db: str) -> int:
    return rows_of(db, "select count(*) from tenant_backup_staging")[0][0]


def last_line(cp) -> str:
    return (cp.stderr.strip().splitlines() or [""])[-1]


def stage(s: RestRestore, road, backup_id: str, names: list[str]) -> None:
    """Stage these tables of the backup, parents first, to be written back whole (the backups
    here are of today's schema: every column of today's table)."""
    store = FolderStore(road.store)
    info = find_backup(store, ORG_A, backup_id)
    for name in [n for n in s.scope.names() if n in names]:
        blocks = (b for part in info.tables[name].parts for b in iter_part_blocks(store, part))
        st = s.stage(name, blocks, lambda n: None)
        st.columns = [c.name for c in st.scope.table.columns if not c.generated]


@contextmanager
def session(road, backup_id: str, names: list[str]):
    """The restore jobs' own REST session with these tables of the backup staged."""
    stack = road.stack
    with SupabaseProject(stack.url, stack.service_key) as project:
        with RestRestore(project, stack.url, stack.service_key, Config(), ORG_A) as s:
            stage(s, road, backup_id, names)
            yield s


def test_roundtrip_past_max_rows_is_exact_and_touches_nobody_else(rest):
    db = rest.db
    before = everything(db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    assert backup["tables"]["big_table"]["record_count"] == 2600  # > max-rows 1000
    damage(db, ORG_A)
    damage(db, ORG_B)
    damaged = everything(db)
    hits = len(damaged["trigger_hits"])
    current_big = rows_of(db, "select count(*) from big_table where organization_id = %s", ORG_A)[0][0]

    plan = dry_run(ORG_A, backup["id"])
    t = plan["tables"]
    assert plan["success"] and plan["problems"] == [] and plan["plan_id"]
    assert t["big_table"]["record_count"] == 2600 and t["big_table"]["current_rows"] == current_big
    assert t["big_table"]["to_insert"] == 2600 // 3 and t["big_table"]["to_delete"] == 1
    assert t["odd_types"]["to_update"] == 7 and t["odd_types"]["unchanged"] == 0
    assert t["members"]["to_insert"] == 3 and t["organizations"]["unchanged"] == 1
    assert t["no_pk_table"]["to_insert"] == 1 and t["no_pk_table"]["to_delete"] == 1
    assert everything(db) == damaged  # the dry run changed nothing
    assert staged(db) == 0  # and removed what it staged

    done = apply(ORG_A, backup["id"], plan["plan_id"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["total_records_restored"] == backup["total_records"]
    after = everything(db)
    for table in after:
        if table in ("order_items", "order_item_notes", "trigger_hits", "backup_logs", "tenant_backup_meta"):
            continue
        assert [r for r in after[table] if ORG_A in r] == [r for r in before[table] if ORG_A in r], table
        assert [r for r in after[table] if ORG_B in r] == [r for r in damaged[table] if ORG_B in r], table
    assert len(after["trigger_hits"]) == hits  # the app's trigger did not fire
    assert staged(db) == 0
    log = rows_of(db, "select status, backup_id, records_backed_up, metadata from backup_logs "
                      "where backup_type = 'restore' and organization_id = %s", ORG_A)
    s = json.loads(done.stdout)["summary"]  # the history's records: what the restore changed, not the tenant's size
    assert len(log) == 1 and log[0][:3] == ("completed", backup["id"], s["inserted"] + s["updated"] + s["deleted"])
    assert log[0][3]["via"] == "rest" and log[0][3]["tables"]["big_table"] == 2600
    with psycopg.connect(db) as c:  # sequences were moved past the restored ids
        c.execute("insert into big_table (organization_id, payload) values (%s, 'new')", [ORG_A])
        c.execute("insert into odd_types (organization_id) values (%s)", [ORG_A])


def test_apply_is_refused_when_the_data_changed_since_the_dry_run(rest):
    db = rest.db
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    damage(db, ORG_A)
    plan = dry_run(ORG_A, backup["id"])
    with psycopg.connect(db) as c:
        c.execute("update big_table set payload = 'edited after the dry run' where organization_id = %s "
                  "and id = (select min(id) from big_table where organization_id = %s)", [ORG_A, ORG_A])
    state = everything(db)
    cp = apply(ORG_A, backup["id"], plan["plan_id"])
    assert cp.returncode == 1 and "the data changed since the dry run; run it again" in last_line(cp), cp.stderr
    assert everything(db) == state and staged(db) == 0


def test_a_failing_restore_names_the_table_and_row_and_changes_nothing(rest):
    db = rest.db
    victim = rows_of(db, "update big_table set payload = null where organization_id = %s and id = "
                         "(select max(id) from big_table where organization_id = %s) returning id", ORG_A, ORG_A)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    damage(db, ORG_A)
    with psycopg.connect(db) as c:  # today's schema no longer accepts that row
        c.execute("update big_table set payload = 'x' where payload is null")
        c.execute("alter table big_table alter column payload set not null")
    state = everything(db)
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    line = last_line(cp)
    assert cp.returncode == 1 and f"restoring table big_table row id={victim[0][0]}: " in line, cp.stderr
    assert "payload" in line and line.endswith("nothing was changed")
    assert "Failing row" not in cp.stderr and "Traceback" not in cp.stderr
    assert everything(db) == state and staged(db) == 0
    # a CHECK violation: the database's reason, never the row's contents
    with psycopg.connect(db) as c:
        c.execute("alter table big_table alter column payload drop not null")
        c.execute("update big_table set payload = 'x' where payload = ''")
        c.execute("alter table big_table add constraint no_empty check (payload <> '') not valid")
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    line = last_line(cp)
    assert cp.returncode == 1 and "restoring table big_table: " in line and "no_empty" in line, cp.stderr
    assert "Failing row" not in cp.stderr and "pad" not in line


def test_missing_only_puts_back_deleted_rows_and_keeps_todays_work(rest):
    db = rest.db
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(db) as c:
        gone = c.execute("delete from big_table where organization_id = %s and id %% 5 = 0 returning id",
                         [ORG_A]).fetchall()
        c.execute("update big_table set payload = 'today' where organization_id = %s and id %% 5 = 1", [ORG_A])
        c.execute("insert into big_table (organization_id, payload) values (%s, 'added today')", [ORG_A])
    plan = dry_run(ORG_A, backup["id"], "--mode", "missing-only")
    t = plan["tables"]["big_table"]
    assert plan["success"], plan["problems"]
    assert t["to_insert"] == len(gone) and t["to_update"] == t["to_delete"] == 0
    assert any("no_pk_table has no key" in w for w in plan["warnings"])
    cp = apply(ORG_A, backup["id"], plan["plan_id"], "--mode", "missing-only")
    assert cp.returncode == 0, cp.stderr
    rows = dict(rows_of(db, "select payload, count(*) from big_table where organization_id = %s "
                            "and payload in ('today', 'added today') group by 1", ORG_A))
    assert rows == {"today": 520, "added today": 1}
    assert rows_of(db, "select count(*) from big_table where organization_id = %s", ORG_A)[0][0] == 2601


UNINSTALL = """drop function public.tenant_backup_restore_version(); drop table public.tenant_backup_staging;
               notify pgrst, 'reload schema';"""


def test_missing_or_outdated_helpers_are_reported_and_the_restore_refused(rest):
    db, stack = rest.db, rest.stack
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(db, autocommit=True) as c:  # a project where the engine was never installed
        c.execute(UNINSTALL)
    with SupabaseRestore(stack.url, stack.service_key) as sr:
        wait_for(None, lambda: not sr.helpers_state()["installed"], 15, "the helpers gone")  # PostgREST reloads late
        cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
        assert cp.returncode != 0 and HELPERS_MISSING in last_line(cp), cp.stderr
        with psycopg.connect(db, autocommit=True) as c:  # then an older version
            c.execute(setup_sql())
            c.execute("create or replace function public.tenant_backup_restore_version() returns integer "
                      "language sql immutable as $$ select 0 $$; notify pgrst, 'reload schema';")
        wait_for(None, lambda: sr.helpers_state() == {"installed": True, "version": 0, "current": False}, 15,
                 "the old helpers")
        state = everything(db)
        cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
        assert cp.returncode != 0 and HELPERS_MISSING in last_line(cp), cp.stderr
        assert everything(db) == state
        with psycopg.connect(db, autocommit=True) as c:  # running the SQL again is the upgrade
            c.execute(setup_sql())
        wait_for(None, lambda: sr.helpers_state()["current"], 15, "the upgraded helpers")
    assert dry_run(ORG_A, backup["id"])["success"]


def rpc(stack, key: str, fn: str, body: dict) -> int:
    req = urllib.request.Request(f"{stack.url}/rest/v1/rpc/{fn}", data=json.dumps(body).encode(), method="POST",
                                 headers={"apikey": key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_anon_key_is_refused(rest, monkeypatch):
    db, stack = rest.db, rest.stack
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    state = everything(db)
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run",
                 env={"SUPABASE_SERVICE_ROLE_KEY": stack.anon_key})
    assert cp.returncode != 0 and "service_role" in last_line(cp) and "Traceback" not in cp.stderr, cp.stderr
    tables = [{"name": "big_table", "schema": "public", "table": "big_table", "scope": {"anchor": "organization_id"}}]
    body = {"p_run_id": new_run_id(), "p_org": ORG_A, "p_tables": tables, "p_mode": "replace",
            "p_apply": True, "p_fingerprint": "x"}
    check = {k: v for k, v in body.items() if k != "p_apply"}
    for fn, args in (("tenant_backup_restore", body), ("tenant_backup_check", check),
                     ("tenant_backup_purge_staging", {}),
                     ("tenant_backup_fingerprint", {"p_org": ORG_A, "p_tables": tables})):
        assert rpc(stack, stack.anon_key, fn, args) in (401, 403), fn
    # the staging table is closed to it too
    req = urllib.request.Request(f"{stack.url}/rest/v1/tenant_backup_staging", method="POST",
                                 data=json.dumps([{"run_id": new_run_id(), "tbl": "x", "n": 0, "r": "{}"}]).encode(),
                                 headers={"apikey": stack.anon_key, "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code in (401, 403)
    assert everything(db) == state and staged(db) == 0


def test_staging_survives_5xx_and_a_lost_row_is_refused(rest):
    db, stack = rest.db, rest.stack
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(db) as c:  # left by a restore that never finished, two days ago
        c.execute("insert into tenant_backup_staging (run_id, tbl, n, r, staged_at) "
                  "values (gen_random_uuid(), 'big_table', 0, '{}', now() - interval '2 days')")
        c.execute("delete from big_table where organization_id = %s and id %% 2 = 0", [ORG_A])
    with session(rest, backup["id"], []) as s:
        s.driver.backoff = 0.01
        assert s.driver.purge_staging() == 1  # what the first stage() does; the faults below hit the batches
        stack.fail_next = 2  # the gateway answers 503 twice, then drops a connection without an answer
        stack.reset_next = 1
        stage(s, rest, backup["id"], ["organizations", "big_table"])
        assert stack.fail_next == 0 and stack.reset_next == 0
        # a resent batch whose first attempt had landed is ignored, not doubled: the counts are exact
        assert rows_of(db, "select count(*) from tenant_backup_staging where tbl = 'big_table'")[0][0] == 2600
        report = s.dry_run(["organizations", "big_table"], "replace")
        assert report["tables"]["big_table"]["to_insert"] == 1300 and report["problems"] == []
    with session(rest, backup["id"], ["organizations", "big_table"]) as s:  # a staged row lost on the way
        with psycopg.connect(db) as c:
            c.execute("delete from tenant_backup_staging where run_id = %s and n = 5", [s.run_id])
        with pytest.raises(TenantBackupError) as e:
            s.dry_run(["organizations", "big_table"], "replace")
    assert "big_table" in str(e.value) and "2600 rows were sent but 2599 are staged" in str(e.value)
    assert staged(db) == 0  # the session removed what it staged


def test_references_that_would_dangle_are_reported(rest):
    db = rest.db
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    led = rows_of(db, "select count(*) from teams where organization_id = %s and lead_member_id is not null",
                  ORG_A)[0][0]
    assert led > 0
    damage(db, ORG_A)  # among others: A's members deleted, teams.lead_member_id cleared
    state = everything(db)
    plan = dry_run(ORG_A, backup["id"], "--tables", "teams")  # teams alone would point at members that are gone
    assert plan["success"] is False and plan["plan_id"] is None
    assert list(plan["tables"]) == ["teams"] and plan["tables"]["teams"]["to_update"] > 0
    assert any(p.startswith(f"{led} row(s) of teams would reference missing members rows through lead_member_id")
               for p in plan["problems"]), plan["problems"]
    assert everything(db) == state


def test_the_engine_refuses_an_apply_while_another_job_holds_the_tenant(rest):
    db = rest.db
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    names = ["organizations", "big_table"]
    with session(rest, backup["id"], names) as s:
        fingerprint = s.dry_run(names, "replace")["fingerprint"]
    with session(rest, backup["id"], names) as s:
        with TenantLock(db, ORG_A, 1):  # a backup or restore over the direct connection
            with pytest.raises(LockBusy) as e:
                s.apply(names, "replace", known={}, fingerprint=fingerprint, metadata={}, backup_id=backup["id"])
    assert "another backup or restore of organization" in str(e.value) and "\n" not in str(e.value)
    with session(rest, backup["id"], names) as s:
        assert s.apply(names, "replace", known={}, fingerprint=fingerprint, metadata={},
                       backup_id=backup["id"])["applied"] is True


def test_staged_rows_answer_the_plans_checks(rest):
    db = rest.db
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with session(rest, backup["id"], ["odd_types"]) as s:
        too_big = rows_of(db, "select count(*) from odd_types where organization_id = %s "
                              "and i_int not between -32768 and 32767", ORG_A)[0][0]
        info = s.staged_info(s.staged["odd_types"], ["t_text", "n_inet"],
                             {"i_int": "smallint", "u_uuid": "uuid", "t_text": "not_a_type"})
        columns = rows_of(db, "select attname from pg_attribute where attrelid = 'odd_types'::regclass "
                              "and attnum > 0 and not attisdropped")
        assert set(info["keys"]) <= {c for (c,) in columns} and "organization_id" in info["keys"]
        held = rows_of(db, "select count(t_text), count(n_inet) from odd_types where organization_id = %s", ORG_A)[0]
        assert info["non_null"] == {"t_text": held[0], "n_inet": held[1]} and held[1] < 7
        assert info["unconvertible"] == {"i_int": too_big, "u_uuid": 0, "t_text": None} and too_big > 0
    assert staged(db) == 0


def test_the_restore_rpc_outlives_the_api_roles_statement_timeout_or_says_what_to_do(rest):
    """Supabase gives the API roles a short statement timeout (service_role falls back to 8 s); the
    restore function carries its own. Where a server does not honour it, the one line points to the
    direct connection and nothing changes."""
    db = rest.db
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    damage(db, ORG_A)
    damaged = everything(db)
    sig = "public.tenant_backup_restore(uuid, text, json, text, boolean, text, json, json, text, json)"
    names = ["organizations", "big_table"]

    def role_timeout(value: str | None) -> None:
        with psycopg.connect(db, autocommit=True) as c:
            c.execute("alter role service_role set statement_timeout = '1ms'" if value else
                      "alter role service_role reset statement_timeout")
            c.execute("notify pgrst, 'reload config'")
        time.sleep(1)  # PostgREST reloads its role settings asynchronously

    try:
        with session(rest, backup["id"], names) as first:
            role_timeout("1ms")
            report = first.dry_run(names, "replace")
            assert report["tables"]["big_table"]["to_delete"] > 0  # done, under its own timeout
        role_timeout(None)
        with session(rest, backup["id"], names) as second:
            with psycopg.connect(db, autocommit=True) as c:
                c.execute(f"alter function {sig} reset statement_timeout")
                c.execute("notify pgrst, 'reload schema'")
            role_timeout("1ms")
            with pytest.raises(TenantBackupError) as e:
                second.dry_run(names, "replace")
            role_timeout(None)
    finally:
        role_timeout(None)
    assert "statement timeout" in str(e.value) and "TENANT_BACKUP_DATABASE_URL" in str(e.value)
    assert len(str(e.value).splitlines()) == 1
    assert everything(db) == damaged


def test_the_helpers_never_reach_a_table_the_api_role_may_not_write(rest):
    """They run as their owner, to set session_replication_role; they must not lend the service
    role rights it does not have."""
    db = rest.db
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("revoke insert on big_table from service_role")
    try:
        cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    finally:
        with psycopg.connect(db, autocommit=True) as c:
            c.execute("grant insert on big_table to service_role")
    assert cp.returncode == 1 and "may not read and write table public.big_table" in last_line(cp), cp.stderr


def test_keys_of_extension_types_compare_with_their_own_equality(rest):
    """A citext key that only changed case is the same row: missing-only leaves it alone (with
    text's `=` it would re-insert it and hit the unique key), replace counts it as an update."""
    db = rest.db
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("create extension if not exists citext")
        c.execute("create table tags (code citext primary key, organization_id uuid not null, note text)")
        c.execute("insert into tags values ('Abc', %s, 'a'), ('def', %s, 'd'), ('Ghi', %s, 'g')", [ORG_A] * 3)
    rest.refresh()
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("update tags set code = 'ABC' where code = 'Abc'")
        c.execute("delete from tags where code = 'def'")
    plan = dry_run(ORG_A, backup["id"])
    assert {k: plan["tables"]["tags"][k] for k in ("to_insert", "to_update", "to_delete")} == \
        {"to_insert": 1, "to_update": 1, "to_delete": 0}
    plan = dry_run(ORG_A, backup["id"], "--mode", "missing-only")
    assert plan["tables"]["tags"]["to_insert"] == 1 and plan["problems"] == []
    cp = apply(ORG_A, backup["id"], plan["plan_id"], "--mode", "missing-only")
    assert cp.returncode == 0, cp.stderr
    assert sorted(r[0] for r in rows_of(db, "select code::text from tags")) == ["ABC", "Ghi", "def"]
