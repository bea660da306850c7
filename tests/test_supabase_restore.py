"""The restore over REST: rows of a real backup staged through the real PostgREST (configured as
Supabase, max-rows 1000), then one RPC of the installed SQL functions restores the tenant in one
transaction — exact, isolated, atomic, and only with the service role key."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import psycopg
import pytest

from tenant_backup_gui.core.config import Config
from tenant_backup_gui.core.constants import fill_sql
from tenant_backup_gui.core.errors import ConnectionFailed, LockBusy, TenantBackupError
from tenant_backup_gui.core.scope import discover_scope
from tenant_backup_gui.platform.settings import Settings
from tenant_backup_gui.services.backup import BackupJob
from tenant_backup_gui.services.context import Context
from tenant_backup_gui.sources.postgres import TenantLock, read_catalog
from tenant_backup_gui.sources.supabase_restore import (HELPERS_MISSING, HelpersMissing, SupabaseRestore,
                                                        describe_table, new_run_id)
from tenant_backup_gui.stores.backups import find_backup, iter_part_blocks

from .conftest import ORG_A, ORG_B, ROOT
from .supabase_local import SupabaseLocal, postgrest_binary
from .test_restore import damage, everything

pytestmark = pytest.mark.skipif(postgrest_binary() is None, reason="PostgREST not installed (.ci/run installs it)")

RESTORE_SQL = fill_sql((ROOT / "resources" / "sql" / "restore_engine.sql").read_text())
CONFIG = Config(expected_tables=())


def install(db: str, sql: str = RESTORE_SQL) -> None:
    with psycopg.connect(db, autocommit=True) as c:
        c.execute(sql)


def wait_for(check, what: str, seconds: float = 15) -> None:
    """PostgREST reloads its schema cache on NOTIFY, asynchronously."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"PostgREST never saw {what}"
        time.sleep(0.1)


@pytest.fixture
def stack(odd_db):
    with psycopg.connect(odd_db, autocommit=True) as c:  # past max-rows (1000) and then some
        c.execute("insert into big_table (organization_id, payload) select %s, 'more ' || g "
                  "from generate_series(1, 1100) g", [ORG_A])
    with SupabaseLocal(odd_db) as s:
        yield s


@pytest.fixture
def rest(stack, odd_db):
    """The stack with the helpers installed after the project exists, as the SQL editor would."""
    install(odd_db)
    stack.wait_for_schema("rpc/tenant_backup_restore_version")
    sr = SupabaseRestore(stack.url, stack.service_key, batch_rows=700)
    wait_for(lambda: sr.helpers_state()["current"], "the restore helpers")
    yield sr
    sr.close()


class Tenant:
    """A real backup (BackupJob over the direct connection, folder store) and its scope."""

    def __init__(self, db: str, store, org: str = ORG_A):
        self.db, self.org = db, org
        self.ctx = Context.from_settings(Settings(CONFIG, None, db, store))
        result = asyncio.run(BackupJob(self.ctx, org).run())
        self.info = find_backup(self.ctx.store, org, result.id)
        with psycopg.connect(db) as c:
            self.catalog = read_catalog(c, CONFIG.schemas)
        self.scope = discover_scope(self.catalog, CONFIG)

    def all_tables(self) -> list[dict]:
        return [describe_table(s, rows=0, catalog=self.catalog) for s in self.scope.tables]

    def stage(self, sr: SupabaseRestore, names: list[str] | None = None,
              known: dict | None = None) -> tuple[str, list[dict]]:
        run = new_run_id()
        tables = []
        for s in self.scope.tables:  # parents first
            name = s.table.key_name
            if name not in self.info.tables or (names and name not in names):
                continue
            entry = self.info.tables[name]
            blocks = (b for part in entry.parts for b in iter_part_blocks(self.ctx.store, part))
            rows = sr.stage(run, name, blocks)
            assert rows == entry.record_count
            current = {c.name: c for c in s.table.columns}
            tables.append(describe_table(
                s, rows=rows, catalog=self.catalog,
                columns=[c["name"] for c in entry.columns if c["name"] in current and not current[c["name"]].generated],
                text_columns=[c["name"] for c in entry.columns if c.get("encoding") == "text"],
                known=(known or {}).get(name)))
        return run, tables

    def dry_run(self, sr: SupabaseRestore, mode: str = "replace", names: list[str] | None = None) -> dict:
        run, tables = self.stage(sr, names)
        return sr.restore(run, self.org, tables, mode, False, fingerprint_tables=self.all_tables())

    def apply(self, sr: SupabaseRestore, fingerprint: str, mode: str = "replace",
              names: list[str] | None = None, known: dict | None = None) -> dict:
        run, tables = self.stage(sr, names, known)
        try:
            return sr.restore(run, self.org, tables, mode, True, fingerprint, {"plan_id": "plan-test"},
                              backup_id=self.info.id, fingerprint_tables=self.all_tables())
        except TenantBackupError:
            sr.discard(run)
            raise


def rows_of(db: str, q: str, *args) -> list:
    with psycopg.connect(db) as c:
        return c.execute(q, list(args)).fetchall()


def staged(db: str) -> int:
    return rows_of(db, "select count(*) from tenant_backup_staging")[0][0]


def test_roundtrip_past_max_rows_is_exact_and_touches_nobody_else(rest, odd_db, tmp_path):
    before = everything(odd_db)
    tenant = Tenant(odd_db, tmp_path / "store")
    assert tenant.info.tables["big_table"].record_count == 2600  # > max-rows 1000
    damage(odd_db, ORG_A)
    damage(odd_db, ORG_B)
    damaged = everything(odd_db)
    hits = len(damaged["trigger_hits"])
    current_big = rows_of(odd_db, "select count(*) from big_table where organization_id = %s", ORG_A)[0][0]

    plan = tenant.dry_run(rest)
    t = plan["tables"]
    assert plan["problems"] == [] and plan["applied"] is False and plan["fingerprint"]
    assert t["big_table"]["record_count"] == 2600 and t["big_table"]["current_rows"] == current_big
    assert t["big_table"]["to_insert"] == 2600 // 3 + 0 and t["big_table"]["to_delete"] == 1
    assert t["odd_types"]["to_update"] == 7 and t["odd_types"]["unchanged"] == 0
    assert t["members"]["to_insert"] == 3 and t["organizations"]["unchanged"] == 1
    assert t["no_pk_table"]["to_insert"] == 1 and t["no_pk_table"]["to_delete"] == 1
    assert plan["total_records_restored"] == tenant.info.total_records
    assert everything(odd_db) == damaged  # the dry run changed nothing
    assert staged(odd_db) == 0  # and removed what it staged

    done = tenant.apply(rest, plan["fingerprint"], known=plan["tables"])  # not compared again
    assert done["applied"] is True and done["problems"] == []
    assert {n: {k: v for k, v in t.items() if k != "deleted"} for n, t in done["tables"].items()} == \
        {n: {k: v for k, v in t.items() if k != "deleted"} for n, t in plan["tables"].items()}
    assert done["total_records_restored"] == tenant.info.total_records
    after = everything(odd_db)
    for table in after:
        if table in ("order_items", "order_item_notes", "trigger_hits"):
            continue
        assert [r for r in after[table] if ORG_A in r] == [r for r in before[table] if ORG_A in r], table
        assert [r for r in after[table] if ORG_B in r] == [r for r in damaged[table] if ORG_B in r], table
    assert len(after["trigger_hits"]) == hits  # the app's trigger did not fire
    assert staged(odd_db) == 0
    log = rows_of(odd_db, "select status, backup_id, records_backed_up, metadata from backup_logs "
                          "where backup_type = 'restore' and organization_id = %s", ORG_A)
    assert len(log) == 1 and log[0][:3] == ("completed", tenant.info.id, tenant.info.total_records)
    assert log[0][3]["plan_id"] == "plan-test" and log[0][3]["tables"]["big_table"] == 2600
    with psycopg.connect(odd_db) as c:  # sequences were moved past the restored ids
        c.execute("insert into big_table (organization_id, payload) values (%s, 'new')", [ORG_A])
        c.execute("insert into odd_types (organization_id) values (%s)", [ORG_A])


def test_apply_is_refused_when_the_data_changed_since_the_dry_run(rest, odd_db, tmp_path):
    tenant = Tenant(odd_db, tmp_path / "store")
    damage(odd_db, ORG_A)
    plan = tenant.dry_run(rest)
    with psycopg.connect(odd_db) as c:
        c.execute("update big_table set payload = 'edited after the dry run' where organization_id = %s "
                  "and id = (select min(id) from big_table where organization_id = %s)", [ORG_A, ORG_A])
    state = everything(odd_db)
    with pytest.raises(TenantBackupError) as e:
        tenant.apply(rest, plan["fingerprint"])
    assert str(e.value) == "the data changed since the dry run; run it again"
    assert everything(odd_db) == state and staged(odd_db) == 0


def test_a_failing_restore_rolls_back_everything_and_names_the_table_and_row(rest, odd_db, tmp_path):
    victim = rows_of(odd_db, "update big_table set payload = null where organization_id = %s and id = "
                             "(select max(id) from big_table where organization_id = %s) returning id", ORG_A, ORG_A)
    tenant = Tenant(odd_db, tmp_path / "store")
    damage(odd_db, ORG_A)
    with psycopg.connect(odd_db) as c:  # today's schema no longer accepts that row
        c.execute("update big_table set payload = 'x' where payload is null")
        c.execute("alter table big_table alter column payload set not null")
    state = everything(odd_db)
    fingerprint = rest.fingerprint(ORG_A, tenant.all_tables())
    with pytest.raises(TenantBackupError) as e:
        tenant.apply(rest, fingerprint)
    msg = str(e.value)
    assert msg.startswith(f"restoring table big_table row id={victim[0][0]}: ") and "payload" in msg, msg
    assert msg.endswith("nothing was changed") and "\n" not in msg and "Failing row" not in msg
    assert everything(odd_db) == state  # the deletes of every other table were rolled back too
    assert not rows_of(odd_db, "select 1 from backup_logs where backup_type = 'restore'")
    # a CHECK violation: the database's reason, never the row's contents
    with psycopg.connect(odd_db) as c:
        c.execute("alter table big_table alter column payload drop not null")
        c.execute("update big_table set payload = 'x' where payload = ''")
        c.execute("alter table big_table add constraint no_empty check (payload <> '') not valid")
    with pytest.raises(TenantBackupError) as e:
        tenant.dry_run(rest)
    msg = str(e.value)
    assert msg.startswith("restoring table big_table: ") and "no_empty" in msg and "\n" not in msg, msg
    assert "pad" not in msg and "Failing row" not in msg


def test_missing_only_puts_back_deleted_rows_and_keeps_todays_work(rest, odd_db, tmp_path):
    tenant = Tenant(odd_db, tmp_path / "store")
    with psycopg.connect(odd_db) as c:
        gone = c.execute("delete from big_table where organization_id = %s and id %% 5 = 0 returning id",
                         [ORG_A]).fetchall()
        c.execute("update big_table set payload = 'today' where organization_id = %s and id %% 5 = 1", [ORG_A])
        c.execute("insert into big_table (organization_id, payload) values (%s, 'added today')", [ORG_A])
    plan = tenant.dry_run(rest, "missing-only")
    t = plan["tables"]["big_table"]
    assert t["to_insert"] == t["restored"] == len(gone) and t["to_update"] == t["to_delete"] == 0
    assert any("no_pk_table has no key" in w for w in plan["warnings"])
    done = tenant.apply(rest, plan["fingerprint"], "missing-only")
    assert done["tables"]["big_table"]["restored"] == len(gone)
    rows = dict(rows_of(odd_db, "select payload, count(*) from big_table where organization_id = %s "
                                "and payload in ('today', 'added today') group by 1", ORG_A))
    assert rows == {"today": 520, "added today": 1}
    assert rows_of(odd_db, "select count(*) from big_table where organization_id = %s", ORG_A)[0][0] == 2601


UNINSTALL = """drop function public.tenant_backup_restore_version(); drop table public.tenant_backup_staging;
               notify pgrst, 'reload schema';"""


def test_missing_or_outdated_helpers_are_reported_and_the_restore_refused(stack, odd_db, tmp_path):
    tenant = Tenant(odd_db, tmp_path / "store")
    install(odd_db, UNINSTALL)  # a project where `setup --print-sql` was never run
    with SupabaseRestore(stack.url, stack.service_key) as sr:
        gone = {"installed": False, "version": None, "current": False}
        wait_for(lambda: sr.helpers_state() == gone, "the helpers gone")
        with pytest.raises(HelpersMissing) as e:
            sr.restore(new_run_id(), ORG_A, [], "replace", False)
        assert str(e.value) == HELPERS_MISSING
        with pytest.raises(HelpersMissing):
            sr.stage(new_run_id(), "big_table", [(b'{"id": 1}\n', 1)])
        install(odd_db)  # then an older version replaces the marker
        install(odd_db, "create or replace function public.tenant_backup_restore_version() returns integer "
                        "language sql immutable as $$ select 0 $$; notify pgrst, 'reload schema';")
        # three schema reloads are queued by now: wait for the last one, not the first that shows helpers
        wait_for(lambda: sr.helpers_state() == {"installed": True, "version": 0, "current": False}, "the old helpers")
        state = everything(odd_db)
        with pytest.raises(HelpersMissing):
            sr.restore(new_run_id(), ORG_A, tenant.all_tables(), "replace", True, "x")
        assert everything(odd_db) == state
        install(odd_db)  # running the SQL again is the upgrade
        wait_for(lambda: sr.helpers_state()["current"], "the upgraded helpers")


def rpc(stack: SupabaseLocal, key: str, fn: str, body: dict) -> int:
    req = urllib.request.Request(f"{stack.url}/rest/v1/rpc/{fn}", data=json.dumps(body).encode(), method="POST",
                                 headers={"apikey": key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_anon_key_is_refused(rest, stack, odd_db, tmp_path):
    with pytest.raises(ConnectionFailed) as e:
        SupabaseRestore(stack.url, stack.anon_key)
    assert "anon key" in str(e.value) and "service_role" in str(e.value)
    tenant = Tenant(odd_db, tmp_path / "store")
    state = everything(odd_db)
    body = {"p_run_id": new_run_id(), "p_org": ORG_A, "p_tables": tenant.all_tables(), "p_mode": "replace",
            "p_apply": True, "p_fingerprint": "x"}
    for fn, args in (("tenant_backup_restore", body), ("tenant_backup_purge_staging", {}),
                     ("tenant_backup_fingerprint", {"p_org": ORG_A, "p_tables": tenant.all_tables()})):
        assert rpc(stack, stack.anon_key, fn, args) in (401, 403), fn
    # the staging table is closed to it too
    req = urllib.request.Request(f"{stack.url}/rest/v1/tenant_backup_staging", method="POST",
                                 data=json.dumps([{"run_id": new_run_id(), "tbl": "x", "n": 0, "r": "{}"}]).encode(),
                                 headers={"apikey": stack.anon_key, "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code in (401, 403)
    assert everything(odd_db) == state and staged(odd_db) == 0


def test_staging_survives_5xx_and_a_resent_batch_is_not_duplicated(rest, stack, odd_db, tmp_path):
    tenant = Tenant(odd_db, tmp_path / "store")
    with psycopg.connect(odd_db) as c:  # left by a restore that never finished, two days ago
        c.execute("insert into tenant_backup_staging (run_id, tbl, n, r, staged_at) "
                  "values (gen_random_uuid(), 'big_table', 0, '{}', now() - interval '2 days')")
    rest.backoff = 0.01
    assert rest.purge_staging() == 1  # what the driver's first stage() does; the faults below hit the batches
    stack.fail_next = 2  # the gateway answers 503 twice, then drops a connection without an answer
    stack.reset_next = 1
    run, tables = tenant.stage(rest, ["organizations", "big_table"])
    assert stack.fail_next == 0 and stack.reset_next == 0
    assert rows_of(odd_db, "select count(*) from tenant_backup_staging where run_id <> %s", run)[0][0] == 0
    assert rows_of(odd_db, "select count(*) from tenant_backup_staging where tbl = 'big_table'")[0][0] == 2600
    entry = tenant.info.tables["big_table"]
    # the same rows sent again (a retry whose first attempt had landed): ignored, not doubled
    rest.stage(run, "big_table", (b for p in entry.parts for b in iter_part_blocks(tenant.ctx.store, p)))
    assert rows_of(odd_db, "select count(*) from tenant_backup_staging where tbl = 'big_table'")[0][0] == 2600
    with psycopg.connect(odd_db) as c:
        c.execute("delete from big_table where organization_id = %s and id %% 2 = 0", [ORG_A])
    report = rest.restore(run, ORG_A, tables, "replace", False, fingerprint_tables=tenant.all_tables())
    assert report["tables"]["big_table"]["to_insert"] == 1300 and report["problems"] == []
    # a staged count that does not match what the caller sent is refused
    run2, tables2 = tenant.stage(rest, ["organizations", "big_table"])
    with psycopg.connect(odd_db) as c:
        c.execute("delete from tenant_backup_staging where run_id = %s and n = 5", [run2])
    with pytest.raises(TenantBackupError) as e:
        rest.restore(run2, ORG_A, tables2, "replace", False)
    assert "big_table" in str(e.value) and "2600 rows were sent but 2599 are staged" in str(e.value)


def test_references_that_would_dangle_are_reported_and_refuse_the_apply(rest, odd_db, tmp_path):
    tenant = Tenant(odd_db, tmp_path / "store")
    led = rows_of(odd_db, "select count(*) from teams where organization_id = %s and lead_member_id is not null",
                  ORG_A)[0][0]
    assert led > 0
    damage(odd_db, ORG_A)  # among others: A's members deleted, teams.lead_member_id cleared
    state = everything(odd_db)
    plan = tenant.dry_run(rest, names=["teams"])  # teams alone would point at members that are gone
    assert list(plan["tables"]) == ["teams"] and plan["tables"]["teams"]["to_update"] > 0
    assert any(p.startswith(f"{led} row(s) of teams would reference missing members rows through lead_member_id")
               for p in plan["problems"]), plan["problems"]
    assert plan["dangling"][0]["table"] == "teams" and plan["dangling"][0]["parent"] == "members"
    with pytest.raises(TenantBackupError) as e:
        tenant.apply(rest, plan["fingerprint"], names=["teams"])
    assert str(e.value).startswith("the restore was refused and nothing was changed: ")
    assert everything(odd_db) == state


def test_the_apply_waits_for_nobody_while_another_job_holds_the_tenant(rest, odd_db, tmp_path):
    tenant = Tenant(odd_db, tmp_path / "store")
    plan = tenant.dry_run(rest)
    with TenantLock(odd_db, ORG_A, 1):  # a backup or restore over the direct connection
        with pytest.raises(LockBusy) as e:
            tenant.apply(rest, plan["fingerprint"])
    assert "another backup or restore of organization" in str(e.value)
    assert tenant.apply(rest, plan["fingerprint"])["applied"] is True


def test_staged_rows_answer_the_plans_checks(rest, odd_db, tmp_path):
    tenant = Tenant(odd_db, tmp_path / "store")
    run, _ = tenant.stage(rest, ["odd_types"])
    too_big = rows_of(odd_db, "select count(*) from odd_types where organization_id = %s "
                              "and i_int not between -32768 and 32767", ORG_A)[0][0]
    info = rest.staged_info(run, "odd_types", ["t_text", "n_inet"], {"i_int": "smallint", "u_uuid": "uuid",
                                                                      "t_text": "not_a_type"})
    assert info["keys"] == sorted(c["name"] for c in tenant.info.tables["odd_types"].columns)
    held = rows_of(odd_db, "select count(t_text), count(n_inet) from odd_types where organization_id = %s", ORG_A)[0]
    assert info["non_null"] == {"t_text": held[0], "n_inet": held[1]} and held[1] < 7
    assert info["unconvertible"] == {"i_int": too_big, "u_uuid": 0, "t_text": None} and too_big > 0
    rest.discard(run)
    assert staged(odd_db) == 0


def test_the_restore_rpc_outlives_the_api_roles_statement_timeout_or_says_what_to_do(rest, odd_db, tmp_path):
    """Supabase gives the API roles a short statement timeout (service_role falls back to 8 s); the
    restore function carries its own. Where a server does not honour it, the one line points to the
    direct connection and nothing changes."""
    tenant = Tenant(odd_db, tmp_path / "store")
    damage(odd_db, ORG_A)
    damaged = everything(odd_db)
    sig = "public.tenant_backup_restore(uuid, text, json, text, boolean, text, json, json, text)"

    def role_timeout(value: str | None) -> None:
        with psycopg.connect(odd_db, autocommit=True) as c:
            c.execute("alter role service_role set statement_timeout = '1ms'" if value else
                      "alter role service_role reset statement_timeout")
            c.execute("notify pgrst, 'reload config'")
        time.sleep(1)  # PostgREST reloads its role settings asynchronously

    first, second = tenant.stage(rest), tenant.stage(rest)
    role_timeout("1ms")
    try:
        report = rest.restore(first[0], ORG_A, first[1], "replace", False, fingerprint_tables=tenant.all_tables())
        assert report["tables"]["big_table"]["to_delete"] > 0  # done, under its own timeout
        with psycopg.connect(odd_db, autocommit=True) as c:
            c.execute(f"alter function {sig} reset statement_timeout")
            c.execute("notify pgrst, 'reload schema'")
        time.sleep(1)
        with pytest.raises(ConnectionFailed) as e:
            rest.restore(second[0], ORG_A, second[1], "replace", False, fingerprint_tables=tenant.all_tables())
    finally:
        role_timeout(None)
    assert "statement timeout" in str(e.value) and "TENANT_BACKUP_DATABASE_URL" in str(e.value)
    assert len(str(e.value).splitlines()) == 1
    rest.discard(second[0])  # what RestRestoreSession does on any failure
    assert everything(odd_db) == damaged


def test_the_helpers_never_reach_a_table_the_api_role_may_not_write(rest, odd_db, tmp_path):
    """They run as their owner, to set session_replication_role; they must not lend the service
    role rights it does not have."""
    tenant = Tenant(odd_db, tmp_path / "store")
    run, tables = tenant.stage(rest)
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("revoke insert on big_table from service_role")
    try:
        with pytest.raises(TenantBackupError) as e:
            rest.restore(run, ORG_A, tables, "replace", False, fingerprint_tables=tenant.all_tables())
    finally:
        with psycopg.connect(odd_db, autocommit=True) as c:
            c.execute("grant insert on big_table to service_role")
    assert "may not read and write table public.big_table" in str(e.value)


def test_keys_of_extension_types_compare_with_their_own_equality(rest, odd_db, tmp_path):
    """A citext key that only changed case is the same row: missing-only leaves it alone (with
    text's `=` it would re-insert it and hit the unique key), replace counts it as an update."""
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("create extension if not exists citext")
        c.execute("create table tags (code citext primary key, organization_id uuid not null, note text)")
        c.execute("insert into tags values ('Abc', %s, 'a'), ('def', %s, 'd'), ('Ghi', %s, 'g')", [ORG_A] * 3)
        c.execute("grant all on tags to service_role")
    tenant = Tenant(odd_db, tmp_path / "store")
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("update tags set code = 'ABC' where code = 'Abc'")
        c.execute("delete from tags where code = 'def'")
    plan = tenant.dry_run(rest, "replace")
    assert {k: plan["tables"]["tags"][k] for k in ("to_insert", "to_update", "to_delete")} == \
        {"to_insert": 1, "to_update": 1, "to_delete": 0}
    plan = tenant.dry_run(rest, "missing-only")
    assert plan["tables"]["tags"]["to_insert"] == 1 and plan["problems"] == []
    tenant.apply(rest, plan["fingerprint"], "missing-only")
    assert sorted(r[0] for r in rows_of(odd_db, "select code::text from tags")) == ["ABC", "Ghi", "def"]
