"""A tenant's files benchmark (issue 14), against the real Storage server of the test stack
(tests/supabase_local) on a throw-away embedded PostgreSQL:

1. a second daily backup of a tenant whose files did not change (it reads listings only) vs a
   backup of the same tenant without [[files]] rules: target ≤ 1.2;
2. file transfer — our backup copy (Storage → store) plus our restore upload (store → Storage) of
   the same objects — vs a plain storage3 download/upload loop over them: ours as a share of the
   plain loop's speed, target ≥ 80 %.

    .venv/bin/python -m tests.benchmarks.bench_files [--objects 200] [--kib 256] [--rounds 3] [--rows 20000]
        [--one-database] [--no-transfer]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from .server import embedded_server, run_tenant_backup

ORG = "00000000-0000-4000-8000-00000000000a"
SCHEMA = """
create table organizations (id uuid primary key, name text not null, deleted_at timestamptz);
create table invoices (id bigint generated always as identity primary key,
  organization_id uuid not null references organizations(id), total numeric(12,2), pdf_path text);
create index on invoices (organization_id);
"""
RULES = '[[files]]\nbucket = "invoices"\npattern = "{organization_id}/"\n'


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=200)
    ap.add_argument("--kib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rows", type=int, default=20000, help="the tenant's invoices (its rows' share of the backup)")
    ap.add_argument("--one-database", action="store_true", help="the app's tables in Storage's database, as in a "
                    "Supabase project (the direct road then lists storage.objects instead of over HTTP)")
    ap.add_argument("--no-transfer", action="store_true", help="measure only the unchanged-files daily")
    a = ap.parse_args()
    from tenant_backup_gui.services.inventory import setup_sql
    from tenant_backup_gui.sources.supabase_http import SupabaseProject

    from ..supabase_local import SupabaseLocal

    def app_tables(url: str) -> None:
        with psycopg.connect(url, autocommit=True) as c:
            c.execute(SCHEMA)
            c.execute(setup_sql())
            c.execute("insert into organizations values (%s, 'Bench')", [ORG])
            c.execute("insert into invoices (organization_id, total, pdf_path) select %s, g, %s || '/inv-' || g "
                      "|| '.pdf' from generate_series(1, %s) g", [ORG, ORG, a.rows])

    with embedded_server() as (server, _):
        url = server.get_uri()
        if not a.one_database:
            app_tables(url)
        with SupabaseLocal(url) as stack:
            if a.one_database:  # as in a Supabase project: the direct road lists storage.objects
                url = stack.storage.db_url
                app_tables(url)
            api = SupabaseProject(stack.url, stack.service_key)
            api.storage_create_bucket("invoices")
            blob = os.urandom(a.kib * 1024)
            keys = [f"{ORG}/2026/{i // 100:02d}/inv {i:05d}.pdf" for i in range(a.objects)]
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda k: api.storage_upload("invoices", k, lambda: [blob[:-5] + k[-5:].encode()],
                                                           len(blob), content_type="application/pdf"), keys))
            work = Path(tempfile.mkdtemp(prefix="tb-bench-files-"))
            base_env = dict(os.environ, TENANT_BACKUP_DATABASE_URL=url, SUPABASE_URL=stack.url,
                            SUPABASE_SERVICE_ROLE_KEY=stack.service_key, XDG_STATE_HOME=str(work / "state"))
            (work / "none.toml").write_text("")
            (work / "files.toml").write_text(RULES)
            without, second = [], []
            for r in range(a.rounds):
                env = dict(base_env, TENANT_BACKUP_STORE=str(work / f"plain-{r}"),
                           TENANT_BACKUP_CONFIG=str(work / "none.toml"))
                without.append(run_tenant_backup(env, "backup", "--org", ORG)[0])
                env = dict(base_env, TENANT_BACKUP_STORE=str(work / f"files-{r}"),
                           TENANT_BACKUP_CONFIG=str(work / "files.toml"))
                run_tenant_backup(env, "backup", "--org", ORG)  # the first: copies every object
                stack.storage_requests.clear()
                second.append(run_tenant_backup(env, "backup", "--org", ORG)[0])
                reads = [q for q in stack.storage_requests if q[0] == "GET" and q[1].startswith("/object/")]
                assert not reads, f"the second daily read {len(reads)} objects"
            ratio = statistics.median(second) / statistics.median(without)
            print(f"{a.objects} objects of {a.kib} KiB; rows: {a.rows:,}; median of {a.rounds} rounds")
            print(f"second daily with unchanged files {statistics.median(second):.2f}s, without files "
                  f"{statistics.median(without):.2f}s")
            print(f"ratio (second daily with unchanged files / backup without files): {ratio:.2f}  target ≤ 1.20  "
                  f"{'PASS' if ratio <= 1.2 else 'FAIL'}")

            ours, plain = [], []
            for r in range(0 if a.no_transfer else a.rounds):
                ours.append(_ours(api, work / f"transfer-{r}"))
                plain.append(_plain(stack, keys))
            if a.no_transfer:
                api.close()
                return
            share = statistics.median(plain) / statistics.median(ours)
            print(f"transfer of {a.objects * a.kib // 1024} MiB down and up: ours {statistics.median(ours):.2f}s, "
                  f"plain storage3 loop {statistics.median(plain):.2f}s")
            print(f"ratio (our transfer speed / plain storage3 loop): {share:.0%}  target ≥ 80%  "
                  f"{'PASS' if share >= 0.8 else 'FAIL'}")
            api.close()


def _ours(api, folder: Path) -> float:
    """Our backup copy into a fresh folder store, then our restore upload of the same objects."""
    from tenant_backup_gui.core.files import FilesRule
    from tenant_backup_gui.stores.folder import FolderStore
    from tenant_backup_gui.stores.tenant_files import TenantFiles
    files = TenantFiles(api, FolderStore(folder), ORG, (FilesRule("invoices", "{organization_id}/"),))
    began = time.perf_counter()
    entries = files.backup({}, {})
    files.upload(entries)
    return time.perf_counter() - began


def _plain(stack, keys: list[str]) -> float:
    """storage3 (supabase-py's own client): download each object, upload it back."""
    import httpx
    from supabase import create_client
    from supabase.lib.client_options import SyncClientOptions
    bucket = create_client(stack.url, stack.service_key,
                           SyncClientOptions(httpx_client=httpx.Client(timeout=60))).storage.from_("invoices")
    began = time.perf_counter()
    for k in keys:
        data = bucket.download(k)
        bucket.upload(k, data, {"content-type": "application/pdf", "upsert": "true"})
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
