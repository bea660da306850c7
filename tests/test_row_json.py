"""The row JSON is defined once (resources/sql/rows.sql) and is the very bytes older versions wrote.

Fingerprints and restores compare these bytes with the lines of backups already taken, so the
cheaper expression (a LATERAL cast of the json, jsonb and array columns the planner folds into the
scan) must render exactly what the per-row sub-select of earlier versions rendered, for every type."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg.types.json import Json

from tenant_backup_gui.core.config import Config
from tenant_backup_gui.core.scope import discover_scope, scope_json
from tenant_backup_gui.sources.direct.catalog import rows_query
from tenant_backup_gui.sources.direct.snapshot import Snapshot
from tenant_backup_gui.sources.shared import table_json

from .conftest import ORG_A, ORG_B, cli_json, run_cli
from .helpers import load_summary, table_lines
from .old_row_json import old_row_json

# Types the odd schema does not hold yet: domains over json and arrays, arrays with bounds and more
# dimensions, extension types (citext, isn, seg, hstore), a composite, and column names that need
# quoting — one of them "x", which the old sub-select `(SELECT x FROM (…) x)` read as the column.
MORE_TYPES = """
create extension if not exists citext; create extension if not exists isn;
create extension if not exists seg; create extension if not exists hstore;
create domain doc as jsonb; create domain tags as text[]; create type pair as (a int, b text);
create table more_types (id int primary key, organization_id uuid not null, "Mixed Case" text, "it's" json,
  "größe" numeric, d_doc doc, d_tags tags, a3 int[], a_json json[], a_jsonb jsonb[], c_citext citext,
  c_isbn isbn13, c_seg seg, c_hstore hstore, c_pair pair, a_pair pair[], a_range int4range[], f4 real, f8 float8);
insert into more_types values
  (1, '{ORG}', 'A "q" \\ é', '{"k" : [1, 2]}', 1e-30, '{"z": 1, "a": [true, null]}', '{a,NULL,"b c"}',
   '[2:3][-1:0]={{1,2},{3,4}}', array['null'::json, '{"x":1}'::json, null], array['[]'::jsonb],
   'MiXeD', '978-0-306-40615-7', '1 .. 2', 'a=>1, b=>NULL', row(1, 'x,y'), array[row(2, null)::pair],
   array['[1,5)'::int4range, 'empty'], '-0', '-Infinity'),
  (2, '{ORG}', null, 'null', 'NaN', 'null', '{}', '{}', '{}', null, null, null, null, null, null, '{}', null,
   'Infinity', '1e-310'),
  (3, '{ORG}', '', null, null, null, null, null, null, null, null, null, null, null, row(null, null), null, null,
   null, null),
  (4, '{OTHER}', 'someone else', '1', 0, '2', '{z}', '{9}', null, null, 'o', null, null, null, null, null, null, 0, 0);
create table x_marks (id int primary key, organization_id uuid not null, x int, tb$row text, tb$json text, j jsonb);
insert into x_marks values (1, '{ORG}', 7, 'r', 'j', '{"a": 1}'), (2, '{OTHER}', 8, 'r', 'j', '[]');
"""


def lines(conn, query: str) -> list[str]:
    return [r[0] for r in conn.execute(f"SELECT j::text FROM ({query}) AS q(j) ORDER BY 1")]


@pytest.fixture
def typed_db(odd_db):
    with psycopg.connect(odd_db) as c:
        c.execute(MORE_TYPES.replace("{ORG}", ORG_A).replace("{OTHER}", ORG_B))
    return odd_db


def test_row_json_is_byte_identical_to_the_old_sub_select_for_every_type(typed_db):
    with Snapshot(typed_db, Config()) as snap:
        scope = discover_scope(snap.catalog, Config())
        checked = 0
        for s in scope.tables:
            t = s.table
            if t.name == "x_marks":
                continue  # the old expression cannot read it (its column x): see the next test
            new = lines(snap.conn, rows_query(snap.conn, s, snap.catalog, ORG_A))
            old = lines(snap.conn, rows_query(snap.conn, s, snap.catalog, ORG_A, old_row_json(t)))
            assert new == old, t.name
            # The digest (REST export's change check, the restore's fingerprint) hashes the same text.
            digest_new = snap.conn.execute("SELECT public.tenant_backup_rows_digest(%s::regclass, %s, %s, %s)", [
                f'"{t.schema}"."{t.name}"', Json(table_json(t)["columns"]),
                Json(scope_json(s, snap.catalog)), ORG_A]).fetchone()[0]
            digest_old = snap.conn.execute(rows_query(
                snap.conn, s, snap.catalog, ORG_A, f"count(*)::text || ':' || coalesce(sum(hashtextextended(("
                f"{old_row_json(t)})::text, 0)::numeric), 0)::text")).fetchone()[0]
            assert digest_new == digest_old, t.name
            checked += bool(t.text_columns) and len(new) > 0
    assert checked >= 2  # odd_types and more_types: rows with json, jsonb and array columns were compared


def test_a_table_with_columns_named_like_the_aliases_backs_up_exactly(typed_db, env):
    """A column named x (or tb$row, tb$json) next to a jsonb column: the old sub-select read x as
    that column and the backup failed; the backup holds each row whole."""
    store = env(typed_db)
    b = cli_json("backup", "--org", ORG_A)["backup"]
    lines = table_lines(store, load_summary(store, ORG_A, b["id"]), "x_marks")
    assert lines == ['{"id":1,"organization_id":"%s","x":7,"tb$row":"r","tb$json":"j","j":"{\\"a\\": 1}"}' % ORG_A]


def test_the_direct_backup_refuses_missing_or_old_export_helpers_with_one_line(odd_db, env):
    env(odd_db)
    with psycopg.connect(odd_db) as c:  # an install from before the row JSON moved into the SQL
        c.execute("update tenant_backup_meta set value = '1' where key = 'supabase_version'")
    cp = run_cli("backup", "--org", ORG_A)
    assert cp.returncode != 0 and "run: tenant-backup setup" in cp.stderr and "Traceback" not in cp.stderr
    assert len(cp.stderr.strip().splitlines()) == 1, cp.stderr
    setup = next(c for c in json.loads(run_cli("doctor", "--json").stdout)["checks"] if c["name"] == "setup")
    assert setup["status"] == "fail" and "export helpers version 1" in setup["message"], setup
    with psycopg.connect(odd_db) as c:
        c.execute("drop function public.tenant_backup_export_query(json, json, text)")
        c.execute("update tenant_backup_meta set value = '2' where key = 'supabase_version'")
    cp = run_cli("backup", "--org", ORG_A)
    assert cp.returncode != 0 and "run: tenant-backup setup" in cp.stderr and "Traceback" not in cp.stderr
    cli_json("setup")  # setup upgrades it in place
    assert cli_json("backup", "--org", ORG_A)["success"] is True
