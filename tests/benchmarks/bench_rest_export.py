"""REST export benchmark (issue 4): the ≈1.7 M-row tenant exported through the local Supabase (the
real PostgREST behind the gateway, max-rows 1000) by RestSnapshot, against the floor of the same
work done by hand — raw keyset paging of the same endpoint (tenant_backup_export_page, text/plain)
with plain httpx, no counts, no retries — and against the old system's approach, one
`select=*` request per table (fast, and incomplete: it stops at 1000 rows a table). Each runs in a
child process of its own, alternately; rows/s, the ratio of medians and peak RSS are printed.
Target: ratio ≤ 1.3.

    .venv/bin/python -m tests.benchmarks.bench_rest_export [--rounds 3] [--page-rows 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from .bigtenant import create_big_tenant
from .server import embedded_server, report

ROOT = Path(__file__).resolve().parents[2]


def _scopes(url: str, key: str, org: str):
    from tenant_backup_gui.core.config import Config
    from tenant_backup_gui.core.scope import discover_scope
    from tenant_backup_gui.sources.rest.snapshot import RestSnapshot
    from tenant_backup_gui.sources.supabase_http import SupabaseProject
    project = SupabaseProject(url, key)
    snap = RestSnapshot(project, Config()).__enter__()
    return project, snap, discover_scope(snap.catalog, Config()).tables


def child_ours(url: str, key: str, org: str, out: Path, page_rows: int) -> int:
    project, snap, scopes = _scopes(url, key, org)
    snap.page_rows = page_rows
    rows = 0
    t = time.perf_counter()
    with open(out, "wb") as fh:
        for s in scopes:
            rows += snap.export(s, org, 1 << 20, lambda b, n: fh.write(b), threading.Event())
    seconds = time.perf_counter() - t
    project.close()
    return _done(rows, seconds)


def child_raw(url: str, key: str, org: str, out: Path, page_rows: int) -> int:
    import httpx
    from tenant_backup_gui.sources.rest.catalog import rows_args as _rows_args
    project, snap, scopes = _scopes(url, key, org)
    args = [{**_rows_args(s, snap.catalog, org), "page_rows": page_rows} for s in scopes]
    project.close()
    headers = {"apikey": key, "Authorization": f"Bearer {key}", "Accept": "text/plain"}
    rows = 0
    t = time.perf_counter()
    with httpx.Client(base_url=url + "/rest/v1", headers=headers, timeout=120) as http, open(out, "wb") as fh:
        for a in args:
            after = None
            while True:
                r = http.post("/rpc/tenant_backup_export_page", json={**a, "after": after})
                r.raise_for_status()
                body = r.content
                if not body:
                    break
                nl = body.index(b"\n")
                after = json.loads(body[:nl])
                fh.write(memoryview(body)[nl + 1:])
                rows += body.count(b"\n") - 1
    return _done(rows, time.perf_counter() - t)


def child_old(url: str, key: str, org: str, out: Path, page_rows: int) -> int:
    """The old system: `select('*')` once per table that has organization_id (its children without
    one errored), the tenant table by id; whatever one response holds is 'the backup'."""
    from supabase import create_client
    project, snap, scopes = _scopes(url, key, org)
    project.close()
    client = create_client(url, key)
    rows = 0
    t = time.perf_counter()
    with open(out, "wb") as fh:
        for s in scopes:
            if s.path:
                continue
            data = client.table(s.table.name).select("*").eq(s.anchor, org).execute().data
            fh.write(json.dumps(data).encode())
            rows += len(data)
    return _done(rows, time.perf_counter() - t)


def _done(rows: int, seconds: float) -> int:
    mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "rss_mb": mb}))
    return 0


def run_child(kind: str, url: str, key: str, org: str, out: Path, page_rows: int) -> dict:
    cp = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_rest_export", "--child", kind, url, key, org,
                         str(out), "--page-rows", str(page_rows)], capture_output=True, text=True, cwd=str(ROOT))
    if cp.returncode:
        raise SystemExit(f"{kind} failed: {cp.stderr.strip()[-800:]}")
    return json.loads(cp.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--page-rows", type=int, default=5000)
    ap.add_argument("--child", nargs=5, metavar=("KIND", "URL", "KEY", "ORG", "OUT"))
    args = ap.parse_args()
    if args.child:
        kind, url, key, org, out = args.child
        return {"ours": child_ours, "raw": child_raw, "old": child_old}[kind](url, key, org, Path(out), args.page_rows)

    from tenant_backup_gui.sources.rest.setup import setup_sql
    from tests.supabase_local import SupabaseLocal
    with embedded_server() as (server, _bindir):
        db = server.get_uri()
        org = create_big_tenant(db)
        with SupabaseLocal(db) as stack:
            with psycopg.connect(db, autocommit=True) as c:
                c.execute((ROOT / "resources" / "sql" / "setup.sql").read_text())
                c.execute(setup_sql())
            time.sleep(2)  # PostgREST reloads its schema cache on the script's NOTIFY
            work = Path(tempfile.mkdtemp(prefix="tb-bench-rest-"))
            ours, raw, old, rss = [], [], [], []
            try:
                for r in range(args.rounds):
                    o = run_child("ours", stack.url, stack.service_key, org, work / "ours", args.page_rows)
                    w = run_child("raw", stack.url, stack.service_key, org, work / "raw", args.page_rows)
                    d = run_child("old", stack.url, stack.service_key, org, work / "old", args.page_rows)
                    if o["rows"] != w["rows"] or (work / "ours").stat().st_size != (work / "raw").stat().st_size:
                        raise SystemExit(f"ours and raw differ: {o['rows']} vs {w['rows']} rows")
                    ours.append(o["seconds"])
                    raw.append(w["seconds"])
                    old.append(d["seconds"])
                    rss.append(o["rss_mb"])
                    print(f"round {r + 1}: RestSnapshot {o['seconds']:.2f} s ({o['rss_mb']:.0f} MB peak), "
                          f"raw httpx keyset {w['seconds']:.2f} s, old select('*') {d['seconds']:.2f} s "
                          f"({d['rows']:,} rows)")
            finally:
                for f in work.iterdir():
                    f.unlink()
                work.rmdir()
        rows = o["rows"]
        print(f"rows exported: {rows:,} (the old approach: {d['rows']:,}, {100 * d['rows'] / rows:.2f} % of them)")
        print(f"throughput: RestSnapshot {rows / statistics.median(ours):,.0f} rows/s, raw httpx keyset "
              f"{rows / statistics.median(raw):,.0f} rows/s, old select('*') {d['rows'] / statistics.median(old):,.0f} rows/s")
        report("median RestSnapshot / median raw keyset", ours, raw, rss, 1.3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
