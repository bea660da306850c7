"""Look-inside benchmark (issue 22): `show` and `diff` on the ≈1.7 M-row tenant, with its
notifications grown to a 1 M-row table. Each figure is one run of the CLI in a child process (its
imports and start-up included, ≈0.3 s here). Targets: `show --table` first page and one `--key`
lookup ≤ 2 s each; `diff` of two backups ≤ 1.5× the time to read both (`verify` of each: every
part read and checked); `diff` against now ≤ 1.5× the dry run of the same backup; peak RSS < 300 MB.

    .venv/bin/python -m tests.benchmarks.bench_browse [--table-rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import psycopg

from .bigtenant import create_big_tenant
from .server import embedded_server, run_tenant_backup


def tb(env: dict, *args: str) -> tuple[float, float, dict]:
    seconds, mb, out = run_tenant_backup(env, *args)
    return seconds, mb, json.loads(out)


def verdict(value: float, target: float) -> str:
    return f"target ≤ {target:.2f}  {'PASS' if value <= target else 'FAIL'}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--table-rows", type=int, default=1_000_000, help="rows of the big table (notifications)")
    args = ap.parse_args()
    with embedded_server() as (server, _):
        url = server.get_uri()
        org = create_big_tenant(url)
        with psycopg.connect(url, autocommit=True) as c:
            have = c.execute("select count(*) from notifications where organization_id = %s", [org]).fetchone()[0]
            c.execute("insert into notifications (organization_id, message) select %s, 'Message ' || g "
                      "from generate_series(%s, %s) g", [org, have + 1, args.table_rows])
            c.execute("vacuum analyze notifications")
        work = Path(tempfile.mkdtemp(prefix="tb-bench-browse-"))
        env = dict(os.environ, TENANT_BACKUP_DATABASE_URL=url, TENANT_BACKUP_STORE=str(work / "store"),
                   XDG_STATE_HOME=str(work / "state"))
        rss = []
        try:
            run_tenant_backup(env, "setup")
            first = tb(env, "backup", "--org", org)[2]["backup"]
            print(f"tenant: {first['total_records']:,} rows; notifications: {args.table_rows:,}")
            with psycopg.connect(url, autocommit=True) as c:  # a day's work: 1% changed, some gone, some new
                c.execute("update customers set balance = balance + 1 where organization_id = %s and "
                          "\"CustomerListID\"::bigint %% 100 = 0", [org])
                c.execute("delete from bottle_scans where organization_id = %s and random() < 0.01", [org])
                c.execute("insert into notifications (organization_id, message) select %s, 'new ' || g "
                          "from generate_series(1, 5000) g", [org])
            second = tb(env, "backup", "--org", org)[2]["backup"]

            s, mb, page = tb(env, "show", "--org", org, "--backup", first["id"], "--table", "notifications")
            rss.append(mb)
            print(f"show --table notifications, first page: {s:.2f} s ({mb:.0f} MB)  {verdict(s, 2.0)}")
            key = page["rows"][len(page["rows"]) // 2]["key"]
            s, mb, one = tb(env, "show", "--org", org, "--backup", first["id"], "--table", "notifications",
                            "--key", key)
            rss.append(mb)
            assert len(one["rows"]) == 1
            print(f"show --table notifications --key {key}: {s:.2f} s ({mb:.0f} MB)  {verdict(s, 2.0)}")

            read = sum(tb(env, "verify", "--org", org, "--backup", b["id"])[0] for b in (first, second))
            s, mb, d = tb(env, "diff", "--org", org, "--backup", first["id"], "--against", second["id"])
            rss.append(mb)
            changed = {t["name"]: (t["added"], t["removed"], t["changed"]) for t in d["tables"] if
                       t["added"] or t["removed"] or t["changed"]}
            print(f"diff of two backups: {s:.2f} s ({mb:.0f} MB), reading both (verify each): {read:.2f} s; {changed}")
            print(f"ratio (diff / read both): {s / read:.2f}  {verdict(s / read, 1.5)}")

            dry = tb(env, "restore", "--org", org, "--backup", first["id"], "--dry-run")[0]
            s, mb, _ = tb(env, "diff", "--org", org, "--backup", first["id"])
            rss.append(mb)
            print(f"diff against now: {s:.2f} s ({mb:.0f} MB), dry run of the same backup: {dry:.2f} s")
            print(f"ratio (diff against now / dry run): {s / dry:.2f}  {verdict(s / dry, 1.5)}")
            print(f"peak RSS: {max(rss):.0f} MB  target < 300 MB  {'PASS' if max(rss) < 300 else 'FAIL'}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
