"""The helpers several test modules share, one copy each: reading what a backup holds straight
from the files (tests check the product's output with their own eyes, not through the code under
test), querying a database, waiting for a condition, and the CLI's restore steps."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from .conftest import ROOT, run_cli


def summaries(store: Path, org: str) -> list[Path]:
    return sorted((store / "tenant-backups" / org).glob("*/summary-*.json"))


def load_summary(store: Path, org: str, backup_id: str) -> dict:
    return json.loads(next((store / "tenant-backups" / org).glob(f"*/summary-{backup_id}.json")).read_text())


def part_data(store: Path, part: dict) -> bytes:
    """A part's own stored bytes: a packed part's (format 3) range of its shared file."""
    data = (store / part["key"]).read_bytes()
    return data[part["offset"]:part["offset"] + part["length"]] if "offset" in part else data


def table_lines(store: Path, summary: dict, table: str) -> list[str]:
    lines = []
    for part in summary["manifest"]["tables"][table]["parts"]:
        data = gzip.decompress(part_data(store, part)).decode()
        lines += [l for l in data.split("\n") if l]
    return lines


# The old system's hard-coded table list (reference/seed-setup-guide.md), in its order.
OLD_SYSTEM_TABLES = (
    "organizations", "profiles", "customers", "bottles", "rentals", "rental_invoices", "invoice_line_items",
    "deliveries", "notifications", "audit_logs", "support_tickets", "support_ticket_messages", "locations",
    "gas_types", "cylinder_fills", "bottle_scans", "user_invites", "ownership_values", "organization_join_codes",
    "customer_support", "verification_requests", "verified_orders", "sales_orders", "sales_order_items")


def old_system_backup(url: str, store: Path, org: str, ts: str = "2025-02-03T02-00-01-000Z", cap: int = 1000) -> Path:
    """What the old system's daily-tenant-backup.js wrote for one tenant: per table of its list one
    `select('*').eq('organization_id', org)`, which PostgREST cut at `cap` rows without a word; a
    table that failed (missing, or without organization_id) an error in the summary. Returns the summary."""
    import psycopg
    day = store / "tenant-backups" / org / ts[:10]
    day.mkdir(parents=True, exist_ok=True)
    tables, errors = {}, []
    with psycopg.connect(url, autocommit=True) as c:
        name = c.execute("select name from organizations where id = %s", [org]).fetchone()[0]
        for table in OLD_SYSTEM_TABLES:
            col = "id" if table == "organizations" else "organization_id"
            try:
                rows = [r[0] for r in c.execute(f'select row_to_json(t) from public."{table}" t where {col} = %s '
                                                f"limit {cap}", [org])]
            except psycopg.Error as err:
                message = err.diag.message_primary or str(err)
                tables[table] = {"success": False, "error": message, "record_count": 0}
                errors.append({"table": table, "error": message})
                continue
            key = f"tenant-backups/{org}/{ts[:10]}/{table}-{ts}.json"
            text = json.dumps({"table": table, "timestamp": ts, "record_count": len(rows), "data": rows})
            (store / key).write_text(text)
            tables[table] = {"success": True, "record_count": len(rows), "size": len(text), "storage_path": key}
    ok = [t for t in tables.values() if t["success"]]
    summary = day / f"summary-{ts}.json"
    summary.write_text(json.dumps({
        "organization_id": org, "organization_name": name, "backup_date": ts[:10],
        "backup_timestamp": f"{ts[:10]}T{ts[11:13]}:{ts[14:16]}:{ts[17:19]}.{ts[20:23]}Z", "tables": tables,
        "total_records": sum(t["record_count"] for t in ok), "total_size": sum(t["size"] for t in ok),
        "errors": errors}))
    return summary


def resign(summary_path: Path) -> None:
    """Sign an edited summary again with this test's backup key (the test keyring), as an attacker
    who HAS the key could: tests of the structural proofs pass the origin check this way, so the
    proofs themselves are what refuses."""
    from tenant_backup_gui.core import signing
    from tenant_backup_gui.platform import credentials
    key = credentials.backup_key()
    assert key is not None, "no backup key in the test keyring: make a backup first"
    doc = json.loads(summary_path.read_text())
    summary_path.write_text(json.dumps(signing.sign(doc, key)))


def one_line(cp: subprocess.CompletedProcess) -> str:
    """The CLI's error: exactly one line on stderr (the standard for bad input), returned."""
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1, cp.stderr
    return lines[0]


def rows_of(db: str, q: str, *args) -> list:
    """The rows of one query, on a connection of its own (so the test sees only committed data)."""
    with psycopg.connect(db) as c:
        return c.execute(q, list(args)).fetchall()


def wait_for(loop, predicate, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll until predicate() holds, or fail naming `what`. With the window's event loop, that loop
    runs between polls (the window and its jobs keep working); with loop=None, plain sleeps: for
    things outside this process (PostgREST's schema reload, a child process's rows)."""
    deadline = time.monotonic() + timeout

    async def poll():
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)
    if loop is not None:
        loop.run_until_complete(poll())
        return
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def storage(stack, key: str | None = None):
    """supabase-py's own storage client on a local stack (tests/supabase_local), to look at the
    bucket the way any other client would: the service role key unless another key is given."""
    import httpx
    from supabase import create_client
    from supabase.lib.client_options import SyncClientOptions
    options = SyncClientOptions(httpx_client=httpx.Client(timeout=30))
    return create_client(stack.url, key or stack.service_key, options).storage


def kill_cli_when(args: list[str], ready, what: str) -> None:
    """Run the CLI in a child process and kill -9 it the moment ready() holds: the crash a test
    then looks behind. Fails if the job ends first (the data must be made bigger then)."""
    proc = subprocess.Popen([sys.executable, "-m", "tenant_backup_gui", *args], cwd=str(ROOT),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ready():
            assert proc.poll() is None, f"the {what} finished before it could be killed"
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def dry_run_process(org: str, backup: str, *extra: str) -> subprocess.CompletedProcess:
    """The CLI's restore dry run as it ran, for tests that read a refusal's exit code and line."""
    return run_cli("restore", "--org", org, "--backup", backup, "--dry-run", "--json", *extra)


def dry_run(org: str, backup: str, *extra: str) -> dict:
    """The CLI's restore dry run's JSON report (plan_id, per-table counts, problems)."""
    cp = dry_run_process(org, backup, *extra)
    assert cp.stdout, cp.stderr
    return json.loads(cp.stdout)


def apply(org: str, backup: str, plan: str, *extra: str) -> subprocess.CompletedProcess:
    """The CLI's apply of a dry run's plan, as it ran."""
    return run_cli("restore", "--org", org, "--backup", backup, "--apply", "--plan", plan, "--yes", "--json", *extra)
