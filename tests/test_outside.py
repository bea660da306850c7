"""Found by trying the product from outside (kill -9 mid-job, hand-edited backups, the installed
wheel): each test reproduces what a user or an attacker saw, against the real stack."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from .conftest import ORG_A, ROOT, cli_json
from .helpers import kill_cli_when, resign
from .test_files import files, files_store, seed  # noqa: F401  (the fixture: rows' road + the real Storage server)
from .test_install import installed  # noqa: F401  (the fixture: the wheel in a fresh venv)


def _file_temps() -> list:
    root = files_store() / "tenant-files"
    return [p for p in root.rglob(".*.tmp-*")] if root.exists() else []


def _kill_a_backup_during_its_file_copies(files) -> None:
    """Big files, a backup in a child process, kill -9 once a copy is streaming into the store."""
    for i in range(3):
        files.put("invoices", f"{ORG_A}/big/scan-{i}.bin", os.urandom(24 * 1024 * 1024), ctype="application/pdf")
    kill_cli_when(["backup", "--org", ORG_A], lambda: any(p.exists() and p.stat().st_size > 0 for p in _file_temps()),
                  "backup (of the big files)")


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_a_backup_killed_during_its_file_copies_leaves_no_temp_copy_after_the_next_backup(files):
    """kill -9 while a file's copy streams into the store left `.sha.tmp-PID` under tenant-files/
    (up to the object's size) forever: the next job only swept the tenant's parts folder."""
    _kill_a_backup_during_its_file_copies(files)
    assert _file_temps()
    cli_json("backup", "--org", ORG_A)
    assert _file_temps() == []
    manual = cli_json("history", "--org", ORG_A, "--type", "manual")
    assert [r["status"] for r in manual] == ["completed", "failed"]


def _edit_files_manifest(backup: dict, edit) -> None:
    """What someone with write access to the backup folder can do: the summary is plain JSON (its
    parts' checksums are in it; the files' entries carry their own SHA-256 and size)."""
    path = files_store() / backup["summary"]
    doc = json.loads(path.read_text())
    edit(doc["manifest"]["files"]["objects"])
    path.write_text(json.dumps(doc))
    resign(path)  # as one holding the key could: the files' own checks, not the signature, must refuse


def _dry_run(backup_id: str):
    return subprocess.run([sys.executable, "-m", "tenant_backup_gui", "restore", "--org", ORG_A, "--backup",
                           backup_id, "--dry-run"], cwd=str(ROOT), capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_a_dry_run_refuses_a_file_whose_copy_does_not_match_the_manifest(files):
    """The manifest's size of a file edited to 10**18: the dry run passed ("would upload 1
    (1000000000000000000 bytes)") and only the apply refused. What the dry run passes, the apply
    must be able to do: the copies it would upload are checked there too."""
    seed(files)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    key = f"{ORG_A}/2026/01/inv 1.pdf"
    files.api.storage_delete("invoices", [key])
    _edit_files_manifest(backup, lambda objs: next(e for e in objs if e["path"] == key).update(size=10**18))
    cp = _dry_run(backup["id"])
    err = cp.stderr.strip()
    assert cp.returncode == 1 and "does not match its checksum" in err and "inv 1.pdf" in err, cp.stdout + err
    assert "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_a_backup_listing_one_object_twice_is_refused(files):
    """Two entries for one key with different contents: the dry run counted 'upload 1, 9 unchanged'
    for 9 objects, and which content the apply would leave was up to thread timing."""
    seed(files)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    key = f"{ORG_A}/2026/01/inv 1.pdf"

    def twice(objs):
        other = next(e for e in objs if e["path"] == f"{ORG_A}/empty.txt")
        objs.append(dict(other, path=key))
    _edit_files_manifest(backup, twice)
    cp = _dry_run(backup["id"])
    err = cp.stderr.strip()
    assert cp.returncode == 1 and "twice" in err and "inv 1.pdf" in err, cp.stdout + err
    assert "\n" not in err


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_the_windows_progress_counts_files_as_files(files, qtbot):
    """The window's progress row of a backup with files read 'files: 5 rows, 54.7 KiB'."""
    from tenant_backup_gui.gui.jobs import JobRow
    from tenant_backup_gui.services.backup import BackupJob
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.context import Context
    seed(files)
    row = JobRow("Backup", None)
    qtbot.addWidget(row)
    seen = []

    def show(ev):
        row.on_event(ev)
        seen.append(row.detail.text())
    asyncio.run(BackupJob(Context.from_settings(load_settings()), ORG_A, "manual", on_event=show).run())
    shown = [t for t in seen if t.startswith("files:")]
    assert shown and shown[-1].startswith("files: 5 files, ") and not any("rows" in t for t in shown), shown


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_the_wizard_names_the_files_it_will_upload_and_delete_and_did(files, qtbot, loop):
    """Rows unchanged, one file gone, one file added since the backup: the dry run's headline and the
    confirm page (the last step before the change) said "Nothing to change: the organization
    already equals the backup." while a replace would upload one file and delete another; the
    result page said nothing of files either."""
    from tenant_backup_gui.gui.restore_wizard import PAGE_CONFIRM, PAGE_DRY_RUN, PAGE_RESULT

    from .test_gui import open_restore_wizard, wait_for
    seed(files)
    cli_json("backup", "--org", ORG_A)
    files.api.storage_delete("invoices", [f"{ORG_A}/2026/01/inv 1.pdf"])
    files.put("invoices", f"{ORG_A}/added later.pdf", b"new")
    _, wiz = open_restore_wizard(qtbot, loop, ORG_A)
    wiz.next()
    wiz.next()
    wait_for(loop, lambda: wiz.plan is not None, what="the dry run")
    headline = wiz.page(PAGE_DRY_RUN).verdict.text()
    assert "upload 1 file and delete 1 file" in headline and "Nothing to change" not in headline, headline
    wiz.next()
    assert wiz.currentId() == PAGE_CONFIRM
    assert "upload 1 file and delete 1 file" in wiz.page(PAGE_CONFIRM).text.text()
    wiz.page(PAGE_CONFIRM).name.setText("Acme Welding")
    wiz.next()
    wait_for(loop, lambda: wiz.currentId() == PAGE_RESULT, what="the apply")
    done = wiz.page(PAGE_RESULT).text.text()  # it said only "Restored 1,565 rows in 13 tables …"
    assert "Files: uploaded 1 (" in done and "deleted 1 (" in done and f"{ORG_A}/added later.pdf" in done, done
    assert f"{ORG_A}/2026/01/inv 1.pdf" in files.keys("invoices", ORG_A)


SUPABASE_JS = ROOT / "tests" / ".npm" / "node_modules"


def _seen_by_supabase_js(stack, tables: list[str]) -> dict:
    from .supabase_local.storage_server import node_binary
    env = {**os.environ, "SUPABASE_URL": stack.url, "SERVICE_KEY": stack.service_key,
           "SUPABASE_JS_DIR": str(SUPABASE_JS), "ORG": ORG_A, "TABLES": ",".join(tables),
           "BUCKETS": "invoices,organization-logos"}
    cp = subprocess.run([str(node_binary()), str(ROOT / "tests" / "outside_js_snapshot.mjs")], env=env,
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    return json.loads(cp.stdout)


@pytest.mark.skipif(not (SUPABASE_JS / "@supabase" / "supabase-js").is_dir(),
                    reason="supabase-js not installed (.ci/run installs it)")
@pytest.mark.parametrize("files", ["rest"], indirect=True)
def test_supabase_js_sees_a_restored_tenants_rows_and_files_as_they_were(files, odd_db):
    """The app itself reads its tenant through supabase-js: after a backup, the tenant's rows and
    files deleted, and a restore over the Supabase road, it must see exactly what it saw before."""
    import psycopg
    seed(files)
    tables = ["organizations", "teams", "members", "nodes", "invoice_email_sends", "odd_serial"]
    before = _seen_by_supabase_js(files.stack, tables)
    assert before["rows"]["members"] and len(before["files"]) == 5
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("update teams set lead_member_id = null where organization_id = %s", [ORG_A])
        c.execute("delete from members where organization_id = %s", [ORG_A])
        c.execute("delete from invoice_email_sends where organization_id = %s", [ORG_A])
    files.api.storage_delete("invoices", [f"{ORG_A}/2026/01/inv 1.pdf", f"shared/a-{ORG_A}.pdf"])
    files.api.storage_delete("organization-logos", [f"org-{ORG_A}-logo.png"])
    files.put("invoices", f"{ORG_A}/added later.pdf", b"new")
    assert _seen_by_supabase_js(files.stack, tables) != before
    plan = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", plan["plan_id"], "--yes")
    assert _seen_by_supabase_js(files.stack, tables) == before


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_an_apply_killed_during_its_file_uploads_is_told_truly_and_a_new_dry_run_and_apply_finish_it(files, odd_db):
    """kill -9 once the apply's safety backup is written (its uploads run next, before the rows):
    the rows are as before, the history row of the apply says no row was restored — not "nothing
    was restored", since files it uploaded stay — and a fresh dry run and apply put back both."""
    import psycopg

    from .conftest import fingerprint
    seed(files)
    for i in range(3):
        files.put("invoices", f"{ORG_A}/big/scan-{i}.bin", os.urandom(16 * 1024 * 1024), ctype="application/pdf")
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    rows_then = fingerprint(odd_db, ["big_table", "members", "teams", "nodes", "organizations"])
    files_then = files.snapshot()
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("delete from big_table where organization_id = %s", [ORG_A])
    files.api.storage_delete("invoices", [f"{ORG_A}/big/scan-{i}.bin" for i in range(3)])
    tenant_tables = ["big_table", "members", "teams", "nodes", "organizations"]
    rows_before = fingerprint(odd_db, tenant_tables)
    plan = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    summaries = lambda: set(files_store().rglob("summary-*.json"))  # noqa: E731
    known = summaries()
    # killed once the safety backup is complete: the uploads come next
    kill_cli_when(["restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", plan["plan_id"], "--yes"],
                  lambda: summaries() != known, "apply")
    assert fingerprint(odd_db, tenant_tables) == rows_before  # the rows' transaction never committed
    plan = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", plan["plan_id"], "--yes")
    killed = cli_json("history", "--org", ORG_A, "--type", "restore", "--status", "failed")  # put right under its lock
    assert "no row was restored" in killed[0]["errors"][0] and "nothing was restored" not in killed[0]["errors"][0]
    assert fingerprint(odd_db, tenant_tables) == rows_then
    assert files.snapshot() == files_then
    assert cli_json("history", "--status", "in_progress") == []


def test_a_daily_run_killed_mid_way_is_not_left_running_forever(odd_db, env):
    """kill -9 of `daily --jobs 2` while its tenants' backups run: the next daily marked the tenants'
    rows failed "interrupted", but the run's own `daily` row stayed in_progress for good (no
    tenant lock ever covers it), in the history and the window."""
    import psycopg

    from .test_daily_parallel import add_tenants
    from .test_leftovers import _grow
    env(odd_db)
    add_tenants(odd_db, 6)
    _grow(odd_db, 200_000)

    def running() -> list:
        with psycopg.connect(odd_db) as c:
            return c.execute("select backup_type from backup_logs where status = 'in_progress'").fetchall()
    kill_cli_when(["daily", "--jobs", "2"], lambda: ("daily_tenant",) in running(), "daily run")
    assert ("daily",) in running()
    assert cli_json("daily", "--jobs", "2")["success"]
    assert cli_json("history", "--status", "in_progress") == []
    killed = cli_json("history", "--type", "daily")[-1]
    assert killed["status"] == "failed" and killed["errors"][0].startswith("interrupted"), killed


@pytest.mark.slow
def test_the_installed_apps_readme_opens_with_its_screenshots(installed, tmp_path):
    """Help → README of the window, installed from the wheel, said "The README is not part of
    this installation": the README and the screenshots it shows were left out of the wheel."""
    import re

    from .test_install import _user_env
    code = "from tenant_backup_gui.platform.paths import readme_path; print(readme_path())"
    cp = subprocess.run([str(installed / "python"), "-c", code], capture_output=True, text=True, cwd=str(tmp_path),
                        env=_user_env(tmp_path / "home"), timeout=120)
    assert cp.returncode == 0, cp.stderr
    readme = Path(cp.stdout.strip())
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Tenant Backup") and "## Restore" in text
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(pictures) >= 8
    for link in pictures:
        assert link.startswith("file://") and Path(link[len("file://"):]).is_file(), link


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_a_backup_with_files_says_so(files):
    """`backup` printed "completed: 1,565 records, 13 tables, 60 KiB" for a backup that also
    copied the tenant's files: nothing told the user the files were in it."""
    seed(files)
    doc = cli_json("backup", "--org", ORG_A)
    assert ", 5 files, 3.0 MiB" in doc["message"], doc["message"]
    assert doc["backup"]["files"]["count"] == 5 and doc["backup"]["files"]["bytes"] > 3 * 1024 * 1024


@pytest.mark.parametrize("files", ["rest"], indirect=True)
def test_doctor_on_the_supabase_road_with_the_key_in_the_environment_does_not_fail_for_want_of_a_keyring(
        files, monkeypatch):
    """Over the Supabase API with SUPABASE_SERVICE_ROLE_KEY set (the route the README gives for
    machines without a keyring), doctor said "FAIL keyring … set TENANT_BACKUP_DATABASE_URL
    instead": a failure for a secret this road does not use, and a fix that changes the road."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    check = next(c for c in json.loads(subprocess.run(
        [sys.executable, "-m", "tenant_backup_gui", "doctor", "--json"], cwd=str(ROOT), capture_output=True,
        text=True, timeout=120).stdout)["checks"] if c["name"] == "keyring")
    assert check["status"] == "warn", check
    assert "TENANT_BACKUP_DATABASE_URL" not in check["message"] + check["fix"], check
    assert "SUPABASE_SERVICE_ROLE_KEY" in check["fix"], check


@pytest.mark.parametrize("files", ["rest"], indirect=True)
def test_a_backup_killed_over_the_supabase_api_is_not_left_running_forever(files):
    """Over the Supabase API a killed backup's history row stayed in_progress for good: the next
    job on the tenant (once the dead run's lease expired) put right only the direct road's rows.
    Now the history listing itself marks it, its process on this host being gone (issue 24 item 11)."""
    from .test_files import RULES
    Path(os.environ["TENANT_BACKUP_CONFIG"]).write_text(RULES + "\n[database]\nlock_lease_seconds = 2\n")
    _kill_a_backup_during_its_file_copies(files)
    (dead,) = cli_json("history", "--org", ORG_A, "--type", "manual")
    assert dead["status"] == "failed" and dead["errors"][0].startswith("interrupted"), dead
    cli_json("backup", "--org", ORG_A)  # waits out the dead run's lease, then takes the tenant
    manual = cli_json("history", "--org", ORG_A, "--type", "manual")
    assert [r["status"] for r in manual] == ["completed", "failed"], manual
    assert manual[1]["errors"][0].startswith("interrupted")
    assert _file_temps() == []


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_a_files_rule_column_that_names_nothing_is_warned_of(files):
    """A `columns` entry with a typo (or a table the database does not have) silently took no
    object: `scope`, `doctor` and the backup said nothing, and the files its rows name were
    missing from every backup."""
    Path(os.environ["TENANT_BACKUP_CONFIG"]).write_text(
        '[[files]]\nbucket = "invoices"\npattern = "{organization_id}/"\n'
        'columns = ["invoice_email_send.pdf_storage_path", "invoice_email_sends.pdf_path"]\n')
    seed(files)
    warnings = cli_json("backup", "--org", ORG_A)["backup"]["warnings"]
    assert any("invoice_email_send.pdf_storage_path" in w and "no tenant table" in w for w in warnings), warnings
    assert any("invoice_email_sends.pdf_path" in w and "no column" in w for w in warnings), warnings
    scope = subprocess.run([sys.executable, "-m", "tenant_backup_gui", "scope", "--org", ORG_A], cwd=str(ROOT),
                           capture_output=True, text=True, timeout=120).stdout
    assert "invoice_email_send.pdf_storage_path" in scope and "no tenant table" in scope, scope


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_a_files_rule_column_of_a_table_outside_public_is_not_warned_of(files, odd_db):
    """A rule names a table without its schema (table.column); a table of another schema is found by
    its own name, as the backup's rows reader finds it, so it is not reported as naming nothing."""
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("create schema billing")
        c.execute("create table billing.receipts (id bigint generated always as identity primary key, "
                  "organization_id uuid not null references organizations(id), pdf_path text)")
    Path(os.environ["TENANT_BACKUP_CONFIG"]).write_text(
        'schemas = ["public", "billing"]\n[[files]]\nbucket = "invoices"\npattern = "{organization_id}/"\n'
        'columns = ["receipts.pdf_path", "receipts.pdf_paths"]\n')
    seed(files)
    warnings = cli_json("backup", "--org", ORG_A)["backup"]["warnings"]
    assert not any("receipts.pdf_path " in w or "receipts.pdf_path:" in w for w in warnings), warnings
    assert any("receipts.pdf_paths" in w and "no column" in w for w in warnings), warnings  # a real typo still is


@pytest.mark.parametrize("files", ["direct"], indirect=True)
def test_the_dry_runs_line_gives_file_sizes_a_person_reads(files):
    """The dry run's one line said "files: would upload 3 (62914560 bytes)"."""
    seed(files)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    files.api.storage_delete("organization-logos", [f"org-{ORG_A}-logo.png"])
    message = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")["message"]
    assert "files: would upload 1 (3.0 MiB), would delete 0, 4 unchanged" in message, message


@pytest.mark.parametrize("files", ["rest"], indirect=True)
def test_busy_after_a_killed_run_over_the_supabase_api_says_when_the_dead_runs_lock_expires(files):
    """Right after a kill -9 over the Supabase API, the next backup said the killed one "is
    running … try again when it has finished": it never will; its lease expires by itself."""
    from .conftest import run_cli
    from .test_files import RULES
    Path(os.environ["TENANT_BACKUP_CONFIG"]).write_text(
        RULES + "\n[database]\nlock_lease_seconds = 300\nlock_wait_seconds = 1\n")
    _kill_a_backup_during_its_file_copies(files)
    cp = run_cli("backup", "--org", ORG_A)
    assert cp.returncode == 3 and "is running" in cp.stderr, cp.stderr
    assert "if that run was stopped, its lock expires by itself at " in cp.stderr, cp.stderr
