"""Restore benchmark (issue 3): applying the restore of a ≈1.7 M-row tenant, against the floor of
loading the same rows with plain `COPY FROM` into empty copies of its tables. Both run alternately;
the ratio of medians and our peak RSS are printed. The copies carry the same indexes as the
real tables (LIKE … INCLUDING ALL): maintaining them is part of any restore. Targets (issue 10):
apply ≤ 1.6× COPY FROM, dry run ≤ 1.2× the apply, peak RSS < 300 MB.

The tenant is deleted before each restore (the bad day at its worst), so the safety backup is
small and the apply does all the writing; the dry run's time is printed too.

    .venv/bin/python -m tests.benchmarks.bench_restore [--rounds 3]
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
from psycopg import sql

from tenant_backup_gui.core.config import Config
from tenant_backup_gui.core.scope import discover_scope
from tenant_backup_gui.sources.direct.catalog import rows_query, scope_condition, table_ident
from tenant_backup_gui.sources.direct.snapshot import Snapshot

from .bigtenant import create_big_tenant
from .server import embedded_server, report, run_tenant_backup

def tb(env: dict, *args: str) -> tuple[float, float, dict]:
    seconds, mb, out = run_tenant_backup(env, *args)
    return seconds, mb, json.loads(out)


def delete_tenant(url: str, org: str) -> None:
    """The tenant is gone — long enough ago that autovacuum has cleaned up after it."""
    with psycopg.connect(url) as c:
        c.execute("set session_replication_role = replica")
        with Snapshot(url, Config()) as snap:
            scope = discover_scope(snap.catalog, Config())
        for s in reversed(scope.tables):
            c.execute(sql.SQL("DELETE FROM {} AS {} WHERE {}").format(
                table_ident(s.table), sql.Identifier("tb$row"),
                sql.SQL(scope_condition(c, s, snap.catalog, org))))
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("VACUUM ANALYZE")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with embedded_server() as (server, bindir):
        url = server.get_uri()
        org = create_big_tenant(url)
        work = Path(tempfile.mkdtemp(prefix="tb-bench-restore-"))
        env = dict(os.environ, TENANT_BACKUP_DATABASE_URL=url, TENANT_BACKUP_STORE=str(work / "store"),
                   XDG_STATE_HOME=str(work / "state"))
        try:
            run_tenant_backup(env, "setup")  # the restore engine's functions, as an owner installs them
            _, _, b = tb(env, "backup", "--org", org)
            backup = b["backup"]
            # The baseline's input: the same rows in COPY's text format, one file a table.
            with Snapshot(url, Config()) as snap:
                scope = discover_scope(snap.catalog, Config())
                queries = [(s.table, rows_query(snap.conn, s, snap.catalog, org, select='"tb$row".*'))
                           for s in scope.tables]
            with psycopg.connect(url, autocommit=True) as c:
                for t, q in queries:
                    with open(work / f"{t.name}.copy", "wb") as fh, c.cursor().copy(f"COPY ({q}) TO STDOUT") as cp:
                        for data in cp:
                            fh.write(data)
            ours, base, dry, rss = [], [], [], []
            for r in range(args.rounds):
                delete_tenant(url, org)
                d, _, plan = tb(env, "restore", "--org", org, "--backup", backup["id"], "--dry-run")
                dry.append(d)
                s, mb, res = tb(env, "restore", "--org", org, "--backup", backup["id"], "--apply",
                                "--plan", plan["plan_id"], "--yes")
                ours.append(s)
                rss.append(mb)
                with psycopg.connect(url, autocommit=True) as c:
                    for t, _ in queries:
                        c.execute(f'DROP TABLE IF EXISTS "bench_{t.name}"')
                        # The same indexes, defaults and checks as the real table (foreign keys aside):
                        # any restore into it has to maintain them too.
                        c.execute(f'CREATE TABLE "bench_{t.name}" (LIKE "{t.name}" INCLUDING ALL)')
                t0 = time.perf_counter()
                for t, _ in queries:
                    subprocess.run([str(bindir / "psql"), url, "-X", "-q", "-c",
                                    f'\\copy "bench_{t.name}" FROM \'{work / (t.name + ".copy")}\''], check=True)
                base.append(time.perf_counter() - t0)
                print(f"round {r + 1}: dry run {d:.2f} s, apply {s:.2f} s ({mb:.0f} MB peak, "
                      f"{res['summary']['total_records_restored']:,} rows), COPY FROM {base[-1]:.2f} s")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rows = backup["total_records"]
        print(f"rows restored: {rows:,}; apply {rows / statistics.median(ours):,.0f} rows/s, "
              f"COPY FROM {rows / statistics.median(base):,.0f} rows/s, dry run median {statistics.median(dry):.2f} s")
        report("median apply / median COPY FROM", ours, base, rss, 1.6)
        ratio = statistics.median(dry) / statistics.median(ours)
        print(f"ratio (median dry run / median apply): {ratio:.2f}  target ≤ 1.20  {'PASS' if ratio <= 1.2 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
