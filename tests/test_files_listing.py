"""Files on the direct road (issue #23): where the app's rows and Supabase Storage share one database,
as in a Supabase project, the tenant's objects are listed from storage.objects inside the rows'
snapshot — consistent with the rows, and no HTTP listing paged through; the bytes still come through
the Storage API. Here the app's tables live in the test Storage server's own database."""

from __future__ import annotations

import json

import psycopg
import pytest

from tenant_backup_gui.services.inventory import setup_sql

from .conftest import ORG_A, ORG_B, cli_json
from .supabase_local import SupabaseLocal, postgrest_binary
from .test_files import RULES, Files

pytestmark = pytest.mark.skipif(postgrest_binary() is None, reason="PostgREST not installed (.ci/run installs it)")

APP = """
create table if not exists public.organizations (id uuid primary key, name text not null);
create table if not exists public.invoice_email_sends (id bigserial primary key,
  organization_id uuid not null references public.organizations(id), pdf_storage_path text);
truncate public.invoice_email_sends, public.organizations;
insert into public.organizations values (%(a)s, 'Acme'), (%(b)s, 'Beta');
insert into public.invoice_email_sends (organization_id, pdf_storage_path)
  values (%(a)s, %(a)s || '/kept.pdf'), (%(b)s, %(b)s || '/theirs.pdf');
"""


@pytest.fixture
def one_database(odd_db, env, monkeypatch):
    """The app's tables in the Storage server's database, the direct road pointed there."""
    with SupabaseLocal(odd_db) as stack:
        url = stack.storage.db_url
        with psycopg.connect(url, autocommit=True) as c:
            c.execute(APP.replace("%(a)s", f"'{ORG_A}'").replace("%(b)s", f"'{ORG_B}'"))
            c.execute(setup_sql())
        store = env(url, config=RULES)
        monkeypatch.setenv("SUPABASE_URL", stack.url)
        monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", stack.service_key)
        f = Files(stack)
        for b in ("invoices", "organization-logos"):
            f.api.storage_create_bucket(b)
        yield f, store
        f.api.close()


def listings(f) -> list:
    return [r for r in f.stack.storage_requests if r[1].startswith("/object/list")]


def test_the_direct_road_lists_the_tenants_files_in_the_rows_snapshot(one_database):
    f, store = one_database
    f.put("invoices", f"{ORG_A}/kept.pdf", b"%PDF kept")
    f.put("invoices", f"{ORG_A}/2026/deep/odd name (1).pdf", b"%PDF deep")
    f.put("organization-logos", f"org-{ORG_A}-logo.png", b"\x89PNG", ctype="image/png")
    f.put("invoices", f"{ORG_B}/theirs.pdf", b"%PDF not ours")
    f.stack.storage_requests.clear()
    first = cli_json("backup", "--org", ORG_A)["backup"]
    assert listings(f) == []  # listed from storage.objects, not over HTTP
    objects = json.loads((store / first["summary"]).read_text())["manifest"]["files"]["objects"]
    assert sorted((o["bucket"], o["path"]) for o in objects) == [
        ("invoices", f"{ORG_A}/2026/deep/odd name (1).pdf"), ("invoices", f"{ORG_A}/kept.pdf"),
        ("organization-logos", f"org-{ORG_A}-logo.png")]

    f.stack.storage_requests.clear()
    second = cli_json("backup", "--org", ORG_A)["backup"]
    assert f.stack.storage_requests == []  # unchanged files: not one request to Storage
    again = json.loads((store / second["summary"]).read_text())["manifest"]["files"]["objects"]
    assert again == objects
    assert cli_json("verify", "--org", ORG_A, "--backup", second["id"])["success"]
