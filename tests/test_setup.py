"""`tenant-backup setup`: idempotent, versioned, and it upgrades the old system's backup_logs."""

import psycopg

from .conftest import cli_json


def test_setup_installs_then_reports_up_to_date(templates, env):
    url = templates.clone(templates.template("tpl_empty", "select 1"))
    env(url)
    first = cli_json("setup")
    assert first["previous_version"] is None and first["version"] == 1 and first["message"].startswith("installed")
    second = cli_json("setup")
    assert second["previous_version"] == 1 and second["message"].startswith("up to date")


def test_setup_upgrades_the_old_systems_backup_logs_and_keeps_its_rows(templates, env):
    url = templates.clone(templates.template("tpl_empty", "select 1"))
    with psycopg.connect(url) as c:
        c.execute("""create table backup_logs (id bigserial primary key, backup_type text, status text,
                     started_at timestamptz, completed_at timestamptz, records_backed_up int, backup_size bigint,
                     tables_count int, metadata jsonb, errors jsonb, created_at timestamptz default now())""")
        c.execute("insert into backup_logs (backup_type, status) values ('daily_tenant', 'completed')")
    env(url)
    cli_json("setup")
    rows = cli_json("history")
    assert len(rows) == 1 and rows[0]["backup_type"] == "daily_tenant" and rows[0]["organization_id"] is None
    # and new rows go into it, whatever type the old id column has
    with psycopg.connect(url) as c:
        c.execute("create table organizations (id uuid primary key, name text)")
        c.execute("insert into organizations values ('00000000-0000-4000-8000-00000000000a', 'A')")
    cli_json("backup", "--org", "00000000-0000-4000-8000-00000000000a")
    rows = cli_json("history")
    assert rows[0]["backup_type"] == "manual" and rows[0]["status"] == "completed" and rows[0]["completed_at"]
