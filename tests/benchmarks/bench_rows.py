"""Row-by-row dry run benchmark (issue 21): `restore --dry-run --show-rows` of the ≈1.7 M-row tenant
with about 5 % of its rows changed since the backup, against the plain dry run of the same state.
One run each (the plain one first, then the listing), printed as a ratio, with the listing's peak
RSS. Targets: ≤ 1.3× the plain dry run; peak RSS < 300 MB (rows stream to a spool on disk and out
to the terminal; nothing holds a whole table).

    .venv/bin/python -m tests.benchmarks.bench_rows
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg

from .bigtenant import big_tenant_workspace
from .server import _WRAP, run_tenant_backup

# ≈ 5 % of the tenant's 1.7 M rows: edits in the big tables, deletions where nothing points at the rows.
CHANGE = """
update customers set balance = balance + 1 where organization_id = %(org)s and "CustomerListID"::bigint %% 20 = 0;
update bottles set status = 'lost' where organization_id = %(org)s and barcode_number::bigint %% 20 = 0;
update notifications set message = message || ' (read)' where organization_id = %(org)s and random() < 0.05;
delete from audit_logs where organization_id = %(org)s and random() < 0.05;
delete from bottle_scans where organization_id = %(org)s and random() < 0.05;
insert into notifications (organization_id, message) select %(org)s, 'New ' || g from generate_series(1, 5000) g;
"""


def measured(env: dict, *args: str) -> tuple[float, float, str]:
    """The CLI's text output (not --json: the listing streams to the terminal), timed; (s, MB, stdout)."""
    cp = subprocess.run([sys.executable, "-c", _WRAP, sys.executable, "-m", "tenant_backup_gui", *args],
                        env=env, capture_output=True, text=True)
    if cp.returncode:
        raise SystemExit(f"tenant-backup {' '.join(args)} failed: {cp.stderr.strip()[-500:]}")
    seconds, kb, _cpu = cp.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kb) / 1024, cp.stdout


def main() -> int:
    with big_tenant_workspace("tb-bench-rows-") as (url, org, env):
        run_tenant_backup(env, "setup")
        backup = json.loads(run_tenant_backup(env, "backup", "--org", org)[2])["backup"]
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("set session_replication_role = replica")
            c.execute(CHANGE.replace("%(org)s", f"'{org}'").replace("%%", "%"))
            c.execute("vacuum analyze")
        args = ("restore", "--org", org, "--backup", backup["id"], "--dry-run", "--trust-unsigned")  # no keyring here
        plain, plain_mb, _ = measured(env, *args)
        listed, listed_mb, text = measured(env, *args, "--show-rows")
        n = sum(1 for line in text.splitlines() if line.startswith("  ") and not line.startswith("      ")
                and line.split()[0] in ("insert", "update", "delete", "left", "relink", "conflict"))
        print(f"rows in the backup: {backup['total_records']:,}; rows listed: {n:,}")
        print(f"plain dry run {plain:.2f} s ({plain_mb:.0f} MB peak); --show-rows {listed:.2f} s ({listed_mb:.0f} MB peak)")
        ratio = listed / plain
        print(f"ratio (--show-rows / plain dry run): {ratio:.2f}  target ≤ 1.30  {'PASS' if ratio <= 1.3 else 'FAIL'}")
        print(f"peak RSS: {listed_mb:.0f} MB  target < 300 MB  {'PASS' if listed_mb < 300 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
