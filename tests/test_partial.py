"""An old-system backup cut by its 1000-row cap is PARTIAL wherever it is shown, and a replace
from it (which would delete every row it lacks) needs an explicit acceptance."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tenant_backup_gui.core.partial import legacy_partial_reasons

from .conftest import LEGACY_ORG as ORG, cli_json, run_cli
from .helpers import old_system_backup

TS = "2025-02-03T02-00-01-000Z"


def write_truncated_legacy_backup(url: str, store: Path, bottles: int = 3600) -> None:
    """The tenant has `bottles` bottles; the old system's backup of it holds 1000 of them, and
    lacks invoice_line_items (no organization_id column: the old run failed on it)."""
    with psycopg.connect(url) as c:
        c.execute("insert into organizations (id, name, slug) values (%s, 'Weldcor Supply', 'weldcor')", [ORG])
        c.execute("insert into customers (id, organization_id, name) select gen_random_uuid(), %s, 'c' || g "
                  "from generate_series(1, 3) g", [ORG])
        c.execute("insert into bottles (id, organization_id, barcode_number, status) "
                  "select gen_random_uuid(), %s, 'B' || lpad(g::text, 5, '0'), 'full' "
                  "from generate_series(1, %s) g", [ORG, bottles])
        c.execute("create table invoice_line_items (id uuid primary key, invoice_id uuid, amount numeric)")
    old_system_backup(url, store, ORG, TS)


@pytest.fixture
def truncated(legacy_db, env, tmp_path) -> tuple[str, Path]:
    store = env(legacy_db)
    write_truncated_legacy_backup(legacy_db, store)
    return legacy_db, store


def test_reasons_name_the_capped_table_and_the_absent_one_not_a_missing_relation():
    ok = {"tables": {"bottles": {"success": True, "record_count": 999, "storage_path": "x"},
                     "user_invites": {"success": False, "error": 'relation "public.user_invites" does not exist'},
                     "gone": {"success": False, "error": "Could not find the table 'public.gone' (PGRST205)"}}}
    assert legacy_partial_reasons(ok) == []
    cut = {"tables": {"bottles": {"success": True, "record_count": 2000, "storage_path": "x"},
                      "empty": {"success": True, "record_count": 0, "storage_path": "y"},
                      "invoice_line_items": {"success": False, "error": "column organization_id does not exist"}}}
    reasons = legacy_partial_reasons(cut)
    assert len(reasons) == 2 and "bottles" in reasons[0] and "2,000" in reasons[0]
    assert "invoice_line_items" in reasons[1] and "absent" in reasons[1]


def test_backups_and_verify_say_partial_in_text_and_json(truncated):
    url, store = truncated
    listed = cli_json("backups", "--org", ORG)
    assert listed[0]["partial"] is True
    assert any("bottles" in r and "1,000" in r for r in listed[0]["partial_reasons"])
    assert any("invoice_line_items" in r for r in listed[0]["partial_reasons"])
    assert not any("user_invites" in r for r in listed[0]["partial_reasons"])
    text = run_cli("backups", "--org", ORG, check=True).stdout
    assert "PARTIAL" in text and "complete" not in text.split("PARTIAL")[0].splitlines()[-1]
    cp = run_cli("verify", "--org", ORG, "--backup", TS, "--trust-unsigned")  # old-system: unsigned by nature
    assert cp.returncode == 1 and cp.stdout.startswith("PARTIAL") and "row counts match" not in cp.stdout
    doc = json.loads(run_cli("verify", "--org", ORG, "--backup", TS, "--json", "--trust-unsigned").stdout)
    assert doc["partial"] is True and doc["partial_reasons"]


def test_the_old_sample_backup_is_not_partial(legacy_db, legacy_store, env):
    env(legacy_db, store=legacy_store)
    b = cli_json("backups", "--org", ORG)[0]
    assert b["partial"] is False and b["partial_reasons"] == []
    assert "complete (old format, no checksums)" in run_cli("backups", "--org", ORG, check=True).stdout


def test_replace_from_a_partial_backup_needs_accept_partial(truncated):
    url, _ = truncated
    cp = run_cli("restore", "--org", ORG, "--backup", TS, "--dry-run")
    assert cp.returncode == 2 and "--accept-partial" in cp.stderr and "partial" in cp.stderr
    assert len(cp.stderr.strip().splitlines()) == 1 and "Traceback" not in cp.stderr
    # missing-only cannot delete: allowed, and says partial
    doc = cli_json("restore", "--org", ORG, "--backup", TS, "--dry-run", "--mode", "missing-only",
                   "--trust-unsigned")
    assert doc["success"] and doc["partial"] is True and doc["tables"]["bottles"]["to_insert"] == 0
    # replace, knowingly: the dry run shows the 2,600 bottles it would delete
    doc = cli_json("restore", "--org", ORG, "--backup", TS, "--dry-run", "--accept-partial", "--trust-unsigned")
    assert doc["tables"]["bottles"]["to_delete"] == 2600
    with psycopg.connect(url) as c:
        assert c.execute("select count(*) from bottles").fetchone()[0] == 3600
    # the apply asks again: a plan alone (say, one the window made) does not replace from a partial backup
    cp = run_cli("restore", "--org", ORG, "--backup", TS, "--apply", "--plan", doc["plan_id"], "--yes")
    assert cp.returncode == 2 and "--accept-partial" in cp.stderr
    with psycopg.connect(url) as c:
        assert c.execute("select count(*) from bottles").fetchone()[0] == 3600
    done = cli_json("restore", "--org", ORG, "--backup", TS, "--apply", "--plan", doc["plan_id"], "--yes",
                    "--accept-partial", "--trust-unsigned")
    assert done["safety_backup_id"]
    with psycopg.connect(url) as c:  # knowingly: the bottles the backup lacked are gone (the safety backup has them)
        assert c.execute("select count(*) from bottles").fetchone()[0] == 1000
