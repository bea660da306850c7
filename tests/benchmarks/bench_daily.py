"""Many-tenants benchmark (issues 12 and 23): `tenant-backup daily` over 1,000 tenants, as tenants
per hour and the cost per table of a tenant; then the same run split in two shards (`daily --shard
1/2` and `--shard 2/2` as two processes at once, as two pods of an Indexed Job would run it). Each
round starts from an empty store, retention included. Each figure is printed with the machine's
load (os.getloadavg): on a shared machine a figure without it means little.

    .venv/bin/python -m tests.benchmarks.bench_daily [--tables 100 | --shape small | --schema FILE]
        [--tenants 1000] [--rounds 2] [--jobs N] [--big-last ROWS] [--statements]

--tables N (default 100): N tenant tables shaped like a grown Supabase app (shapes.py): a few
large, most with 0-20 rows per tenant, children reached through parents, a few without a key.
--shape small: the 5-table tenant of issue 12 (≈380 rows), for comparison with earlier figures.
--schema FILE: a real app's schema (a Supabase dump, e.g. the seed app's remote_schema_baseline.sql;
keep it out of this repository), loaded by seed_schema.py and filled with synthetic rows.
--same-store: every round into the same store, nights in a row (retention then reads what is kept).
--big-last ROWS adds one big tenant (ROWS rows in each of 3 tables; small shape) that starts last:
the tail of the night, whose tables the idle workers' connections export as extra lanes.
--py-spy FILE: one more daily, `--jobs 1`, sampled by py-spy (pyspy.py), summed by our functions.
--statements: one more daily with every statement logged by the server (log_min_duration_statement
= 0), counted per tenant and per table by kind, with the server's time for each kind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from . import pyspy, seed_schema, shapes
from .server import BENCH_KEY, embedded_server, run_measured, run_tenant_backup
from .statements import count_statements

BIG_LAST = """
insert into organizations (id, name) values ('00000000-0000-4000-8000-ffffffffffff', 'zz Big tenant');
insert into customers (organization_id, name, balance, phone)
  select '00000000-0000-4000-8000-ffffffffffff', 'Customer ' || g, g * 1.25, '+1 306 555 0000' from generate_series(1, %(rows)s) g;
insert into invoices (organization_id, total, issued_at, tags)
  select '00000000-0000-4000-8000-ffffffffffff', 25.00, now(), array['rent'] from generate_series(1, %(rows)s) g;
insert into audit_logs (organization_id, action, details)
  select '00000000-0000-4000-8000-ffffffffffff', 'scan', jsonb_build_object('n', g) from generate_series(1, %(rows)s) g;
"""
BIG_ID = "00000000-0000-4000-8000-ffffffffffff"


def count_rows(c: psycopg.Connection) -> int:
    tables = [t for (t,) in c.execute("select tablename from pg_tables where schemaname = 'public' "
                                      "and tablename not in ('backup_logs', 'tenant_backup_meta')")]
    return sum(c.execute(f'select count(*) from public."{t}"').fetchone()[0] for t in tables)


def create_tenants(url: str, n: int, shape: shapes.Shape, big_rows: int = 0) -> int:
    from tenant_backup_gui.services.inventory import setup_sql
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(shape.schema)
        c.execute(setup_sql())
        c.execute(shape.fill % {"n": n})
        if big_rows:
            c.execute(BIG_LAST % {"rows": big_rows})
        c.execute("vacuum analyze")
        return count_rows(c)


def seed_rows(table: str) -> int:
    """Rows per tenant of a table of the seed schema: most a few, a third none, a few larger
    (the same mix as shapes.SMALL_ROWS, chosen by the table's name so that runs compare)."""
    return shapes.SMALL_ROWS[sum(table.encode()) % len(shapes.SMALL_ROWS)]


def create_seed_tenants(url: str, n: int, path: Path) -> int:
    from tenant_backup_gui.services.inventory import setup_sql
    with psycopg.connect(url, autocommit=True) as c:
        loaded = seed_schema.load(c, path.read_text())
        print(f"{path.name}: {loaded['run']} statements run, {loaded['skipped']} skipped (policies, grants, …), "
              f"{len(loaded['failed'])} failed; primary key added on id to {loaded['keys_added']} tables")
        for f in loaded["failed"][:10]:
            print(f"  failed: {f}")
        c.execute(setup_sql())
        filled = seed_schema.fill(c, n, seed_rows)
        print(f"filled {len(filled['filled'])} tables with synthetic rows; {len(filled['failed'])} failed")
        for t, why in list(filled["failed"].items())[:10]:
            print(f"  not filled: {t}: {why}")
        c.execute("vacuum analyze")
        return count_rows(c)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def env_for(url: str, store: Path) -> dict:
    env = dict(os.environ, TENANT_BACKUP_DATABASE_URL=url, TENANT_BACKUP_STORE=str(store))
    env.pop("TENANT_BACKUP_CONFIG", None)
    env["XDG_STATE_HOME"] = str(store.parent / "state")  # daily.log out of the user's own
    env.setdefault("TENANT_BACKUP_KEY", BENCH_KEY)  # the shards sign as run_measured's runs do
    return env


def run_daily(url: str, store: Path, *extra: str) -> tuple[float, float, dict]:
    seconds, mb, cpu, out = run_measured(env_for(url, store), "daily", *extra)
    doc = json.loads(out)
    if not doc["success"]:
        raise SystemExit(f"daily failed: {doc['message']}")
    doc["cpu_seconds"] = cpu  # the tool's own CPU, all threads (the server's is apart)
    return seconds, mb, doc


def run_shards(url: str, store: Path, n: int, extra: list[str]) -> tuple[float, int]:
    """n `daily --shard i/n` processes at once; wall time until the last one ends."""
    t = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "tenant_backup_gui", "daily", "--shard", f"{i}/{n}", *extra,
                               "--json"], env=env_for(url, store), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(1, n + 1)]
    done = 0
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"daily --shard failed: {err.strip()[-500:]}")
        done += json.loads(out)["summary"]["successful_tenants"]
    return time.perf_counter() - t, done


def per_table(seconds: float, tenants: int, tables: int) -> str:
    """Wall time per tenant spread over its tables: what a table costs the night, at these jobs."""
    return f"{seconds * 1000 / tenants / tables:.2f} ms per table per tenant"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", type=int, default=100, help="tenant tables of a grown app's shape (default 100)")
    ap.add_argument("--shape", choices=["grown", "small"], default="grown",
                    help="small: the 5-table tenant of issue 12, for comparison")
    ap.add_argument("--schema", type=Path, metavar="FILE", help="a Supabase dump's schema instead (e.g. the seed app's)")
    ap.add_argument("--statements", action="store_true", help="then count the server's statements per tenant and table")
    ap.add_argument("--py-spy", type=Path, metavar="FILE", help="then a `daily --jobs 1` under py-spy (installed in the "
                    "venv, not a dependency): its samples into FILE, summed by our functions")
    ap.add_argument("--tenants", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=0, help="daily --jobs (default: the tool's own default)")
    ap.add_argument("--same-store", action="store_true", help="every round into one store (nights in a row: "
                    "retention reads every kept backup's summary, as it does after a month)")
    ap.add_argument("--no-shards", action="store_true", help="skip the two-shard run (e.g. to time an older version)")
    ap.add_argument("--big-last", type=int, default=0, metavar="ROWS", help="one more tenant, ROWS rows in each of "
                    "3 tables, started last")
    args = ap.parse_args()
    shape = shapes.SMALL if args.shape == "small" else None if args.schema else shapes.grown(args.tables)
    if args.big_last and shape is not shapes.SMALL:
        raise SystemExit("--big-last goes with --shape small")
    if args.schema and not args.schema.is_file():
        raise SystemExit(f"--schema: {args.schema} is not a file")
    total = args.tenants + (1 if args.big_last else 0)
    extra = ["--jobs", str(args.jobs)] if args.jobs else []
    with embedded_server() as (server, _bindir):
        url = server.get_uri()
        t = time.perf_counter()
        if args.schema:
            rows = create_seed_tenants(url, args.tenants, args.schema)
        else:
            rows = create_tenants(url, args.tenants, shape, args.big_last)
        work = Path(tempfile.mkdtemp(prefix="tb-bench-daily-"))
        _, _, out = run_tenant_backup(env_for(url, work / "scope"), "scope")
        tables = len(json.loads(out)["tables"])
        what = args.schema.name if args.schema else shape.describe()
        print(f"{what}: {args.tenants} tenants, {rows:,} rows ({rows / args.tenants:.0f} per tenant), "
              f"{tables} tenant tables in scope (built in {time.perf_counter() - t:.0f} s)")
        one, sharded, rss = [], [], []
        try:
            for r in range(args.rounds):
                store = work / ("store" if args.same_store else f"store{r}")
                if args.same_store and r:
                    time.sleep(1)  # a backup's id is its second: the next night's must differ
                s, mb, doc = run_daily(url, store, *extra)
                assert doc["summary"]["successful_tenants"] == total
                one.append(s)
                rss.append(mb)
                # Retention alone on the same store (daily runs it last): its share of the time and the RSS.
                s_ret, mb_ret, _ = run_tenant_backup(env_for(url, store), "cleanup")
                if not args.same_store:
                    shutil.rmtree(store)
                print(f"round {r + 1}: daily (jobs {doc.get('jobs', 1)}) {s:.1f} s ({mb:.0f} MB peak, "
                      f"{total * 3600 / s:,.0f} tenants/hour, {per_table(s, total, tables)}; {load()})")
                print(f"  the tool's CPU: {doc['cpu_seconds']:.1f} s ({per_table(doc['cpu_seconds'], total, tables)}); "
                      f"of which retention (cleanup alone, same store): {s_ret:.1f} s, {mb_ret:.0f} MB peak")
                if args.big_last:
                    big = next(t for t in doc["tenants"] if t["organization_id"] == BIG_ID)
                    print(f"  the big tenant, started last: {big['records']:,} rows on {big.get('lanes', 1)} lane(s)")
                if args.no_shards:
                    continue
                store = work / f"shard{r}"
                s2, done = run_shards(url, store, 2, extra)
                assert done == total, done
                sharded.append(s2)
                shutil.rmtree(store)
                print(f"round {r + 1}: 2 shards at once {s2:.1f} s ({total * 3600 / s2:,.0f} tenants/hour; {load()})")
            if args.py_spy:
                t = time.perf_counter()
                pyspy.record(env_for(url, work / "profiled"), args.py_spy, "--jobs", "1")
                s = time.perf_counter() - t
                print(f"daily --jobs 1 under py-spy: {s:.1f} s ({total * 3600 / s:,.0f} tenants/hour, "
                      f"{per_table(s, total, tables)}; {load()})")
                print(pyspy.summary(args.py_spy, total, tables))
            if args.statements:
                print(count_statements(server, lambda: run_daily(url, work / "logged", *extra), total, tables))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rate = total * 3600 / statistics.median(one)
        target = 100_000 if shape is shapes.SMALL else 150_000 if tables <= 24 else 50_000
        print(f"daily: {rate:,.0f} tenants/hour, {per_table(statistics.median(one), total, tables)}  "
              f"target ≥ {target:,} ({tables} tables)  {'PASS' if rate >= target else 'FAIL'}")
        if sharded:
            rate2 = total * 3600 / statistics.median(sharded)
            print(f"daily --shard 1/2 + 2/2 at once: {rate2:,.0f} tenants/hour ({rate2 / rate:.2f}× one process)")
        print(f"peak RSS (one process): {max(rss):.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
