"""`daily --jobs N` (tenants at once on a bounded pool of connections, the catalog read once per
run) and `daily --shard I/N` (N processes, no coordinator: each tenant backed up by exactly one,
retention by the same one)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from .conftest import LEGACY_ORG, LEGACY_SAMPLE, ORG_A, ORG_B, ORG_C, ROOT, cli_json, run_cli
from .helpers import summaries

LEGACY = LEGACY_SAMPLE / "tenant-backups" / LEGACY_ORG


def add_tenants(url: str, n: int, deleted: int = 0) -> list[str]:
    """n more organizations (the last `deleted` of them deleted), each with one row of its own."""
    ids = [str(uuid.UUID(int=0xABC0000 + i, version=4)) for i in range(n)]
    with psycopg.connect(url, autocommit=True) as c:
        for k, org in enumerate(ids):
            c.execute("insert into organizations (id, name, deleted_at) values (%s, %s, %s)",
                      [org, f"Tenant {k:02d}", "2026-01-01" if k >= n - deleted else None])
            c.execute("insert into orders (id, organization_id, placed) values (gen_random_uuid(), %s, now())", [org])
    return ids


def active_ids(url: str) -> set[str]:
    with psycopg.connect(url) as c:
        return {r[0] for r in c.execute("select id::text from organizations where deleted_at is null")}


def sessions(url: str) -> int:
    """Connections ever opened to this database (PostgreSQL's own count)."""
    with psycopg.connect(url) as c:
        c.execute("select pg_stat_clear_snapshot()")
        return c.execute("select sessions from pg_stat_database where datname = current_database()").fetchone()[0]


def test_daily_jobs_backs_up_every_tenant_once_on_a_few_connections(odd_db, env):
    store = env(odd_db)
    add_tenants(odd_db, 12, deleted=2)
    active = active_ids(odd_db)
    before = sessions(odd_db)
    doc = cli_json("daily", "--jobs", "3")
    opened = sessions(odd_db) - before
    assert doc["success"], doc["tenants"]
    assert doc["jobs"] == 3 and doc["catalog_reads"] == 1
    assert {t["organization_id"] for t in doc["tenants"]} == active
    assert all(len(summaries(store, org)) == 1 for org in active)
    assert not (store / "tenant-backups" / ORG_C).exists()  # deleted: skipped
    # One connection per tenant job, reused: far fewer than the four per tenant of a lone backup.
    assert opened < len(active), f"{opened} connections for {len(active)} tenants"
    hist = cli_json("history", "--type", "daily_tenant", "--limit", "100")
    assert sorted(r["organization_id"] for r in hist) == sorted(active)
    assert all(r["status"] == "completed" and r["backup_id"] for r in hist)
    a = json.loads(summaries(store, ORG_A)[0].read_text())
    assert a["manifest"]["tables"]["odd_types"]["record_count"] > 0


def test_more_jobs_than_tenants_exports_each_tenants_tables_in_parallel_just_as_exactly(odd_db, env, tmp_path):
    store = env(odd_db)
    doc = cli_json("daily", "--jobs", "4")  # two active tenants: two lanes each
    assert doc["success"] and doc["summary"]["successful_tenants"] == 2
    one = cli_json("backup", "--org", ORG_A, "--jobs", "1")["backup"]
    daily = next(t for t in doc["tenants"] if t["organization_id"] == ORG_A)
    from .helpers import load_summary, table_lines
    d, s = load_summary(store, ORG_A, daily["backup_id"]), load_summary(store, ORG_A, one["id"])
    assert list(d["manifest"]["tables"]) == list(s["manifest"]["tables"])
    for name in s["manifest"]["tables"]:
        assert table_lines(store, d, name) == table_lines(store, s, name), name


def test_a_schema_change_during_the_run_reaches_the_next_tenants(odd_db, env):
    """The catalog is read once per run, but a column added meanwhile is in every later tenant's
    backup: each tenant re-checks the catalog's fingerprint in its own snapshot."""
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.context import Context
    from tenant_backup_gui.services.daily import DailyJob
    store = env(odd_db)
    ids = add_tenants(odd_db, 5)
    finished: list[str] = []

    def on_event(ev):
        if ev.kind == "finished" and ev.organization_id:
            finished.append(ev.organization_id)
            if len(finished) == 1:  # after the first tenant: a migration adds a column
                with psycopg.connect(odd_db, autocommit=True) as c:
                    c.execute("alter table orders add column note text default 'hello'")

    ctx = Context.from_settings(load_settings())
    try:
        doc = asyncio.run(DailyJob(ctx, on_event=on_event, jobs=1).run()).to_json()
    finally:
        ctx.close()
    assert doc["success"], doc["tenants"]
    assert doc["catalog_reads"] == 2
    last = json.loads(summaries(store, finished[-1])[0].read_text())
    assert "note" in [c["name"] for c in last["manifest"]["tables"]["orders"]["columns"]]
    first = json.loads(summaries(store, finished[0])[0].read_text())
    assert "note" not in [c["name"] for c in first["manifest"]["tables"]["orders"]["columns"]]
    assert finished[-1] in ids + [ORG_A, ORG_B]


def shard_of(org: str, n: int) -> int:
    """The documented rule (README, core/shard.py): SHA-256 of the lower-case id, first 8 bytes."""
    return int.from_bytes(hashlib.sha256(org.lower().encode()).digest()[:8], "big") % n + 1


def old_backup(store: Path, org: str) -> None:
    """An old-system backup of `org` from 2025 that retention (30 days) must delete."""
    dest = store / "tenant-backups" / org / "2025-01-15"
    dest.mkdir(parents=True)
    for f in (LEGACY / "2025-01-15").iterdir():
        (dest / f.name).write_text(f.read_text().replace(LEGACY_ORG, org))


def test_n_shard_processes_back_up_every_tenant_exactly_once(odd_db, env, tmp_path):
    store = env(odd_db)
    add_tenants(odd_db, 14, deleted=2)
    active = active_ids(odd_db)
    n = 3
    assert {shard_of(o, n) for o in active} == {1, 2, 3}  # every shard has work
    for org in active:
        old_backup(store, org)
    procs = [subprocess.Popen([sys.executable, "-m", "tenant_backup_gui", "daily", "--shard", f"{i}/{n}",
                               "--jobs", "2", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=str(ROOT), env=dict(os.environ)) for i in range(1, n + 1)]
    docs = []
    for i, p in enumerate(procs, 1):
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        docs.append((i, json.loads(out)))
    backed_up = [t["organization_id"] for _, d in docs for t in d["tenants"] if t["success"]]
    assert sorted(backed_up) == sorted(active)  # every active tenant, exactly once
    for i, d in docs:
        assert d["shard"] == f"{i}/{n}"
        assert {t["organization_id"] for t in d["tenants"]} == {o for o in active if shard_of(o, n) == i}
        deleted = {e["organization_id"] for e in d["cleanup"]["deleted"]}
        assert deleted == {o for o in active if shard_of(o, n) == i}, f"shard {i} touched another's tenants"
        assert d["cleanup"]["success"]
    for org in active:
        listed = cli_json("backups", "--org", org)
        assert [b["type"] for b in listed] == ["daily"]  # the new one stays, the old one is gone
    hist = cli_json("history", "--type", "daily_tenant", "--limit", "100")
    assert sorted(r["organization_id"] for r in hist) == sorted(active)


def test_a_shard_that_never_ran_or_stopped_shows_its_tenants_as_stale(odd_db, env):
    """Two shards; only shard 1 runs. Every `daily` run row is recent and successful, so a check
    of the last run would say all is well: per tenant, shard 2's organizations have no daily
    backup, and doctor and the next `daily` say so, naming the shard. Once shard 2 has run, all is
    well; when it stops (its backups 30 hours old), its organizations are stale again."""
    env(odd_db)
    add_tenants(odd_db, 8)
    active = active_ids(odd_db)
    second = {o for o in active if shard_of(o, 2) == 2}
    assert second and second != active

    def warning() -> str | None:
        doc = json.loads(run_cli("doctor", "--json").stdout)
        return next((c["message"] for c in doc["checks"] if c["name"] == "last daily run"), None)

    assert cli_json("daily", "--shard", "1/2")["success"]
    said = warning()
    assert said is not None, "shard 2 never ran: its organizations have no daily backup"
    assert said.startswith(f"{len(second)} of {len(active)} active organizations") and "shard 2/2" in said, said
    assert "(never)" in said
    doc = cli_json("daily", "--shard", "1/2")
    assert doc["warnings"][0] == said  # `daily` warns of what it found before it ran
    assert cli_json("daily", "--shard", "2/2")["success"]
    assert warning() is None
    with psycopg.connect(odd_db, autocommit=True) as c:  # shard 2 stops: its last run was 30 hours ago
        c.execute("update backup_logs set started_at = started_at - interval '30 hours', "
                  "completed_at = completed_at - interval '30 hours' "
                  "where (backup_type = 'daily' and metadata->>'shard' = '2/2') "
                  "or (backup_type = 'daily_tenant' and organization_id::text = any(%s))", [list(second)])
    assert cli_json("daily", "--shard", "1/2")["success"]
    said = warning()
    assert said is not None and said.startswith(f"{len(second)} of {len(active)}") and "shard 2/2" in said, said
    assert "30 hours ago" in said


def test_a_bad_shard_or_jobs_is_one_clear_line(odd_db, env):
    env(odd_db)
    for bad in ("3/2", "0/2", "two", "1/0"):
        cp = run_cli("daily", "--shard", bad)
        assert cp.returncode == 2 and len(cp.stderr.strip().splitlines()) == 1, cp.stderr
        assert "--shard" in cp.stderr and "Traceback" not in cp.stderr
    cp = run_cli("daily", "--jobs", "0")
    assert cp.returncode == 2 and "--jobs" in cp.stderr and "Traceback" not in cp.stderr


# ---------------------------------------------------------------- one tenant, tables in parallel

@pytest.mark.parametrize("command", [("backup", "--org", ORG_A, "--jobs", "2"), ("daily", "--jobs", "2")],
                         ids=["backup", "daily-lent-lanes"])
def test_parallel_tables_see_one_snapshot_while_a_writer_commits_across_tables(odd_db, env, command):
    """A writer commits pairs of rows (one in each of two tables, same token) all through the
    backup. The two tables are the largest, so two workers export them at the same time, each on
    its own connection: the backup must still hold the same tokens in both — one snapshot. In
    `daily`, the second lane is the connection of the tenant that finished first, lent meanwhile."""
    import threading
    from .helpers import load_summary, table_lines
    store = env(odd_db)
    with psycopg.connect(odd_db, autocommit=True) as c:
        for t in ("ledger_a", "ledger_b"):
            c.execute(f"create table {t} (id bigint generated always as identity primary key, "
                      f"organization_id uuid not null references organizations(id), token bigint, pad text)")
            c.execute(f"insert into {t} (organization_id, token, pad) select %s, -g, repeat('x', 60) "
                      f"from generate_series(1, 60000) g", [ORG_A])
        c.execute("analyze")
    stop, committed = threading.Event(), []

    def writer():
        with psycopg.connect(odd_db) as w:
            token = 0
            while not stop.is_set():
                token += 1
                w.execute("insert into ledger_a (organization_id, token) values (%s, %s)", [ORG_A, token])
                w.execute("insert into ledger_b (organization_id, token) values (%s, %s)", [ORG_A, token])
                w.commit()
                committed.append(token)

    th = threading.Thread(target=writer)
    th.start()
    try:
        while len(committed) < 20:
            stop.wait(0.01)
        at_start = len(committed)
        doc = cli_json(*command)
        during = len(committed) - at_start
    finally:
        stop.set()
        th.join()
    assert during > 20, "the writer must commit while the backup runs"
    if command[0] == "daily":
        a = next(t for t in doc["tenants"] if t["organization_id"] == ORG_A)
        assert a["lanes"] > 1, "ORG_B's connection, idle once ORG_B is done, must join ORG_A's backup"
    s = load_summary(store, ORG_A, doc["backup"]["id"] if command[0] == "backup" else a["backup_id"])
    tokens = {t: {json.loads(line)["token"] for line in table_lines(store, s, t)} for t in ("ledger_a", "ledger_b")}
    assert len(tokens["ledger_a"]) > 60000
    assert tokens["ledger_a"] == tokens["ledger_b"]
    assert s["manifest"]["tables"]["ledger_a"]["record_count"] == len(tokens["ledger_a"])


def big_tenant(url: str, name: str, tables: int = 4, rows: int = 40000) -> str:
    """One more organization with `tables` tables of `rows` rows of its own (and nobody else's)."""
    org = str(uuid.UUID(int=0xB16B16, version=4))
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("insert into organizations (id, name) values (%s, %s)", [org, name])
        for t in range(tables):
            c.execute(f"create table big_{t} (id bigint generated always as identity primary key, "
                      f"organization_id uuid not null references organizations(id), pad text)")
            c.execute(f"insert into big_{t} (organization_id, pad) select %s, repeat('x', 40) "
                      f"from generate_series(1, %s)", [org, rows])
        c.execute("analyze")
    return org


def test_the_last_big_tenant_gets_the_idle_connections_as_table_lanes(odd_db, env):
    """Tenants start in name order; the big one is last. When no tenant is left to start, the
    pool's idle connections join its backup as table lanes on its snapshot (its history row says
    how many lanes exported it), its rows are exactly those of a one-lane run, and the run opens
    no connection beyond its pool: --jobs 3 opens at most 2 more than --jobs 1."""
    from .helpers import load_summary, table_lines
    store = env(odd_db)
    add_tenants(odd_db, 6)
    big = big_tenant(odd_db, "zz Big tenant")
    cli_json("daily", "--jobs", "1")  # so that both runs below find a history (and read it alike)
    opened, ids = {}, {}
    for jobs in ("1", "3"):
        before = sessions(odd_db)
        doc = cli_json("daily", "--jobs", jobs)
        opened[jobs] = sessions(odd_db) - before
        assert doc["success"], doc["tenants"]
        assert doc["tenants"][-1]["organization_id"] == big  # started last
        ids[jobs] = doc["tenants"][-1]["backup_id"]
    lanes = {r["backup_id"]: r["metadata"]["lanes"]
             for r in cli_json("history", "--type", "daily_tenant", "--org", big, "--limit", "10")}
    assert lanes[ids["1"]] == 1
    assert lanes[ids["3"]] > 1, "the idle connections must export the last tenant's tables"
    assert opened["3"] - opened["1"] <= 2, opened
    one, par = (load_summary(store, big, ids[j]) for j in ("1", "3"))
    assert list(par["manifest"]["tables"]) == list(one["manifest"]["tables"])
    for name in one["manifest"]["tables"]:
        assert table_lines(store, par, name) == table_lines(store, one, name), name
    assert par["manifest"]["tables"]["big_3"]["record_count"] == 40000


# ---------------------------------------------------------------- over REST

from .test_supabase_path import project  # noqa: E402,F401 - the fixture: a local Supabase on the odd schema


def test_rest_tables_in_parallel_hold_the_bytes_of_the_direct_export(project, odd_db, tmp_path):
    """`backup --jobs 3` over the Supabase API (tables on three lanes, each checked by its counts)
    stores exactly the rows a one-lane direct export stores, byte for byte."""
    from .helpers import load_summary, table_lines
    rest = cli_json("backup", "--org", ORG_A, "--jobs", "3")["backup"]
    mirror = tmp_path / "mirror"
    direct_store = tmp_path / "direct"
    direct = cli_json("backup", "--org", ORG_A, "--jobs", "1",
                      env={"TENANT_BACKUP_DATABASE_URL": odd_db, "TENANT_BACKUP_STORE": str(direct_store),
                           "SUPABASE_URL": "", "TENANT_BACKUP_MIRROR": ""})["backup"]
    rs, ds = load_summary(mirror, ORG_A, rest["id"]), load_summary(direct_store, ORG_A, direct["id"])
    assert list(rs["manifest"]["tables"]) == list(ds["manifest"]["tables"])  # the scope's order either way
    for name in ds["manifest"]["tables"]:
        assert sorted(table_lines(mirror, rs, name)) == sorted(table_lines(direct_store, ds, name)), name
    assert rest["tables"]["big_table"]["record_count"] > 2600
