"""Export benchmark (issues 2 and 12): `tenant-backup backup` of a ≈1.7 M-row tenant against the
floor of the same rows done by hand in the cheapest honest way — ONE psql session streaming
`COPY (SELECT row_to_json(t) …) TO STDOUT` of every table into ONE `gzip -1`. The two run
alternately; the ratio of medians is printed, with the peak RSS of our process and the CPU each
client used (ours; psql + gzip), which a loaded machine does not move as it moves wall times.
Targets (issue 12, 2 cores): ratio ≤ 1.0, peak RSS < 300 MB. `--jobs N` passes `backup --jobs N`
(default: the tool's).
Then the export SQL alone, without client or compression: the row JSON the export writes, the plain
`row_to_json` floor and the old per-row sub-select, each COPYed by psql into /dev/null.

    .venv/bin/python -m tests.benchmarks.bench_export [--rounds 3] [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from tenant_backup_gui.core.config import Config
from tenant_backup_gui.core.scope import discover_scope
from tenant_backup_gui.sources.direct.catalog import rows_query
from tenant_backup_gui.sources.direct.snapshot import Snapshot

from .bigtenant import create_big_tenant
from .server import embedded_server, report, run_tenant_backup

def children_cpu() -> float:
    """CPU seconds (user + system) of the processes this one has waited for: measured around a
    run, the client's own CPU, a figure the other processes on a shared machine do not move."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_ours(url: str, org: str, store: Path, jobs: int = 0) -> tuple[float, float, dict]:
    env = dict(os.environ, TENANT_BACKUP_DATABASE_URL=url, TENANT_BACKUP_STORE=str(store))
    env.pop("TENANT_BACKUP_CONFIG", None)
    seconds, mb, out = run_tenant_backup(env, "backup", "--org", org, *(["--jobs", str(jobs)] if jobs else []))
    return seconds, mb, json.loads(out)["backup"]


def copy_scripts(url: str, org: str) -> dict[str, str]:
    """One psql script a row expression: every table's `COPY (SELECT <expr> FROM … WHERE <tenant>)
    TO STDOUT`. "plain": row_to_json of the row as it is (the floor); "ours": the row JSON the
    export writes (resources/sql/rows.sql); "old": the per-row sub-select of earlier versions."""
    from ..old_row_json import old_row_json
    with Snapshot(url, Config()) as snap:
        scope = discover_scope(snap.catalog, Config())
        return {name: "".join(f"COPY ({rows_query(snap.conn, s, snap.catalog, org, pick(s.table))}) TO STDOUT;\n"
                              for s in scope.tables)
                for name, pick in (("plain", lambda t: 'row_to_json("tb$row")'), ("ours", lambda t: None),
                                   ("old", old_row_json))}


def run_sql_only(url: str, psql: Path, script: str, work: Path) -> float:
    """The export SQL alone: one psql session runs the script into /dev/null (no gzip, no client)."""
    (work / "sql-only.sql").write_text(script)
    t = time.perf_counter()
    with open(os.devnull, "wb") as null:
        subprocess.run([str(psql), url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(work / "sql-only.sql")],
                       stdout=null, check=True)
    return time.perf_counter() - t


def run_baseline(url: str, org: str, psql: Path, out: Path) -> float:
    """The floor, as strong as it honestly gets: ONE psql session streams every table's
    `COPY (SELECT row_to_json(t) FROM … WHERE <tenant>) TO STDOUT` (plain row_to_json, no
    json/array-as-text sub-select) into ONE `gzip -1`: one connection, one stream, no files per table."""
    (out / "floor.sql").write_text(copy_scripts(url, org)["plain"])
    t = time.perf_counter()
    with open(out / "all.json.gz", "wb") as fh:
        p1 = subprocess.Popen([str(psql), url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(out / "floor.sql")],
                              stdout=subprocess.PIPE)
        p2 = subprocess.Popen(["gzip", "-1"], stdin=p1.stdout, stdout=fh)
        p1.stdout.close()
        if p2.wait() or p1.wait():
            raise SystemExit("baseline failed")
    seconds = time.perf_counter() - t
    (out / "floor.sql").unlink()
    return seconds


def json_size(path: Path) -> int:
    import gzip
    n = 0
    with gzip.open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            n += len(chunk)
    return n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=0)
    args = ap.parse_args()
    with embedded_server() as (server, bindir):
        url = server.get_uri()
        org = create_big_tenant(url)
        ours, base, rss, ours_cpu, base_cpu = [], [], [], [], []
        work = Path(tempfile.mkdtemp(prefix="tb-bench-out-"))
        try:
            for r in range(args.rounds):
                store = work / f"store{r}"
                store.mkdir()
                cpu = children_cpu()
                s, mb, backup = run_ours(url, org, store, args.jobs)
                ours_cpu.append(children_cpu() - cpu)
                ours.append(s)
                rss.append(mb)
                shutil.rmtree(store)
                bdir = work / f"base{r}"
                bdir.mkdir()
                cpu = children_cpu()
                base.append(run_baseline(url, org, bindir / "psql", bdir))
                base_cpu.append(children_cpu() - cpu)
                base_bytes = sum(f.stat().st_size for f in bdir.iterdir())
                json_bytes = json_size(bdir / "all.json.gz")
                shutil.rmtree(bdir)
                print(f"round {r + 1}: tenant-backup {s:.2f} s ({mb:.0f} MB peak, {ours_cpu[-1]:.2f} s CPU), "
                      f"psql|gzip -1 {base[-1]:.2f} s ({base_cpu[-1]:.2f} s CPU)")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rows = backup["total_records"]
        with psycopg.connect(url) as c:
            heap = c.execute("select sum(pg_table_size(c.oid)) from pg_class c join pg_namespace n "
                             "on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r'").fetchone()[0]
        heap = int(heap)
        print(f"tables on disk (without indexes, all tenants): {heap / 1e6:.0f} MB; the tenant as JSON lines: "
              f"{json_bytes / 1e6:.0f} MB; ours {heap / 1e6 / statistics.median(ours):.0f} MB of tables/s")
        print(f"rows exported: {rows:,}; ours {backup['total_size'] / 1e6:.1f} MB stored, baseline {base_bytes / 1e6:.1f} MB")
        print(f"throughput: tenant-backup {rows / statistics.median(ours):,.0f} rows/s, "
              f"psql|gzip {rows / statistics.median(base):,.0f} rows/s")
        report("median ours / median baseline", ours, base, rss, 1.0)
        print(f"client CPU (user + system; the server's not counted): tenant-backup {statistics.median(ours_cpu):.2f} s, "
              f"psql + gzip -1 {statistics.median(base_cpu):.2f} s "
              f"({statistics.median(ours_cpu) / statistics.median(base_cpu):.2f}×)")
        # The export SQL alone, for a quiet machine to repeat: each script into /dev/null, alternately.
        scripts = copy_scripts(url, org)
        sql_times: dict[str, list[float]] = {name: [] for name in scripts}
        work.mkdir(exist_ok=True)
        try:
            for _ in range(args.rounds):
                for name, script in scripts.items():
                    sql_times[name].append(run_sql_only(url, bindir / "psql", script, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        med = {name: statistics.median(v) for name, v in sql_times.items()}
        print("export SQL alone (psql COPY … TO STDOUT > /dev/null, median of "
              f"{args.rounds}): plain row_to_json {med['plain']:.2f} s, ours {med['ours']:.2f} s "
              f"({med['ours'] / med['plain']:.2f}× plain), the old sub-select {med['old']:.2f} s "
              f"({med['old'] / med['plain']:.2f}× plain)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
