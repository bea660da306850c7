"""The two roads a restore can take, as one fixture: the direct PostgreSQL connection, and the
Supabase REST API (the real PostgREST behind the stand-in's gateway) — the same test body runs on
both. Backups stay in a folder store either way, so a test can read and tamper with their files."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from .conftest import run_cli
from .helpers import part_data, resign, table_lines
from .supabase_local import SupabaseLocal, postgrest_binary


@dataclass
class Road:
    name: str
    db: str
    store: Path


def _grant_rest(db: str, stack) -> None:
    """Tables a test creates are the API role's too, as on a Supabase project, and in PostgREST's cache."""
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("grant all on all tables in schema public to service_role")
        c.execute("grant all on all sequences in schema public to service_role")
        c.execute("notify pgrst, 'reload schema'")
        tables = [t for (t,) in c.execute("select tablename from pg_tables where schemaname = 'public'")]
    stack.wait_for_schema(*tables)


def road_fixture(request, db: str, env, monkeypatch):
    store = env(db)
    if request.param == "direct":
        yield Road("direct", db, store)
        return
    if postgrest_binary() is None:
        pytest.skip("PostgREST not installed (.ci/run installs it)")
    sql = run_cli("setup", "--print-sql", check=True).stdout
    with SupabaseLocal(db) as stack:
        with psycopg.connect(db, autocommit=True) as c:  # as the SQL editor would, once the project exists
            c.execute(sql)
        monkeypatch.delenv("TENANT_BACKUP_DATABASE_URL")
        monkeypatch.setenv("SUPABASE_URL", stack.url)
        monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", stack.service_key)
        stack.wait_for_schema()  # PostgREST reloads its schema cache asynchronously
        road = Road("rest", db, store)
        road.refresh = lambda: _grant_rest(db, stack)
        road.stack = stack  # its keys and the gateway's fault counters
        yield road


ROADS = ["direct", "rest"]


@pytest.fixture(params=ROADS)
def road(request, odd_db, env, monkeypatch):
    """The odd schema, reached by either road."""
    yield from road_fixture(request, odd_db, env, monkeypatch)


@pytest.fixture(params=ROADS)
def legacy_road(request, legacy_db, legacy_store, env, monkeypatch):
    """The old system's sample, reached by either road."""
    env(legacy_db, store=legacy_store)
    yield from road_fixture(request, legacy_db, lambda db: env(db, store=legacy_store), monkeypatch)


def summary_path(store: Path, org: str, backup_id: str) -> Path:
    return next((store / "tenant-backups" / org).glob(f"*/summary-{backup_id}.json"))


def rewrite_table(store: Path, org: str, backup_id: str, table: str, edit=None, data: bytes | None = None,
                  signed: bool = True) -> None:
    """Change one table's rows in a backup the way an attacker with write access to the store
    would: the new part written, and its SHA-256, size and counts recomputed in the summary, so
    the backup still verifies as intact. `edit` maps the table's JSON lines to new ones; `data`
    is a whole gzipped part to put in instead. signed: the summary signed again with the test key,
    so the structural proofs, not the signature, are what a test exercises (False: left unsigned-valid,
    as an attacker without the key leaves it)."""
    path = summary_path(store, org, backup_id)
    doc = json.loads(path.read_text())
    entry = doc["manifest"]["tables"][table]
    if data is None:
        lines = edit(table_lines(store, doc, table))
        data = gzip.compress("".join(line + "\n" for line in lines).encode())
    rows = gzip.decompress(data).count(b"\n")
    first = entry["parts"][0]
    key = first["key"].replace("/packed-", f"/{table}-") if "offset" in first else first["key"]  # others share a pack
    for p in entry["parts"][1:]:
        if "offset" not in p:
            (store / p["key"]).unlink()
    (store / key).write_bytes(data)
    entry["parts"] = [{"key": key, "rows": rows, "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()}]
    delta = rows - entry["record_count"]
    entry["record_count"] = rows
    doc["tables"][table].update(record_count=rows, size=len(data))
    doc["total_records"] += delta
    doc["manifest"]["totals"]["records"] += delta
    size = sum({p["key"]: p["bytes"] for t in doc["manifest"]["tables"].values() for p in t["parts"]}.values())
    doc["total_size"] = doc["manifest"]["totals"]["bytes"] = size
    path.write_text(json.dumps(doc))
    if signed:
        resign(path)


def part_bytes(store: Path, org: str, backup_id: str, table: str) -> bytes:
    doc = json.loads(summary_path(store, org, backup_id).read_text())
    parts = doc["manifest"]["tables"][table]["parts"]
    return gzip.compress(b"".join(gzip.decompress(part_data(store, p)) for p in parts))
