"""The Supabase REST source against the real PostgREST (configured as Supabase: max-rows 1000, RLS
on, anon and service keys) on the real PostgreSQL, with the SQL installed as the SQL editor would:
a backup over REST holds the very rows, byte for byte, that the direct connection exports — past
the row cap, through parent paths, across injected 5xx — and refuses what would make it wrong."""

from __future__ import annotations

import os
import re
import threading
import time

import psycopg
import pytest

from tenant_backup_gui.core.config import Config
from tenant_backup_gui.core.errors import ConnectionFailed, LockBusy, TenantBackupError
from tenant_backup_gui.core.scope import discover_scope
from tenant_backup_gui.sources import shared
from tenant_backup_gui.sources.direct.history import History
from tenant_backup_gui.sources.direct.lock import TenantLock
from tenant_backup_gui.sources.direct.snapshot import Snapshot
from tenant_backup_gui.sources.direct.tenants import list_tenants
from tenant_backup_gui.sources.rest import catalog as rest_catalog, setup as rest_setup, tenants as rest_tenants
from tenant_backup_gui.sources.rest.history import RestHistory
from tenant_backup_gui.sources.rest.lock import RestTenantLock
from tenant_backup_gui.sources.rest.snapshot import RestSnapshot
from tenant_backup_gui.sources.supabase_http import SupabaseProject

from .conftest import ORG_A, ORG_B, ORG_C, setup_sql
from .supabase_local import SupabaseLocal, postgrest_binary
from .supabase_local.stack import jwt

pytestmark = pytest.mark.skipif(postgrest_binary() is None, reason="PostgREST not installed (.ci/run installs it)")

# Past max-rows (1000) in every shape: by the tenant column, a child through one parent (order_items),
# a grandchild through two (order_item_notes), a composite unique key, no key at all (ctid pages).
MORE_ROWS = f"""
insert into big_table (organization_id, payload)
  select '{ORG_A}', 'more ' || g || case when g % 50 = 0 then E' \\u00e9\\t"q"\\\\' else '' end from generate_series(1, 1500) g;
insert into orders select gen_random_uuid(), '{ORG_A}', date '2020-01-01' + g from generate_series(1, 1200) g;
insert into order_items select gen_random_uuid(), o.id, 'SKU-' || i, i
  from orders o, generate_series(1, 3) i where o.placed < '2024-01-01';
insert into order_item_notes (order_item_id, note)
  select id, 'note ' || sku || case when qty = 1 then E'\\nsecond line' else '' end from order_items where qty < 3
  and order_id in (select id from orders where placed < '2024-01-01');
insert into no_pk_table select '{ORG_A}', g % 900, case when g % 3 = 0 then null else 'dup ' || (g % 10) end
  from generate_series(1, 2600) g;
insert into unique_only select '{ORG_A}', 'K' || g, 'label ' || g from generate_series(1, 2600) g;
"""
BIG = {"big_table": 3000, "order_items": 3612, "order_item_notes": 2408, "no_pk_table": 2605, "unique_only": 2603}


@pytest.fixture
def supa(odd_db):
    """(database URL, the local Supabase, a SupabaseProject with the service key), the tool's SQL
    installed after the project exists, as its SQL editor would."""
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute(MORE_ROWS)
    with SupabaseLocal(odd_db) as stack:
        with psycopg.connect(odd_db, autocommit=True) as c:
            c.execute(setup_sql())
            c.execute(rest_setup.setup_sql())
        stack.wait_for_schema()  # PostgREST reloads its schema cache asynchronously
        with SupabaseProject(stack.url, stack.service_key, retries=3, backoff=0.05) as project:
            yield odd_db, stack, project


def collect(snap, scope, org) -> tuple[int, list[bytes]]:
    chunks: list[bytes] = []
    rows = snap.export(scope, org, 64 * 1024, lambda b, n: chunks.append(b), threading.Event())
    return rows, b"".join(chunks).splitlines()


def direct_export(url: str, org: str) -> dict[str, list[bytes]]:
    with Snapshot(url, Config()) as snap:
        scope = discover_scope(snap.catalog, Config())
        return {s.table.key_name: collect(snap, s, org)[1] for s in scope.tables}


def test_rest_backup_is_byte_identical_to_the_direct_export_past_max_rows(supa):
    url, stack, project = supa
    direct = direct_export(url, ORG_A)
    with RestSnapshot(project, Config(), page_rows=1500) as snap:
        with Snapshot(url, Config()) as dsnap:
            assert snap.catalog == dsnap.catalog  # one catalog query, one parser
        scope = discover_scope(snap.catalog, Config())
        assert scope.get("order_item_notes").how == "parent" and len(scope.get("order_item_notes").path) == 2
        rest = {}
        for s in scope.tables:
            rows, lines = collect(snap, s, ORG_A)
            assert rows == len(lines)
            rest[s.table.key_name] = lines
    assert set(rest) == set(direct)
    for name, lines in direct.items():
        # Same rows, same bytes; REST pages in key order, COPY in physical order.
        assert sorted(rest[name]) == sorted(lines), name
    for name, n in BIG.items():
        assert len(rest[name]) == n
    assert any(b'"a_int":"[0:2]={1,2,3}"' in line for line in rest["odd_types"])  # text columns travel as text
    assert len(set(rest["no_pk_table"])) < len(rest["no_pk_table"])  # duplicates kept (ctid pages)


def test_the_old_one_request_per_table_read_truncates_the_same_data(supa):
    url, stack, project = supa
    client = project.client
    r = project.run(client.table("big_table").select("*").eq("organization_id", ORG_A).execute())
    assert len(r.data) == 1000 < BIG["big_table"]  # what the old system stored as complete
    with RestSnapshot(project, Config()) as snap:
        rows, _ = collect(snap, discover_scope(snap.catalog, Config()).get("big_table"), ORG_A)
    assert rows == BIG["big_table"]


def test_keys_that_are_not_the_service_role_are_refused_before_anything_is_read(supa):
    url, stack, project = supa
    for key, said in [(stack.anon_key, "the anon key"), (jwt("authenticated"), "the authenticated key"),
                      ("sb_publishable_abc123", "the publishable key")]:
        with SupabaseProject(stack.url, key) as p, pytest.raises(ConnectionFailed) as e:
            RestSnapshot(p, Config()).__enter__()
        msg = str(e.value)
        assert said in msg and "silently empty" in msg and "service_role" in msg
        assert key not in msg and "\n" not in msg
    # The server agrees: only the service role may run the tool's functions, whatever a key claims.
    with SupabaseProject(stack.url, stack.anon_key) as p, pytest.raises(ConnectionFailed) as e:
        p.run(p.rpc("tenant_backup_export_page", {"tbl": {}, "scope": {}, "org": ORG_A}, "exporting"))
    assert "permission denied" in str(e.value)
    forged = jwt("service_role", secret="not-the-projects-secret-but-32-characters-long")
    with SupabaseProject(stack.url, forged) as p, pytest.raises(ConnectionFailed) as e:
        p.check()
    assert "refused the key" in str(e.value) and forged not in str(e.value)


def test_an_injected_5xx_mid_export_is_retried_and_the_result_is_still_exact(supa):
    url, stack, project = supa
    direct = direct_export(url, ORG_A)["order_items"]
    with RestSnapshot(project, Config(), page_rows=1000) as snap:
        scope = discover_scope(snap.catalog, Config()).get("order_items")
        chunks = []

        def sink(batch: bytes, rows: int) -> None:
            chunks.append(batch)
            if len(chunks) == 1:
                stack.fail_next = 2  # the next two requests get 503

        rows = snap.export(scope, ORG_A, 1, sink, threading.Event())
    assert stack.fail_next == 0 and len(chunks) > 2
    assert rows == len(direct) and sorted(b"".join(chunks).splitlines()) == sorted(direct)


def test_a_project_that_keeps_failing_fails_the_export_loudly(supa):
    url, stack, project = supa
    with RestSnapshot(project, Config(), page_rows=1000) as snap:
        scope = discover_scope(snap.catalog, Config()).get("big_table")
        stack.fail_next = 100
        with pytest.raises(ConnectionFailed) as e:
            collect(snap, scope, ORG_A)
    stack.fail_next = 0
    msg = str(e.value)  # four attempts (retries=3), then one line that says so
    assert "failed 4 times (" in msg and "503" in msg and msg.endswith("run it again") and "\n" not in msg


def test_a_count_that_moves_during_the_export_is_reported(supa):
    url, stack, project = supa
    with RestSnapshot(project, Config(), page_rows=1000) as snap:
        scope = discover_scope(snap.catalog, Config()).get("big_table")

        def sink(batch: bytes, rows: int) -> None:
            with psycopg.connect(url, autocommit=True) as c:  # the app writes while we page
                c.execute(f"insert into big_table (organization_id, payload) values ('{ORG_A}', 'late')")

        with pytest.raises(TenantBackupError) as e:
            snap.export(scope, ORG_A, 1, sink, threading.Event())
    # One row is written per page delivered; how many pages run before the check depends on the machine's
    # speed, and "before" is counted alongside the first page (a loaded machine may count after its row).
    moved = re.match(r"table big_table changed during the backup \((\d+) rows before, (\d+) after\)", str(e.value))
    assert moved and 3000 <= int(moved[1]) < int(moved[2]), str(e.value)
    assert str(e.value).endswith("run the backup again")


def test_a_keyless_table_changed_during_the_export_is_reported_as_changed(supa):
    """Paged by physical position, an updated row moves to the end and would be read twice."""
    url, stack, project = supa
    with RestSnapshot(project, Config(), page_rows=500) as snap:
        scope = discover_scope(snap.catalog, Config()).get("no_pk_table")
        assert not scope.table.row_key[0]
        moved = []

        def sink(batch: bytes, rows: int) -> None:
            if not moved:  # the app updates a row already read: its new version lands past the cursor
                with psycopg.connect(url, autocommit=True) as c:
                    moved.append(c.execute("update no_pk_table set b = 'edited' where ctid = (select min(ctid) from "
                                           "no_pk_table where organization_id = %s)", [ORG_A]).rowcount)

        with pytest.raises(TenantBackupError) as e:
            snap.export(scope, ORG_A, 1, sink, threading.Event())
    assert moved == [1]
    assert str(e.value).startswith("table no_pk_table changed during the backup") and "run the backup again" in str(e.value)


def test_counts_follow_the_parent_path_through_postgrest_and_the_installed_function(supa):
    url, stack, project = supa
    with RestSnapshot(project, Config()) as snap:
        scope = discover_scope(snap.catalog, Config())
        for name in ("order_item_notes", "unique_only", "organizations"):
            s = scope.get(name)
            assert rest_catalog.embedded_filter(s, snap.catalog) is not None
            assert snap.count(s, ORG_A) == len(direct_export(url, ORG_A)[name])
        notes = scope.get("order_item_notes")
        assert rest_catalog.embedded_filter(notes, snap.catalog)[0] == \
            "order_items!order_item_id!inner(orders!order_id!inner(organization_id))"
        # Where PostgREST cannot express the path, the installed function counts the same rows.
        r = project.run(project.rpc("tenant_backup_count", rest_catalog.rows_args(notes, snap.catalog, ORG_A),
                                    "count"))
        assert r.json() == BIG["order_item_notes"]


def test_the_rest_lock_excludes_a_second_holder_and_expires(supa):
    url, stack, project = supa
    with RestTenantLock(project, ORG_A, 0):
        with pytest.raises(LockBusy) as e:
            RestTenantLock(project, ORG_A, 0.5).__enter__()
        assert "another backup or restore of organization" in str(e.value) and "tenant-backup" in str(e.value)
        with RestTenantLock(project, ORG_B, 0):  # other tenants are free
            pass
    with RestTenantLock(project, ORG_A, 0):  # released on exit
        pass
    # A holder that renews keeps it past its ttl; one that crashed (stops renewing) loses it at expiry.
    alive = RestTenantLock(project, ORG_A, 0, ttl_seconds=1).__enter__()
    time.sleep(1.6)
    with pytest.raises(LockBusy):
        RestTenantLock(project, ORG_A, 0).__enter__()
    alive._stop.set()  # the run "crashes": no more renewals, no release
    alive._beat.join()
    with RestTenantLock(project, ORG_A, 3):
        assert alive.project is project
    # A run over a direct connection of the same tenant excludes a REST run too.
    with TenantLock(url, ORG_C, 0):
        with pytest.raises(LockBusy) as e:
            RestTenantLock(project, ORG_C, 0.3).__enter__()
        assert "direct database connection" in str(e.value)
    # ...and a REST run's lease excludes a direct-connection run: the roads exclude each other both ways.
    with RestTenantLock(project, ORG_C, 0):
        with pytest.raises(LockBusy) as e:
            TenantLock(url, ORG_C, 0.3).__enter__()
        assert "another backup or restore of organization" in str(e.value) and "tenant-backup" in str(e.value)
    with TenantLock(url, ORG_C, 0):  # the lease is gone with its run
        pass


def test_tenants_history_and_setup_over_rest_match_the_direct_path(supa):
    url, stack, project = supa
    with Snapshot(url, Config()) as snap:
        direct = list_tenants(snap.conn, snap.catalog, Config())
    assert rest_tenants.list_tenants(project, Config()) == direct
    assert [t.deleted for t in direct if t.id == ORG_C] == [True]
    with RestSnapshot(project, Config()) as snap:
        assert snap.tenant(ORG_B).name == 'Côté & "Fils"'
        assert snap.tenant("00000000-0000-4000-8000-0000000000ff") is None
        assert snap.server_version >= 140000
    history = RestHistory(project)
    log_id = history.start("manual", ORG_A, {"store": "x"})
    history.finish(log_id, "completed", records=5, size=9, tables=2, metadata={"backup_id": "b1"}, backup_id="b1")
    rows = History(url).rows(ORG_A)
    assert rows[0]["id"] == log_id and rows[0]["status"] == "completed" and rows[0]["records_backed_up"] == 5
    from tenant_backup_gui.platform.processes import process_tag
    assert rows[0]["metadata"] == {"store": "x", "backup_id": "b1", **process_tag()}  # as the direct road
    rest_rows = history.rows(ORG_A)
    assert rest_rows[0]["id"] == log_id and rest_rows[0]["completed_at"] == rows[0]["completed_at"]
    assert history.warnings == []
    assert rest_setup.setup_state(project) == {"installed": True, "version": shared.SCHEMA_VERSION,
                                                   "supabase_version": shared.EXPORT_VERSION, "current": True}
    assert rest_setup.server_info(project) == {"kind": "supabase", "project": stack.url.split("//")[1]}


def test_keys_of_extension_types_page_in_their_own_order(supa):
    """A citext key: `>` and ORDER BY must both be citext's (with text's `>`, pages skipped rows)."""
    url, stack, project = supa
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("create extension if not exists citext")
        c.execute("create table tags (code citext primary key, organization_id uuid not null)")
        c.execute("insert into tags select case when g %% 2 = 0 then 'K' else 'k' end || g, %s "
                  "from generate_series(1, 2500) g", [ORG_A])
        c.execute("grant all on tags to service_role")
        c.execute("notify pgrst, 'reload schema'")
    direct = direct_export(url, ORG_A)["tags"]
    with RestSnapshot(project, Config(), page_rows=7) as snap:
        scope = discover_scope(snap.catalog, Config())
        rows, lines = collect(snap, scope.get("tags"), ORG_A)
    assert rows == 2500 and sorted(lines) == sorted(direct)
