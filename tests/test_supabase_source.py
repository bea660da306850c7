"""The Supabase REST source against the real PostgREST (configured as Supabase: max-rows 1000, RLS
on, anon and service keys) on the real PostgreSQL, with the SQL installed as the SQL editor would:
a backup over REST holds the very rows, byte for byte, that the direct connection exports — past
the row cap, through parent paths, across injected 5xx — and refuses what would make it wrong."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest

from tenant_backup_gui.core.config import Config
from tenant_backup_gui.core.errors import ConnectionFailed, LockBusy, TenantBackupError
from tenant_backup_gui.core.scope import discover_scope
from tenant_backup_gui.sources import postgres, supabase_rest
from tenant_backup_gui.sources.supabase_rest import RestSnapshot, RestTenantLock, SupabaseProject

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


def _wait_for_functions(stack: SupabaseLocal) -> None:
    """PostgREST reloads its schema cache on `notify pgrst` (the SQL ends with it): wait for it."""
    deadline = time.monotonic() + 20
    while True:
        req = urllib.request.Request(stack.url + "/rest/v1/rpc/tenant_backup_info", data=b"{}", method="POST",
                                     headers={"apikey": stack.service_key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5):
                return
        except urllib.error.HTTPError as e:
            if e.code != 404 or time.monotonic() > deadline:
                raise


@pytest.fixture
def supa(odd_db):
    """(database URL, the local Supabase, a SupabaseProject with the service key), the tool's SQL
    installed after the project exists, as its SQL editor would."""
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute(MORE_ROWS)
    with SupabaseLocal(odd_db) as stack:
        with psycopg.connect(odd_db, autocommit=True) as c:
            c.execute(setup_sql())
            c.execute(supabase_rest.setup_sql())
        _wait_for_functions(stack)
        with SupabaseProject(stack.url, stack.service_key, retries=3, backoff=0.05) as project:
            yield odd_db, stack, project


def collect(snap, scope, org) -> tuple[int, list[bytes]]:
    chunks: list[bytes] = []
    rows = snap.export(scope, org, 64 * 1024, lambda b, n: chunks.append(b), threading.Event())
    return rows, b"".join(chunks).splitlines()


def direct_export(url: str, org: str) -> dict[str, list[bytes]]:
    with postgres.Snapshot(url, Config()) as snap:
        scope = discover_scope(snap.catalog, Config())
        return {s.table.key_name: collect(snap, s, org)[1] for s in scope.tables}


def test_rest_backup_is_byte_identical_to_the_direct_export_past_max_rows(supa):
    url, stack, project = supa
    direct = direct_export(url, ORG_A)
    with RestSnapshot(project, Config(), page_rows=1500) as snap:
        with postgres.Snapshot(url, Config()) as dsnap:
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
