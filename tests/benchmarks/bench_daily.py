"""Many-tenants benchmark (issue 12): `tenant-backup daily` over 1,000 small tenants (≈380 rows each
over 5 tables), as tenants per hour against the target of 100,000/hour; then the same run split
in two shards (`daily --shard 1/2` and `--shard 2/2` as two processes at once, as two pods of an
Indexed Job would run it). Each round starts from an empty store, retention included.

    .venv/bin/python -m tests.benchmarks.bench_daily [--tenants 1000] [--rounds 2] [--jobs N] [--big-last ROWS]

--big-last ROWS adds one big tenant (ROWS rows in each of 3 tables) that starts last: the tail of
the night, whose tables the idle workers' connections export as extra lanes (its lanes are printed).
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

from .server import embedded_server, run_tenant_backup

SCHEMA = """
create table organizations (id uuid primary key, name text not null, deleted_at timestamptz);
create table customers (id bigint generated always as identity primary key,
  organization_id uuid not null references organizations(id), name text, balance numeric(12,2), phone text);
create table invoices (id bigint generated always as identity primary key,
  organization_id uuid not null references organizations(id), customer_id bigint references customers(id),
  total numeric(12,2), issued_at timestamptz, tags text[]);
create table invoice_lines (id bigint generated always as identity primary key,
  invoice_id bigint not null references invoices(id), description text, quantity int, amount numeric(12,2));
create table audit_logs (id bigint generated always as identity primary key,
  organization_id uuid not null references organizations(id), action text, details jsonb);
create index on customers (organization_id);
create index on invoices (organization_id);
create index on invoice_lines (invoice_id);
create index on audit_logs (organization_id);
"""

# Per tenant: 1 organization + 80 customers + 100 invoices + 150 lines + 49 audit rows = 380 rows.
FILL = """
insert into organizations (id, name)
  select ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'Tenant ' || g from generate_series(1, %(n)s) g;
insert into customers (organization_id, name, balance, phone)
  select o.id, 'Customer ' || g, g * 1.25, '+1 306 555 ' || lpad(g::text, 4, '0') from organizations o, generate_series(1, 80) g;
insert into invoices (organization_id, customer_id, total, issued_at, tags)
  select o.id, (select min(c.id) from customers c where c.organization_id = o.id), 25.00,
         now() - (g || ' days')::interval, array['rent', 'gas']
  from organizations o, generate_series(1, 100) g;
insert into invoice_lines (invoice_id, description, quantity, amount)
  select i.id, 'Cylinder rental', g, 12.5 * g from invoices i, generate_series(1, 2) g where g = 1 or i.id %% 2 = 0;
insert into audit_logs (organization_id, action, details)
  select o.id, 'scan', jsonb_build_object('n', g) from organizations o, generate_series(1, 49) g;
"""


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


def create_tenants(url: str, n: int, big_rows: int = 0) -> int:
    from tenant_backup_gui.services.inventory import setup_sql
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(SCHEMA)
        c.execute(setup_sql())
        c.execute(FILL % {"n": n})
        if big_rows:
            c.execute(BIG_LAST % {"rows": big_rows})
        c.execute("vacuum analyze")
        return c.execute("select (select count(*) from organizations) + (select count(*) from customers) "
                         "+ (select count(*) from invoices) + (select count(*) from invoice_lines) "
                         "+ (select count(*) from audit_logs)").fetchone()[0]


def env_for(url: str, store: Path) -> dict:
    env = dict(os.environ, TENANT_BACKUP_DATABASE_URL=url, TENANT_BACKUP_STORE=str(store))
    env.pop("TENANT_BACKUP_CONFIG", None)
    env["XDG_STATE_HOME"] = str(store.parent / "state")  # daily.log out of the user's own
    return env


def run_daily(url: str, store: Path, *extra: str) -> tuple[float, float, dict]:
    seconds, mb, out = run_tenant_backup(env_for(url, store), "daily", *extra)
    doc = json.loads(out)
    if not doc["success"]:
        raise SystemExit(f"daily failed: {doc['message']}")
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=0, help="daily --jobs (default: the tool's own default)")
    ap.add_argument("--no-shards", action="store_true", help="skip the two-shard run (e.g. to time an older version)")
    ap.add_argument("--big-last", type=int, default=0, metavar="ROWS", help="one more tenant, ROWS rows in each of "
                    "3 tables, started last")
    args = ap.parse_args()
    total = args.tenants + (1 if args.big_last else 0)
    extra = ["--jobs", str(args.jobs)] if args.jobs else []
    with embedded_server() as (server, _bindir):
        url = server.get_uri()
        rows = create_tenants(url, args.tenants, args.big_last)
        print(f"{args.tenants} tenants, {rows:,} rows ({rows / args.tenants:.0f} per tenant over 5 tables)")
        work = Path(tempfile.mkdtemp(prefix="tb-bench-daily-"))
        one, sharded, rss = [], [], []
        try:
            for r in range(args.rounds):
                store = work / f"store{r}"
                s, mb, doc = run_daily(url, store, *extra)
                assert doc["summary"]["successful_tenants"] == total
                one.append(s)
                rss.append(mb)
                shutil.rmtree(store)
                print(f"round {r + 1}: daily (jobs {doc.get('jobs', 1)}) {s:.1f} s ({mb:.0f} MB peak, "
                      f"{total * 3600 / s:,.0f} tenants/hour)")
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
                print(f"round {r + 1}: 2 shards at once {s2:.1f} s ({total * 3600 / s2:,.0f} tenants/hour)")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rate = total * 3600 / statistics.median(one)
        print(f"daily: {rate:,.0f} tenants/hour  target ≥ 100,000  {'PASS' if rate >= 100_000 else 'FAIL'}")
        if sharded:
            rate2 = total * 3600 / statistics.median(sharded)
            print(f"daily --shard 1/2 + 2/2 at once: {rate2:,.0f} tenants/hour ({rate2 / rate:.2f}× one process)")
        print(f"peak RSS (one process): {max(rss):.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
