"""Issue 24, the CLI as a newcomer meets it: organizations by name, one exit code for every
"no such" argument, which backup a date means (never the safety backup), what a dry run and
history name, and numbers grouped as the window groups them."""

from __future__ import annotations

import json

from .conftest import ORG_A, ORG_B, cli_json, run_cli
from .test_restore import apply, dry_run

UNKNOWN = "00000000-0000-4000-8000-0000000000ff"


def _one_line(cp, code: int) -> str:
    assert cp.returncode == code, (cp.returncode, cp.stdout, cp.stderr)
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in cp.stderr, cp.stderr
    return lines[0]


def test_org_takes_an_exact_name_in_any_case(odd_db, env):
    env(odd_db)
    doc = cli_json("backup", "--org", "acme WELDING")
    assert doc["backup"]["organization_id"] == ORG_A
    assert cli_json("backups", "--org", "Acme Welding")[0]["id"] == doc["backup"]["id"]


def test_an_unknown_name_lists_the_closest_names(odd_db, env):
    env(odd_db)
    line = _one_line(run_cli("backup", "--org", "Acme Weldin"), 2)
    assert "'Acme Weldin' is not an organization id (a UUID) nor the name of one (closest: Acme Welding)" in line


def test_no_such_organization_or_backup_exits_like_a_malformed_one(odd_db, env):
    env(odd_db)
    malformed = run_cli("backup", "--org", "not-an-id").returncode
    assert malformed == 2
    _one_line(run_cli("backup", "--org", UNKNOWN), malformed)
    _one_line(run_cli("restore", "--org", UNKNOWN, "--backup", "2026-01-01", "--dry-run"), malformed)
    cli_json("backup", "--org", ORG_A)
    for cmd in (["restore", "--dry-run"], ["verify"]):
        line = _one_line(run_cli(cmd[0], "--org", ORG_A, "--backup", "2001-01-01", *cmd[1:]), malformed)
        assert "no complete daily or manual backup" in line, line


def test_a_date_means_the_newest_daily_or_manual_backup_never_the_safety_one(odd_db, env):
    env(odd_db)
    manual = cli_json("backup", "--org", ORG_A)["backup"]
    plan = dry_run(ORG_A, manual["id"])
    assert apply(ORG_A, manual["id"], plan["plan_id"]).returncode == 0
    listed = cli_json("backups", "--org", ORG_A)
    assert [b["type"] for b in listed] == ["safety", "manual"]  # the safety backup is the day's newest
    day = manual["date"]
    report = dry_run(ORG_A, day)
    assert report["summary"]["backup_id"] == manual["id"]
    assert report["summary"]["backup_type"] == "manual" and report["summary"]["backup_created_at"]
    cp = run_cli("restore", "--org", ORG_A, "--backup", day, "--dry-run")
    assert cp.returncode == 0, cp.stderr
    assert f"manual backup {manual['id']} of {day} " in cp.stdout, cp.stdout
    doc = cli_json("verify", "--org", ORG_A, "--backup", day)  # show and diff resolve it in the same find_backup
    assert manual["id"] in json.dumps(doc) and listed[0]["id"] not in json.dumps(doc)
    # the safety backup by its id, and named so
    cp = run_cli("restore", "--org", ORG_A, "--backup", listed[0]["id"], "--dry-run")
    assert cp.returncode == 0 and f"safety backup {listed[0]['id']}" in cp.stdout, cp.stdout


def test_counts_are_grouped_and_the_dry_run_lists_changed_tables_first(odd_db, env):
    import psycopg
    env(odd_db)
    cp = run_cli("backup", "--org", ORG_A)
    assert cp.returncode == 0 and ",", cp.stderr
    total = cli_json("backups", "--org", ORG_A)[0]["total_records"]
    assert total >= 1000 and f"{total:,} records" in cp.stdout, cp.stdout
    backup = cli_json("backups", "--org", ORG_A)[0]["id"]
    with psycopg.connect(odd_db, autocommit=True) as c:
        table = c.execute("select table_name from information_schema.columns where column_name = 'organization_id' "
                          "and table_schema = 'public' order by table_name desc limit 1").fetchone()[0]
        c.execute(f'delete from "{table}" where organization_id = %s', (ORG_A,))
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup, "--dry-run")
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["table", "backup"])
    assert lines[head + 1].split()[0] == table, cp.stdout


def test_history_across_organizations_names_them(odd_db, env):
    env(odd_db)
    cli_json("backup", "--org", ORG_A)
    cli_json("backup", "--org", ORG_B)
    rows = cli_json("history")
    assert {r["organization_name"] for r in rows} >= {"Acme Welding", 'Côté & "Fils"'}
    cp = run_cli("history")
    assert cp.returncode == 0
    assert "Organization" in cp.stdout.splitlines()[0] and "Acme Welding" in cp.stdout, cp.stdout
    one = run_cli("history", "--org", ORG_A).stdout
    assert "Organization" not in one and "Acme Welding" not in one  # one organization: no column
