"""The direct export's own plumbing: COPY rows read straight from libpq (sources/direct/copy_out.py)
and the part writer's size limit with ISA-L compression (stores/backups.py)."""

from __future__ import annotations

import os
import threading

import psycopg
import pytest

from tenant_backup_gui.core.errors import TenantBackupError
from tenant_backup_gui.sources.direct.copy_out import copy_out
from tenant_backup_gui.stores.backups import BackupWriter, iter_part_blocks
from tenant_backup_gui.stores.folder import FolderStore

from .conftest import ORG_A

ORG = ORG_A
ROWS = b"COPY (SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g) TO STDOUT"


def test_every_row_arrives_once_in_whole_lines_with_the_servers_count(odd_db):
    with psycopg.connect(odd_db) as conn:
        conn.execute("SELECT 1")  # the transaction the export runs in
        batches = []
        lines, sent = copy_out(conn, ROWS, 65536, lambda b, n: batches.append((bytes(b), n)),
                                        threading.Event())
        assert lines == sent == 100000 and len(batches) > 100
        assert all(b.endswith(b"\n") and b.count(b"\n") == n for b, n in batches)
        got = b"".join(b for b, _ in batches).splitlines()
        assert got == [f"{g}\t{'x' * 200}".encode() for g in range(1, 100001)]


def test_an_export_stopped_halfway_leaves_its_connection_ready_for_the_next_job(odd_db):
    """A part writer that fails mid-table (a full disk) stops the COPY: the server is told to
    stop, what it already sent is dropped, and the connection — a pooled one in `daily` — takes
    the next tenant's statements."""
    with psycopg.connect(odd_db) as conn:
        conn.execute("SELECT 1")

        def sink(batch, n):
            raise OSError("the backup folder is full")

        with pytest.raises(OSError):
            copy_out(conn, ROWS, 65536, sink, threading.Event())
        conn.rollback()
        assert conn.execute("SELECT 42").fetchone() == (42,)


def test_an_export_never_runs_outside_its_snapshot(odd_db):
    with psycopg.connect(odd_db, autocommit=True) as conn:
        with pytest.raises(TenantBackupError, match="outside the backup's snapshot"):
            copy_out(conn, ROWS, 65536, lambda b, n: None, threading.Event())


def test_incompressible_rows_keep_every_part_under_the_limit(tmp_path):
    """Random bytes do not compress: the writer's worst-case bound must hold for ISA-L's deflate."""
    store = FolderStore(tmp_path)
    w = BackupWriter(store, ORG, "2026-01-01T00-00-00-000Z", part_bytes=64 * 1024)
    w.begin_table("noise")
    rows = 0
    for _ in range(40):
        lines = [os.urandom(500).replace(b"\n", b" ") for _ in range(10)]
        w.write(b"\n".join(lines) + b"\n", len(lines))
        rows += len(lines)
    parts = w.end_table()
    w.close()
    assert len(parts) > 3 and all(p.bytes <= 64 * 1024 for p in parts)
    assert sum(n for p in parts for _, n in iter_part_blocks(store, p)) == rows == sum(p.rows for p in parts)


def test_a_plain_backup_loads_neither_the_cipher_nor_the_http_stack(odd_db, env):
    """Start-up is part of every backup's time: without a key nor [[files]] rules, `backup` has no
    use for cryptography or httpx (the REST road's), so it does not import them."""
    import json
    import subprocess
    import sys
    env(odd_db)
    code = ("import sys, json, tenant_backup_gui.cli as c; rc = c.main(['backup', '--org', %r, '--json']); "
            "sys.stderr.write(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'cryptography', 'httpx'})))"
            % ORG_A)
    cp = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert json.loads(cp.stdout)["backup"]["total_records"] > 0, cp.stderr[-500:]
    assert cp.stderr.strip().endswith("[]"), cp.stderr[-300:]


def test_parallel_lanes_take_the_largest_tables_first(odd_db, env):
    """`backup --jobs 2`: the lanes start with the two largest tables (one plain, one partitioned,
    both late in the scope's order), so the longest exports never start last and leave a lane idle."""
    import asyncio
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.backup import BackupJob
    from tenant_backup_gui.services.context import Context
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("create table zz_plain (id bigint primary key, "
                  "organization_id uuid not null references organizations(id), pad text)")
        c.execute("insert into zz_plain select g, %s, repeat('x', 100) from generate_series(1, 30000) g", [ORG_A])
        c.execute("create table zz_parted (id bigint primary key, "
                  "organization_id uuid not null references organizations(id), pad text) partition by range (id)")
        c.execute("create table zz_parted_1 partition of zz_parted for values from (0) to (20000)")
        c.execute("create table zz_parted_2 partition of zz_parted for values from (20000) to (40000)")
        c.execute("insert into zz_parted select g, %s, repeat('y', 100) from generate_series(1, 39999) g", [ORG_A])
    env(odd_db)
    started = []
    job = BackupJob(Context.from_settings(load_settings()), ORG_A, jobs=2,
                    on_event=lambda ev: started.append(ev.table) if ev.kind == "table" else None)
    result = asyncio.run(job.run())
    in_scope_order = list(result.tables)
    assert {"zz_plain", "zz_parted"} != set(in_scope_order[:2])  # not first anyway: the order is the lanes'
    assert set(started[:2]) == {"zz_plain", "zz_parted"}, started
    assert result.tables["zz_parted"]["record_count"] == 39999 and result.tables["zz_plain"]["record_count"] == 30000


def _collect_each_and_packed(odd_db, env, org: str):
    """Every table's lines exported alone, then all of them by one packed COPY, in a run's snapshot."""
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.context import Context
    env(odd_db)
    ctx = Context.from_settings(load_settings()).for_run()
    with ctx.snapshot() as snap:
        scopes = ctx.scope(snap.catalog).tables
        snap.prepare_export(scopes, org)
        alone = {}
        for s in scopes:
            got = []
            snap.export(s, org, 4096, lambda b, n, got=got: got.append(bytes(b)), threading.Event())
            alone[s.table.key_name] = b"".join(got)
        packed = {s.table.key_name: b"" for s in scopes}

        def sink(j, lines, n):
            assert lines.count(b"\n") == n
            packed[scopes[j].table.key_name] += lines

        counts = snap.export_packed(scopes, org, 4096, sink, threading.Event())
    return alone, packed, counts, scopes


def test_tables_packed_in_one_copy_give_each_table_the_lines_of_its_own_copy(odd_db, env):
    """The small tables' one COPY (sources/direct/packed.py) hands each table exactly the bytes its
    own COPY gives, empty tables included, with each table's count."""
    alone, packed, counts, scopes = _collect_each_and_packed(odd_db, env, ORG_A)
    assert packed == alone
    assert counts == [alone[s.table.key_name].count(b"\n") for s in scopes]
    assert sum(counts) > 0 and len(scopes) > 1


def test_a_packed_copy_whose_lines_come_interleaved_stops_instead_of_mixing_tables():
    from tenant_backup_gui.sources.direct.packed import Router
    got = []
    Router(3, lambda j, b, n: got.append((j, b, n)))(bytearray(b'0\x02{"a":1}\n0\x02{"a":2}\n2\x02{"c":1}\n'), 3)
    assert got == [(0, b'{"a":1}\n{"a":2}\n', 2), (2, b'{"c":1}\n', 1)]
    with pytest.raises(TenantBackupError, match="interleaved"):
        Router(3, lambda j, b, n: None)(bytearray(b'0\x02{}\n1\x02{}\n0\x02{}\n'), 3)
    router = Router(3, lambda j, b, n: None)
    router(bytearray(b'1\x02{}\n'), 1)
    with pytest.raises(TenantBackupError, match="out of order"):
        router(bytearray(b'0\x02{}\n'), 1)


def test_a_runs_export_queries_built_once_are_each_tenants_own(odd_db, env):
    """`daily` builds the export queries once per catalog and puts each tenant's id in: the text is
    the one the installed SQL builds for that tenant itself."""
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.context import Context
    from tenant_backup_gui.sources.direct.catalog import rows_queries
    from .conftest import ORG_B
    env(odd_db)
    ctx = Context.from_settings(load_settings()).for_run()
    with ctx.snapshot() as snap:
        scopes = ctx.scope(snap.catalog).tables
        for org in (ORG_A, ORG_B, ORG_A.upper()):
            assert snap.cache.rows_queries(snap.conn, scopes, snap.catalog, org) == \
                rows_queries(snap.conn, scopes, snap.catalog, org)
