"""A tenant's files in Supabase Storage ([[files]] rules), over both roads, against the real Storage
server of the test stack: backed up content-addressed into the store, shown by the dry run, put
back exactly by the apply (bytes, type, cache control, user metadata), neighbours untouched; a
daily of unchanged files reads only listings; retention keeps shared copies; a tampered copy or
manifest is refused."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from tenant_backup_gui.sources.supabase_http import SupabaseProject

from .conftest import ORG_A, ORG_B, cli_json, run_cli
from .helpers import resign
from .supabase_local import SupabaseLocal, postgrest_binary
from .test_restore import apply, damage, dry_run, everything

pytestmark = pytest.mark.skipif(postgrest_binary() is None, reason="PostgREST not installed (.ci/run installs it)")

RULES = """
[[files]]
bucket = "invoices"
pattern = "{organization_id}/"
columns = ["invoice_email_sends.pdf_storage_path"]

[[files]]
bucket = "organization-logos"
pattern = "org-{organization_id}-"
"""
ODD_KEY = "odd !*'()&$=@;:+,? name.pdf"


class Files:
    """The project's Storage, as the app that owns the buckets would use it."""

    def __init__(self, stack):
        self.stack = stack
        self.api = SupabaseProject(stack.url, stack.service_key)

    def put(self, bucket: str, key: str, data: bytes, ctype: str = "application/pdf", cache: str | None = None,
            meta: dict | None = None) -> None:
        self.api.storage_upload(bucket, key, lambda: [data], len(data), content_type=ctype, cache_control=cache,
                                metadata=meta)

    def get(self, bucket: str, key: str) -> tuple[bytes, dict]:
        buf = bytearray()

        def fresh():
            buf.clear()
            return buf.extend
        self.api.storage_download(bucket, key, fresh)
        info = self.api.storage_info(bucket, key)
        return bytes(buf), {k: info[k] for k in ("content_type", "cache_control", "metadata")}

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(o["name"] for o in self.api.storage_list(bucket, prefix) if o.get("metadata"))

    def snapshot(self) -> dict:
        """Every object of both buckets: bytes and what Storage says of it."""
        return {(b, k): self.get(b, k) for b in ("invoices", "organization-logos") for k in self.keys(b)}


@pytest.fixture(params=["direct", "rest"])
def files(request, odd_db, env, monkeypatch):
    """Both roads for the rows, the Storage server of the stack for the files (on the direct road
    too: files always go through the project's Storage API)."""
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("create table invoice_email_sends (id bigserial primary key, organization_id uuid not null "
                  "references organizations(id), pdf_storage_path text)")
        c.execute("insert into invoice_email_sends (organization_id, pdf_storage_path) values "
                  "(%s, %s), (%s, %s), (%s, null)",
                  [ORG_A, f"shared/a-{ORG_A}.pdf", ORG_B, f"shared/b-{ORG_B}.pdf", ORG_A])
    env(odd_db, config=RULES)
    with SupabaseLocal(odd_db) as stack:
        if request.param == "rest":
            sql = run_cli("setup", "--print-sql", check=True).stdout
            with psycopg.connect(odd_db, autocommit=True) as c:
                c.execute(sql)
                c.execute("grant all on all tables in schema public to service_role")
                c.execute("grant all on all sequences in schema public to service_role")
                c.execute("notify pgrst, 'reload schema'")
            monkeypatch.delenv("TENANT_BACKUP_DATABASE_URL")
        monkeypatch.setenv("SUPABASE_URL", stack.url)
        monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", stack.service_key)
        f = Files(stack)
        f.api.storage_create_bucket("invoices")
        f.api.storage_create_bucket("organization-logos")
        yield f
        f.api.close()


def seed(f: Files) -> None:
    for org in (ORG_A, ORG_B):
        f.put("invoices", f"{org}/2026/01/inv 1.pdf", b"%PDF-1 " + org.encode(), cache="max-age=3600",
              meta={"customer": "c-1", "sent": "yes"})
        f.put("invoices", f"{org}/2026/02/deep/er/{ODD_KEY}", b"%PDF odd " + org.encode() * 50)
        f.put("invoices", f"{org}/empty.txt", b"", ctype="text/plain")
        f.put("organization-logos", f"org-{org}-logo.png", os.urandom(3 * 1024 * 1024 + 7), ctype="image/png",
              meta={"w": "64"})
        f.put("invoices", f"shared/{'a' if org == ORG_A else 'b'}-{org}.pdf", b"named by a row of " + org.encode())


def test_backup_delete_dry_run_and_apply_restore_rows_and_files_exactly(files, odd_db):
    f = files
    seed(f)
    before_rows, before_files = everything(odd_db), f.snapshot()

    backup = cli_json("backup", "--org", ORG_A)["backup"]
    summary = json.loads((files_store() / backup["summary"]).read_text())
    listed = {(o["bucket"], o["path"]) for o in summary["manifest"]["files"]["objects"]}
    assert listed == {("invoices", f"{ORG_A}/2026/01/inv 1.pdf"), ("invoices", f"{ORG_A}/2026/02/deep/er/{ODD_KEY}"),
                      ("invoices", f"{ORG_A}/empty.txt"), ("organization-logos", f"org-{ORG_A}-logo.png"),
                      ("invoices", f"shared/a-{ORG_A}.pdf")}  # the last one: named by a tenant row
    assert cli_json("verify", "--org", ORG_A, "--backup", backup["id"])["success"]

    # the bad day: rows damaged, files deleted, one overwritten, one added
    damage(odd_db, ORG_A)
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("delete from invoice_email_sends where organization_id = %s", [ORG_A])
    f.api.storage_delete("invoices", [f"{ORG_A}/2026/01/inv 1.pdf", f"{ORG_A}/2026/02/deep/er/{ODD_KEY}",
                                      f"shared/a-{ORG_A}.pdf"])
    f.put("organization-logos", f"org-{ORG_A}-logo.png", b"a new logo", ctype="image/png")
    f.put("invoices", f"{ORG_A}/added later.pdf", b"not in the backup")

    plan = dry_run(ORG_A, backup["id"])
    assert plan["success"], plan
    section = plan["files"]
    assert sorted(d["path"] for d in section["to_upload"]) == sorted(
        [f"{ORG_A}/2026/01/inv 1.pdf", f"{ORG_A}/2026/02/deep/er/{ODD_KEY}", f"org-{ORG_A}-logo.png",
         f"shared/a-{ORG_A}.pdf"])
    assert [d["path"] for d in section["to_delete"]] == [f"{ORG_A}/added later.pdf"]
    assert section["unchanged"] == 1 and section["bytes"]["to_delete"] == len(b"not in the backup")
    assert section["bytes"]["to_upload"] == sum(len(before_files[(d["bucket"], d["path"])][0])
                                                for d in section["to_upload"])
    text = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run").stdout
    assert "files: to upload 4" in text and f"delete invoices/{ORG_A}/added later.pdf" in text

    cp = apply(ORG_A, backup["id"], plan["plan_id"])
    assert cp.returncode == 0, cp.stderr
    result = json.loads(cp.stdout)
    after_rows = everything(odd_db)
    after_rows.pop("trigger_hits"), before_rows.pop("trigger_hits")  # a global table the bad day's insert wrote to
    assert after_rows == before_rows
    assert f.snapshot() == before_files  # bytes, type, cache control, user metadata; B's untouched
    # the safety backup holds the state before, files included: Undo puts them back
    safety = cli_json("backups", "--org", ORG_A)
    safe = next(b for b in safety if b["id"] == result["safety_backup_id"])
    assert safe["files"]["objects"] == 3  # what was under the prefixes then: empty.txt, the new logo, the added one
    undo = dry_run(ORG_A, result["safety_backup_id"])
    assert sorted(d["path"] for d in undo["files"]["to_upload"]) == [f"{ORG_A}/added later.pdf", f"org-{ORG_A}-logo.png"]


def files_store() -> Path:
    return Path(os.environ["TENANT_BACKUP_STORE"])


def copies() -> dict[str, int]:
    root = files_store() / "tenant-files" / ORG_A
    return {str(p.relative_to(files_store())): p.stat().st_size for p in root.rglob("*") if p.is_file()} \
        if root.exists() else {}


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_a_daily_of_unchanged_files_reads_only_listings_past_1000_objects(files):
    f = files
    seed(f)
    many = [f"{ORG_A}/bulk/{i:04d} copy.txt" for i in range(1005)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: f.put("invoices", k, k.encode(), ctype="text/plain"), many))
    big = os.urandom(12 * 1024 * 1024 + 3)  # past the 8 MB in-memory spool: through a temp file both ways
    f.put("invoices", f"{ORG_A}/big/scan.tiff", big, ctype="image/tiff")
    first = cli_json("backup", "--org", ORG_A)["backup"]
    stored = copies()
    assert len(stored) == 1005 + 5 + 1  # every object once, by its content
    import hashlib
    sha = hashlib.sha256(big).hexdigest()
    assert (files_store() / f"tenant-files/{ORG_A}/{sha[:2]}/{sha}").read_bytes() == big
    f.stack.storage_requests.clear()
    second = cli_json("backup", "--org", ORG_A)["backup"]
    reads = [r for r in f.stack.storage_requests if r[0] == "GET" and r[1].startswith("/object/")]
    assert reads == []  # no object's bytes nor info: listings only
    assert copies() == stored  # nothing copied again
    s1, s2 = (json.loads((files_store() / b["summary"]).read_text())["manifest"]["files"] for b in (first, second))
    assert s1["objects"] == s2["objects"] and s2["totals"]["objects"] == 1011
    assert cli_json("verify", "--org", ORG_A, "--backup", second["id"])["success"]


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_retention_keeps_the_copies_a_kept_backup_lists(files):
    import asyncio

    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.context import Context
    from tenant_backup_gui.services.retention import CleanupJob
    f = files
    seed(f)
    first = cli_json("backup", "--org", ORG_A)["backup"]
    old = copies()
    f.put("invoices", f"{ORG_A}/empty.txt", b"no longer empty", ctype="text/plain")
    second = cli_json("backup", "--org", ORG_A)["backup"]
    assert len(copies()) == len(old) + 1  # only the changed object was copied
    ctx = Context.from_settings(load_settings())
    job = CleanupJob(ctx, now=datetime.now(timezone.utc) + timedelta(days=40))
    job.prepare()
    result = asyncio.run(job.run())
    assert [d["id"] for d in result["deleted"] if d["organization_id"] == ORG_A] == [first["id"]]
    # the empty object's copy was listed by the deleted backup only; every other copy is shared
    empty = "tenant-files/" + ORG_A + "/e3/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert set(copies()) == (set(old) - {empty}) | (set(copies()) - set(old))
    assert empty in old and empty not in copies()
    assert cli_json("verify", "--org", ORG_A, "--backup", second["id"])["success"]
    ctx.close()


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_a_tampered_copy_or_manifest_is_refused(files, odd_db):
    f = files
    seed(f)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    logo = f.get("organization-logos", f"org-{ORG_A}-logo.png")
    f.api.storage_delete("organization-logos", [f"org-{ORG_A}-logo.png"])
    f.api.storage_delete("invoices", [f"{ORG_A}/empty.txt"])
    summary_path = files_store() / backup["summary"]
    summary = json.loads(summary_path.read_text())
    entry = next(e for e in summary["manifest"]["files"]["objects"] if e["path"] == f"org-{ORG_A}-logo.png")
    copy = files_store() / entry["stored"]
    good = copy.read_bytes()
    plan = dry_run(ORG_A, backup["id"])  # (before the copy is damaged: the dry run reads the copies too)
    copy.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one bit, same size

    v = run_cli("verify", "--org", ORG_A, "--backup", backup["id"], "--json")
    assert v.returncode != 0 and "does not match its checksum" in json.loads(v.stdout)["message"]
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    assert cp.returncode == 1 and "does not match its checksum" in cp.stderr and "Traceback" not in cp.stderr
    cp = apply(ORG_A, backup["id"], plan["plan_id"])
    assert cp.returncode != 0 and "does not match its checksum" in cp.stderr and "Traceback" not in cp.stderr
    assert f"org-{ORG_A}-logo.png" not in f.keys("organization-logos")  # nothing of it was uploaded
    assert f"{ORG_A}/empty.txt" not in f.keys("invoices")  # nor any other file: refused before anything changed
    assert "nothing was changed" in cp.stderr
    copy.write_bytes(good)

    # a manifest edited to reach a neighbour's object: refused before anything is written
    entry["path"] = f"org-{ORG_B}-logo.png"
    summary_path.write_text(json.dumps(summary))
    resign(summary_path)  # the files' own checks, not the signature, must refuse it
    neighbour = f.get("organization-logos", f"org-{ORG_B}-logo.png")
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run", "--json")
    assert cp.returncode != 0 and "cannot be trusted" in cp.stderr and "\n" not in cp.stderr.strip()
    assert f.get("organization-logos", f"org-{ORG_B}-logo.png") == neighbour
    assert logo[0]  # (the original logo is gone from the bucket; the backup's copy was what mattered)


def test_a_files_rule_without_the_project_fails_the_backup_in_one_line(odd_db, env):
    env(odd_db, config=RULES)
    cp = run_cli("backup", "--org", ORG_A)
    assert cp.returncode != 0
    err = cp.stderr.strip()
    assert "\n" not in err and "[[files]]" in err and "SUPABASE_URL" in err and "Traceback" not in err


def test_a_backup_without_files_rules_never_loads_the_storage_client(odd_db, env):
    """The files step costs nothing without [[files]] rules: not even httpx's import (~35 ms of
    every direct backup when the files module was imported before the rules were looked at)."""
    import subprocess
    import sys
    env(odd_db)
    probe = ("import runpy, sys; sys.argv = ['tenant-backup', 'backup', '--org', sys.argv[1], '--json']\n"
             "try:\n    runpy.run_module('tenant_backup_gui', run_name='__main__')\nexcept SystemExit as e:\n"
             "    assert not e.code, e.code\nprint(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('httpx', 'httpcore') or m.endswith('tenant_files')), file=sys.stderr)")
    cp = subprocess.run([sys.executable, "-c", probe, ORG_A], capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0 and json.loads(cp.stdout)["success"], cp.stderr
    assert cp.stderr.strip().splitlines()[-1] == "[]"


def test_files_rules_are_checked_where_they_are_written():
    import tomllib

    from tenant_backup_gui.core.config import parse_config
    from tenant_backup_gui.core.errors import ConfigError
    c = parse_config(tomllib.loads(RULES))
    assert [r.prefix(ORG_A) for r in c.files] == [f"{ORG_A}/", f"org-{ORG_A}-"]
    assert c.files[0].columns == (("invoice_email_sends", "pdf_storage_path"),)
    assert parse_config({}).files == ()  # off until configured
    for bad, says in ((['[[files]]', 'bucket = "invoices"', 'pattern = "invoices/"'], "{organization_id}"),
                      (['[[files]]', 'pattern = "{organization_id}/"'], "bucket"),
                      (['[[files]]', 'bucket = "a"', 'pattern = "{organization_id}/"', 'columns = ["nodot"]'],
                       "table.column"),
                      (['[[files]]', 'bucket = "a"', 'pattern = "../{organization_id}/"'], "'..'"),
                      (['[[files]]', 'bucket = "a"', 'pattern = "{organization_id}"', 'prefix = "x"'], "prefix")):
        with pytest.raises(ConfigError) as e:
            parse_config(tomllib.loads("\n".join(bad)))
        assert says in str(e.value) and "files #1" in str(e.value)


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_the_wizards_dry_run_page_shows_the_files(files, qtbot, loop):
    pytest.importorskip("PySide6")
    from PySide6.QtWidgets import QWizard

    from tenant_backup_gui.gui.restore_wizard import PAGE_DRY_RUN, PAGE_OPTIONS

    from .test_gui import open_restore_wizard, wait_for
    f = files
    seed(f)
    cli_json("backup", "--org", ORG_A)
    f.api.storage_delete("invoices", [f"{ORG_A}/2026/01/inv 1.pdf"])
    _, wiz = open_restore_wizard(qtbot, loop, ORG_A)
    wiz.next()
    assert wiz.page(PAGE_OPTIONS).files.text().startswith("Also the organization's files (5 objects, ")
    wiz.next()
    assert wiz.currentId() == PAGE_DRY_RUN
    wait_for(loop, lambda: wiz.plan is not None, what="the dry run")
    label = wiz.page(PAGE_DRY_RUN).files
    assert label.isVisibleTo(wiz) and label.text().startswith("Files: upload 1 (")
    assert f"upload invoices/{ORG_A}/2026/01/inv 1.pdf" in label.text() and "unchanged 4" in label.text()
    assert wiz.button(QWizard.NextButton).isEnabled()
    wiz.back()
    wiz.page(PAGE_OPTIONS).files.setChecked(False)  # rows only: the dry run says nothing of files
    assert wiz.plan is None
    wiz.next()
    wait_for(loop, lambda: wiz.plan is not None, what="the dry run without files")
    assert wiz.plan.files is None and not wiz.page(PAGE_DRY_RUN).files.isVisibleTo(wiz)


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_scope_lists_the_rules_and_objects_and_doctor_warns_of_a_missing_bucket(files, monkeypatch, tmp_path):
    f = files
    seed(f)
    doc = cli_json("scope", "--org", ORG_A)["files"]
    assert [(d["bucket"], d["prefix"], d["objects"]) for d in doc] == [("invoices", f"{ORG_A}/", 3),
                                                                       ("organization-logos", f"org-{ORG_A}-", 1)]
    assert doc[1]["bytes"] == 3 * 1024 * 1024 + 7 and doc[0]["columns"] == ["invoice_email_sends.pdf_storage_path"]
    text = run_cli("scope", "--org", ORG_A).stdout
    assert f"bucket organization-logos, keys starting 'org-{{organization_id}}-': 1 object" in text
    (tmp_path / "typo.toml").write_text(RULES.replace('"organization-logos"', '"organisation-logos"'))
    monkeypatch.setenv("TENANT_BACKUP_CONFIG", str(tmp_path / "typo.toml"))
    checks = cli_json_any("doctor")["checks"]
    files_checks = [c for c in checks if c["name"] == "files"]
    assert [c["status"] for c in files_checks] == ["warn"] and "organisation-logos" in files_checks[0]["message"]


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_copies_in_a_storage_backup_store_are_shared_and_verified(files, monkeypatch, tmp_path):
    """The backup store itself in Supabase Storage (the bucket `backups`): the same copies, verified."""
    f = files
    seed(f)
    monkeypatch.setenv("TENANT_BACKUP_STORE", "supabase")
    first = cli_json("backup", "--org", ORG_A)["backup"]
    listed = f.keys("backups", f"tenant-files/{ORG_A}/")
    assert len(listed) == 5
    f.stack.storage_requests.clear()
    second = cli_json("backup", "--org", ORG_A)["backup"]
    assert not [r for r in f.stack.storage_requests if r[0] == "GET" and r[1].startswith("/object/")
                and ("/invoices/" in r[1] or "/organization-logos/" in r[1])]  # the tenant's objects: unread
    assert f.keys("backups", f"tenant-files/{ORG_A}/") == listed
    for b in (first, second):
        assert cli_json("verify", "--org", ORG_A, "--backup", b["id"])["success"]


def cli_json_any(*args: str):
    """A command's JSON whatever its exit code (doctor fails on unrelated checks here)."""
    cp = run_cli(*args, "--json")
    return json.loads(cp.stdout)


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_encrypted_backups_encrypt_the_copies_and_restore_them_exactly(files, odd_db, monkeypatch):
    from tenant_backup_gui.core.encryption import encode_key, key_id, new_key
    f = files
    seed(f)
    key = new_key()
    monkeypatch.setenv("TENANT_BACKUP_ENCRYPTION_KEY", encode_key(key))
    Path(os.environ["TENANT_BACKUP_CONFIG"]).write_text(RULES + "\n[backup]\nencrypt = true\n")
    before = f.snapshot()
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    objects = json.loads((files_store() / backup["summary"]).read_text())["manifest"]["files"]["objects"]
    logo = next(e for e in objects if e["path"] == f"org-{ORG_A}-logo.png")
    assert logo["stored"].endswith("." + key_id(key))
    stored = (files_store() / logo["stored"]).read_bytes()
    assert len(stored) == logo["size"] + 28 and stored[12:-16] != before[("organization-logos", logo["path"])][0]
    assert cli_json("verify", "--org", ORG_A, "--backup", backup["id"])["success"]
    f.api.storage_delete("organization-logos", [logo["path"]])
    plan = dry_run(ORG_A, backup["id"])
    assert [d["path"] for d in plan["files"]["to_upload"]] == [logo["path"]]
    cp = apply(ORG_A, backup["id"], plan["plan_id"])
    assert cp.returncode == 0, cp.stderr
    assert f.snapshot() == before


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_a_file_over_the_backup_buckets_limit_is_named_in_one_line(files, monkeypatch):
    import httpx
    from supabase import create_client
    from supabase.lib.client_options import SyncClientOptions
    f = files
    seed(f)
    create_client(f.stack.url, f.stack.service_key, SyncClientOptions(httpx_client=httpx.Client(timeout=30))) \
        .storage.create_bucket("backups", options={"public": False, "file_size_limit": 1024 * 1024})
    monkeypatch.setenv("TENANT_BACKUP_STORE", "supabase")
    cp = run_cli("backup", "--org", ORG_A)
    err = cp.stderr.strip()
    assert cp.returncode != 0 and "\n" not in err and "Traceback" not in err
    assert f"organization-logos/org-{ORG_A}-logo.png ({3 * 1024 * 1024 + 7} bytes)" in err and "file size limit" in err
    assert not [k for k in f.keys("backups") if "summary-" in k]  # no backup that looks complete


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_files_only_and_no_files_choose_what_is_restored(files, odd_db):
    f = files
    seed(f)
    before = f.snapshot()
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("delete from big_table where organization_id = %s and id %% 2 = 0", [ORG_A])
    damaged = everything(odd_db)
    f.api.storage_delete("invoices", [f"{ORG_A}/empty.txt"])

    rows_only = dry_run(ORG_A, backup["id"], "--no-files")
    assert "files" not in rows_only and rows_only["tables"]["big_table"]["to_insert"] > 0
    only = dry_run(ORG_A, backup["id"], "--files-only")
    assert only["tables"] == {} and [d["path"] for d in only["files"]["to_upload"]] == [f"{ORG_A}/empty.txt"]
    cp = apply(ORG_A, backup["id"], only["plan_id"], "--files-only")
    assert cp.returncode == 0, cp.stderr
    assert f.snapshot() == before and everything(odd_db) == damaged  # the files back, the rows as they were
    both = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run", "--no-files", "--files-only")
    assert both.returncode != 0 and "exclude each other" in both.stderr


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_objects_of_the_same_content_share_one_copy(files):
    """Two names, one content (the same logo uploaded twice): copied at once, written once."""
    f = files
    same = os.urandom(1000)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: f.put("invoices", f"{ORG_A}/dup/{i:02d}.pdf", same), range(60)))
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    assert len(copies()) == 1
    objects = json.loads((files_store() / backup["summary"]).read_text())["manifest"]["files"]["objects"]
    assert len(objects) == 60 and len({o["stored"] for o in objects}) == 1
    assert cli_json("verify", "--org", ORG_A, "--backup", backup["id"])["success"]


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_files_changed_since_the_dry_run_refuse_the_apply(files, odd_db):
    """The rows are pinned by their fingerprint; the files by what the dry run showed: a file put
    under the tenant's prefix after the dry run would have been deleted unseen by a replace."""
    f = files
    seed(f)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    f.api.storage_delete("invoices", [f"{ORG_A}/empty.txt"])
    plan = dry_run(ORG_A, backup["id"])
    assert [d["path"] for d in plan["files"]["to_upload"]] == [f"{ORG_A}/empty.txt"] and not plan["files"]["to_delete"]
    f.put("invoices", f"{ORG_A}/uploaded after the dry run.pdf", b"a customer's new invoice")
    rows = everything(odd_db)

    cp = apply(ORG_A, backup["id"], plan["plan_id"])
    assert cp.returncode != 0 and "files in Storage changed since the dry run" in cp.stderr
    assert "Traceback" not in cp.stderr and "\n" not in cp.stderr.strip()
    assert f"{ORG_A}/uploaded after the dry run.pdf" in f.keys("invoices", f"{ORG_A}/")  # nothing deleted
    assert f"{ORG_A}/empty.txt" not in f.keys("invoices", f"{ORG_A}/")  # nothing uploaded
    assert everything(odd_db) == rows
    again = dry_run(ORG_A, backup["id"])
    assert [d["path"] for d in again["files"]["to_delete"]] == [f"{ORG_A}/uploaded after the dry run.pdf"]
    assert apply(ORG_A, backup["id"], again["plan_id"]).returncode == 0


@pytest.mark.parametrize("files", ["direct"], indirect=True)
@pytest.mark.parametrize("since", ["deleted by B", "retyped by B"])
def test_a_row_naming_a_neighbours_file_never_writes_among_the_neighbours_files(files, odd_db, since):
    """A row of A names a file in B's folder (an app's mistake, or an edited backup): A's backup
    copies it, but A's restore writes nothing among B's files: not where that key is empty now,
    nor over it when it is there with another content type (a replace compares the type).
    Outside the tenant's prefixes a restore only ever creates an object."""
    f = files
    seed(f)
    neighbours = f"{ORG_B}/2026/01/inv 1.pdf"
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("insert into invoice_email_sends (organization_id, pdf_storage_path) values (%s, %s)",
                  [ORG_A, neighbours])
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    if since == "deleted by B":
        f.api.storage_delete("invoices", [neighbours])
    else:
        f.put("invoices", neighbours, f.get("invoices", neighbours)[0], ctype="application/x-changed-by-b")
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("delete from invoice_email_sends where organization_id = %s", [ORG_A])
    before_b = {k: v for k, v in f.snapshot().items() if ORG_B in k[1]}

    plan = dry_run(ORG_A, backup["id"])
    assert plan["success"], plan
    assert neighbours not in [d["path"] for d in plan["files"]["to_upload"]]
    assert any(neighbours in w and f"organization {ORG_B}" in w for w in plan["warnings"])
    cp = apply(ORG_A, backup["id"], plan["plan_id"])
    assert cp.returncode == 0, cp.stderr
    assert {k: v for k, v in f.snapshot().items() if ORG_B in k[1]} == before_b


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_a_content_type_that_is_not_a_header_value_is_refused_before_anything_changes(files):
    f = files
    seed(f)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    summary_path = files_store() / backup["summary"]
    summary = json.loads(summary_path.read_text())
    summary["manifest"]["files"]["objects"][0]["content_type"] = "t\u00ebxt/plain"
    summary_path.write_text(json.dumps(summary))
    resign(summary_path)
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run", "--json")
    assert cp.returncode != 0 and "cannot be trusted" in cp.stderr and "Traceback" not in cp.stderr


def test_files_written_and_read_by_the_official_client_come_back_as_it_sees_them(files, odd_db):
    """Our own Storage calls are on neither side of this comparison: the app's files are put and
    read back with storage3 (supabase-py's client), so a header or metadata encoding of ours that
    Storage reads differently cannot cancel itself out."""
    import httpx
    from supabase import create_client
    from supabase.lib.client_options import SyncClientOptions
    client = create_client(files.stack.url, files.stack.service_key,
                           SyncClientOptions(httpx_client=httpx.Client(timeout=60))).storage
    keys = {f"{ORG_A}/official/{ODD_KEY}": ("application/pdf", "7200", {"customer": "ü 1", "n": 2}),
            f"{ORG_A}/official/plain.txt": ("text/plain;charset=UTF-8", "60", None)}
    for key, (ctype, cache, meta) in keys.items():
        opts = {"content-type": ctype, "cache-control": cache, "upsert": "true"}
        if meta is not None:
            opts["metadata"] = meta
        client.from_("invoices").upload(key, os.urandom(70_000) if ctype == "application/pdf" else b"hi", opts)

    def seen() -> dict:
        out = {}
        for key in keys:
            info = client.from_("invoices").info(key)
            out[key] = (client.from_("invoices").download(key),
                        {k: info.get(k) for k in ("content_type", "cache_control", "metadata", "size")})
        return out
    before = seen()
    assert all(v[1]["cache_control"] and v[1]["content_type"] for v in before.values())
    assert before[f"{ORG_A}/official/{ODD_KEY}"][1]["metadata"] == {"customer": "ü 1", "n": 2}
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    client.from_("invoices").remove(list(keys))
    plan = dry_run(ORG_A, backup["id"], "--files-only")
    assert sorted(d["path"] for d in plan["files"]["to_upload"]) == sorted(keys)
    cp = apply(ORG_A, backup["id"], plan["plan_id"], "--files-only")
    assert cp.returncode == 0, cp.stderr
    assert seen() == before


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_a_delete_that_fails_after_the_rows_commit_reports_the_restore_done_with_a_warning(files, odd_db):
    """The rows are committed before the extra files are deleted: if Storage then fails, the
    restore happened and must say so (with what is left over), not report a failure."""
    import asyncio

    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.context import Context
    from tenant_backup_gui.services.restore import RestoreApplyJob
    f = files
    seed(f)
    before = everything(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("delete from big_table where organization_id = %s and id %% 2 = 0", [ORG_A])
    f.put("invoices", f"{ORG_A}/added later.pdf", b"not in the backup")
    plan = dry_run(ORG_A, backup["id"])
    assert [d["path"] for d in plan["files"]["to_delete"]] == [f"{ORG_A}/added later.pdf"]

    # Storage answers every delete with a 503, past every retry; nothing else of the restore deletes in Storage.
    # (Not set from the job's "deleting" event: events reach the loop's thread after the worker sent the deletes.)
    f.stack.fail_storage_deletes = True
    ctx = Context.from_settings(load_settings())
    try:
        result = asyncio.run(RestoreApplyJob(ctx, ORG_A, backup["id"], plan["plan_id"]).run())
    finally:
        f.stack.fail_storage_deletes = False
        ctx.close()
    assert result.success and "Restored" in result.message
    assert any("could not be deleted" in w for w in result.warnings), result.warnings
    after = everything(odd_db)
    after.pop("trigger_hits"), before.pop("trigger_hits")
    assert after == before  # the rows are back
    assert f"{ORG_A}/added later.pdf" in f.keys("invoices", f"{ORG_A}/")  # left over, and said so


def test_files_changed_after_the_rows_export_are_backed_up_as_they_are_then(files):
    """The files step's set-up (the Storage session, the previous backup, the store's copies) runs
    while the rows export, but Storage is listed only once the snapshot has ended: an object
    changed, deleted or added until then is backed up as it is then, as before that set-up moved."""
    import hashlib

    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.backup import BackupJob
    from tenant_backup_gui.services.context import Context
    f = files
    seed(f)
    cli_json("backup", "--org", ORG_A)  # the previous backup: the three objects below look unchanged in it
    changed, deleted, added = f"{ORG_A}/2026/01/inv 1.pdf", f"{ORG_A}/empty.txt", f"{ORG_A}/added meanwhile.pdf"

    def on_event(ev):  # delivered on the job's thread, before it goes on (no event loop bound)
        if ev.kind == "message" and ev.message == "backing up the tenant's files":  # the snapshot has ended
            f.put("invoices", changed, b"%PDF-2 the new version")
            f.api.storage_delete("invoices", [deleted])
            f.put("invoices", added, b"added after the rows")
    ctx = Context.from_settings(load_settings())
    try:
        job = BackupJob(ctx, ORG_A, on_event=on_event)
        assert job.prepare() == []
        result = job.run_blocking()
    finally:
        ctx.close()
    objects = {o["path"]: o for o in json.loads((files_store() / result.summary_key).read_text())
               ["manifest"]["files"]["objects"]}
    assert objects[changed]["sha256"] == hashlib.sha256(b"%PDF-2 the new version").hexdigest()
    assert deleted not in objects and objects[added]["size"] == len(b"added after the rows")
    assert not [w for w in result.warnings if "deleted during the backup" in w]
    assert cli_json("verify", "--org", ORG_A, "--backup", result.id)["success"]


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_an_object_deleted_between_the_listing_and_its_copy_is_left_out_with_a_warning(files, tmp_path):
    """On a live app an object can go between the listing and its copy: the backup goes on
    without it, and says so."""
    from tenant_backup_gui.core.files import FilesRule
    from tenant_backup_gui.stores.folder import FolderStore
    from tenant_backup_gui.stores.tenant_files import TenantFiles
    f = files
    keys = [f"{ORG_A}/going/{i}.pdf" for i in range(3)]
    for k in keys:
        f.put("invoices", k, k.encode())
    asked = []

    def cancelled() -> bool:  # asked as each copy starts; one lane copies in key order
        if not asked:
            f.api.storage_delete("invoices", [keys[-1]])
        asked.append(True)
        return False
    warnings: list[str] = []
    tf = TenantFiles(f.api, FolderStore(tmp_path / "store"), ORG_A, (FilesRule("invoices", "{organization_id}/"),),
                     cancelled=cancelled, jobs=1)
    entries = tf.backup({}, {}, warn=warnings.append)
    assert [e.path for e in entries] == keys[:2]
    assert warnings == [f"invoices/{keys[-1]} was deleted during the backup: not in this backup"]


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_rows_naming_missing_files_under_the_prefixes_cost_no_request(files, odd_db):
    """The listing of the tenant's prefixes is whole: a key a row names there that is not in it is
    absent, without asking Storage once per such row (an app's rows often outlive their files).
    Only a named key outside the prefixes is looked up."""
    f = files
    seed(f)
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("insert into invoice_email_sends (organization_id, pdf_storage_path) select %s, %s || "
                  "'/deleted long ago/' || g || '.pdf' from generate_series(1, 50) g", [ORG_A, ORG_A])
    f.stack.storage_requests.clear()
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    lists = [r for r in f.stack.storage_requests if r[1].startswith("/object/list-v2/")]
    assert len(lists) == 3  # the two rules' prefixes, and shared/a-….pdf (named, outside the prefixes)
    objects = json.loads((files_store() / backup["summary"]).read_text())["manifest"]["files"]["objects"]
    assert len(objects) == 5 and not [o for o in objects if "deleted long ago" in o["path"]]


def test_an_object_whose_cache_control_or_metadata_changed_is_put_back(files, odd_db):
    """Issue 24 item 11: same bytes (so the same size and ETag) and content type, but an edited cache
    control or user metadata, was counted unchanged and never put back, though the backup keeps both."""
    seed(files)
    inv = f"{ORG_A}/2026/01/inv 1.pdf"
    logo = f"org-{ORG_A}-logo.png"
    before = {k: files.get(b, k) for b, k in (("invoices", inv), ("organization-logos", logo))}
    backup = cli_json("backup", "--org", ORG_A)["backup"]["id"]
    files.put("invoices", inv, before[inv][0], cache="no-store", meta={"customer": "c-1", "sent": "yes"})
    files.put("organization-logos", logo, before[logo][0], ctype="image/png", meta={"w": "128"})
    plan = dry_run(ORG_A, backup)
    assert plan["success"], plan["problems"]
    up = {(d["bucket"], d["path"]) for d in plan["files"]["to_upload"]}
    assert up == {("invoices", inv), ("organization-logos", logo)}, plan["files"]
    assert apply(ORG_A, backup, plan["plan_id"]).returncode == 0
    assert {k: files.get(b, k) for b, k in (("invoices", inv), ("organization-logos", logo))} == before
    again = dry_run(ORG_A, backup)  # put back exactly: nothing differs any more
    assert again["files"]["to_upload"] == [], again["files"]


def test_diff_against_now_names_the_files_added_removed_and_changed_since(files, odd_db):
    """`diff --against now` compares the files too, as a restore's dry run judges them (issue 22)."""
    f = files
    seed(f)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    assert cli_json("diff", "--org", ORG_A, "--backup", backup["id"])["files"] == []
    f.api.storage_delete("invoices", [f"{ORG_A}/2026/01/inv 1.pdf", f"shared/a-{ORG_A}.pdf"])
    f.put("organization-logos", f"org-{ORG_A}-logo.png", b"a new logo", ctype="image/png")
    f.put("invoices", f"{ORG_A}/added later.pdf", b"not in the backup")
    f.put("invoices", f"{ORG_B}/theirs.pdf", b"another organization's")  # never in A's diff
    out = cli_json("diff", "--org", ORG_A, "--backup", backup["id"], "--against", "now")
    got = {(d["kind"], d["bucket"], d["path"]) for d in out["files"]}
    assert got == {("removed", "invoices", f"{ORG_A}/2026/01/inv 1.pdf"), ("removed", "invoices", f"shared/a-{ORG_A}.pdf"),
                   ("changed", "organization-logos", f"org-{ORG_A}-logo.png"),
                   ("added", "invoices", f"{ORG_A}/added later.pdf")}
    text = run_cli("diff", "--org", ORG_A, "--backup", backup["id"], "--against", "now", check=True).stdout
    assert "files: 1 added, 2 removed, 1 changed" in text
