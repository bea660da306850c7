"""Over the direct connection the restore decodes a backup's lines on several cores (its stages
are unlogged tables parallel workers can read): the result is the same, byte for byte, and those
stages never outlive the restore nor let another table pose as one."""

from __future__ import annotations

import time

import psycopg
import pytest

from .conftest import ORG_A, cli_json, fingerprint
from .test_restore import apply, damage, dry_run, everything


def _workers_launched(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("select pg_stat_clear_snapshot()")
        return c.execute("select parallel_workers_launched from pg_stat_database "
                         "where datname = current_database()").fetchone()[0]


def _stages(url: str) -> list[str]:
    with psycopg.connect(url) as c:
        return [r[0] for r in c.execute("select relname from pg_class where relname like 'tenant\\_backup\\_stage\\_%'")]


def test_decoding_on_several_cores_restores_every_type_byte_for_byte(odd_db, env):
    """Even the smallest tables are decoded by parallel workers here (the server is told any table
    is big enough): every odd type comes back exactly, and the workers did run."""
    db = odd_db
    env(db)
    with psycopg.connect(db, autocommit=True) as c:
        c.execute(psycopg.sql.SQL("alter database {} set min_parallel_table_scan_size = 0").format(
            psycopg.sql.Identifier(c.info.dbname)))
    before = everything(db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    damage(db, ORG_A)
    workers = _workers_launched(db)
    plan = dry_run(ORG_A, backup["id"])
    assert plan["success"], plan["problems"]
    done = apply(ORG_A, backup["id"], plan["plan_id"])
    assert done.returncode == 0, done.stderr
    after = everything(db)
    for table, rows in after.items():
        if table in ("order_items", "order_item_notes", "trigger_hits", "countries"):
            continue
        assert [r for r in rows if ORG_A in r] == [r for r in before[table] if ORG_A in r], table
    assert fingerprint(db, ["odd_types"]) == {"odd_types": before["odd_types"]}
    deadline = time.monotonic() + 10  # each backend reports its statistics when it ends
    while _workers_launched(db) == workers and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _workers_launched(db) > workers
    assert _stages(db) == []


def test_the_direct_roads_stages_never_outlive_the_restore_and_no_table_poses_as_one(odd_db, env):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    plan = dry_run(ORG_A, backup["id"])
    assert _stages(odd_db) == []  # the dry run rolled them back
    assert apply(ORG_A, backup["id"], plan["plan_id"]).returncode == 0
    assert _stages(odd_db) == []  # the apply dropped them before its commit
    # a table of that name that this transaction did not create is not a stage: it could hold anything
    with psycopg.connect(odd_db) as c:
        c.execute("create unlogged table public.tenant_backup_stage_x_0 (r text)")
        c.execute("insert into public.tenant_backup_stage_x_0 values ('{\"id\": 1}')")
    with psycopg.connect(odd_db) as c, pytest.raises(psycopg.Error) as e:  # TB009: outside what the helpers may touch
        c.execute("select public.tenant_backup_staged_info('00000000-0000-0000-0000-000000000000', 'big_table', "
                  "p_stage => 'public.tenant_backup_stage_x_0')")
    assert "must be in a temporary table of this session" in str(e.value) and e.value.sqlstate == "TB009"
