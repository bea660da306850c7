"""Backups over a direct connection against a real PostgreSQL with an awkward schema."""

from __future__ import annotations

import hashlib
import json
import re
import threading

import psycopg
import pytest

from tenant_backup_gui.sources.direct.lock import TenantLock

from .conftest import ORG_A, ORG_B, ORG_C, cli_json, run_cli
from .helpers import load_summary, table_lines


def db_rows(url: str, sql: str, *params) -> list[str]:
    with psycopg.connect(url) as c:
        return sorted(r[0] for r in c.execute(sql, params))


def select_list(url: str, table: str) -> str:
    """Every column as row_to_json shows it, except json, jsonb and arrays: their text, as a JSON
    string — row_to_json alone writes SQL NULL and JSON null the same way and drops array bounds,
    and a backup must not."""
    with psycopg.connect(url) as c:
        cols = c.execute("select column_name, data_type, udt_name from information_schema.columns "
                         "where table_name = %s order by ordinal_position", [table]).fetchall()
    return ", ".join(f't."{n}"' if u not in ("json", "jsonb") and d != "ARRAY" else f'to_json(t."{n}"::text) as "{n}"'
                     for n, d, u in cols)


def test_backup_is_complete_and_exact_for_every_type(odd_db, env):
    store = env(odd_db)
    doc = cli_json("backup", "--org", ORG_A)
    assert doc["success"] is True
    b = doc["backup"]
    assert b["organization_id"] == ORG_A and b["type"] == "manual" and re.fullmatch(r"\d{4}-\d\d-\d\d", b["date"])
    summary = load_summary(store, ORG_A, b["id"])
    # Every row, byte for byte as PostgreSQL renders it, and nothing else.
    for table, where in [
        ("odd_types", "organization_id = %s"),
        ("big_table", "organization_id = %s"),
        ("nodes", "organization_id = %s"),
        ("no_pk_table", "organization_id = %s"),
        ("organizations", "id = %s"),
        ("order_items", "order_id in (select id from orders where organization_id = %s)"),
        ("order_item_notes", "order_item_id in (select i.id from order_items i join orders o on o.id = i.order_id "
                             "where o.organization_id = %s)"),
    ]:
        expected = db_rows(odd_db, f"select row_to_json(x)::text from (select {select_list(odd_db, table)} "
                                   f"from {table} t where {where}) x", ORG_A)
        assert sorted(table_lines(store, summary, table)) == expected, table
        assert b["tables"][table]["record_count"] == len(expected)
    assert b["tables"]["big_table"]["record_count"] > 1000  # past PostgREST's default cap
    odd = [json.loads(l) for l in table_lines(store, summary, "odd_types")]
    assert {r["j_json"] for r in odd} >= {None, "null"}  # SQL NULL and JSON null stay apart
    assert b["tables"]["order_item_notes"]["record_count"] > 0  # depth-2 child without organization_id


def test_globals_and_own_tables_are_not_exported_and_missing_tables_warn(odd_db, env):
    store = env(odd_db)
    b = cli_json("backup", "--org", ORG_A)["backup"]
    assert "countries" not in b["tables"] and "trigger_hits" not in b["tables"]
    assert "backup_logs" not in b["tables"] and "tenant_backup_meta" not in b["tables"]
    summary = load_summary(store, ORG_A, b["id"])
    warnings = summary["manifest"]["warnings"]
    assert any("'user_invites'" in w for w in warnings)
    assert summary["manifest"]["skipped_tables"]["countries"].startswith("global")


def test_summary_keeps_the_old_fields_and_adds_a_manifest(odd_db, env):
    store = env(odd_db)
    b = cli_json("backup", "--org", ORG_B)["backup"]
    s = load_summary(store, ORG_B, b["id"])
    for key in ("organization_id", "organization_name", "backup_date", "backup_timestamp", "tables",
                "total_records", "total_size", "errors"):
        assert key in s
    assert s["backup_timestamp"].replace(":", "-").replace(".", "-") == b["id"]
    m = s["manifest"]
    packed = any("offset" in p for t in m["tables"].values() for p in t["parts"])
    assert m["format_version"] == (3 if packed else 2) and m["type"] == "manual" and m["tool_version"]
    assert m["started_at"] <= m["finished_at"]
    odd = m["tables"]["odd_types"]
    assert odd["key"] == ["id"] and odd["key_kind"] == "primary" and odd["generated_columns"] == ["total"]
    assert {c["name"]: c["type"] for c in odd["columns"]}["n_numeric"] == "numeric"
    assert m["tables"]["no_pk_table"]["key_kind"] == "none"
    assert m["tables"]["unique_only"]["key_kind"] == "unique"
    for t in m["tables"].values():
        for p in t["parts"]:
            data = (store / p["key"]).read_bytes()
            assert len(data) == p["bytes"] and hashlib.sha256(data).hexdigest() == p["sha256"]
            assert re.fullmatch(rf"tenant-backups/{ORG_B}/{b['date']}/([a-z_]+\.[0-9a-f]{{8}}|packed)-{b['id']}"
                                rf"(-l\d\d)?-p\d{{4}}\.jsonl\.gz", p["key"])
            assert ("offset" in p) == ("/packed-" in p["key"])
    assert s["total_records"] == sum(t["record_count"] for t in m["tables"].values())
    # the old per-table entries still say where the data is
    assert s["tables"]["big_table"]["storage_path"] == m["tables"]["big_table"]["parts"][0]["key"]
    assert "password" not in json.dumps(m["source"]).lower()


def test_listing_verify_and_damage(odd_db, env):
    store = env(odd_db)
    first = cli_json("backup", "--org", ORG_A)["backup"]
    second = cli_json("backup", "--org", ORG_A)["backup"]
    listed = cli_json("backups", "--org", ORG_A)
    assert [x["id"] for x in listed] == [second["id"], first["id"]]  # newest first
    assert all(x["complete"] and x["type"] == "manual" for x in listed)
    assert listed[0]["total_records"] == second["total_records"]
    assert cli_json("verify", "--org", ORG_A, "--backup", first["id"])["success"] is True

    s = load_summary(store, ORG_A, first["id"])
    part = store / s["manifest"]["tables"]["big_table"]["parts"][0]["key"]
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01
    part.write_bytes(bytes(data))
    cp = run_cli("verify", "--org", ORG_A, "--backup", first["id"])
    assert cp.returncode == 1 and "does not match its checksum" in cp.stdout

    part2 = store / load_summary(store, ORG_A, second["id"])["manifest"]["tables"]["odd_types"]["parts"][0]["key"]
    part2.write_bytes(part2.read_bytes()[:-10])
    cp = run_cli("verify", "--org", ORG_A, "--backup", second["id"], "--json")
    assert cp.returncode == 1 and json.loads(cp.stdout)["success"] is False


def test_an_interrupted_backup_is_listed_as_incomplete_never_complete(odd_db, env):
    store = env(odd_db)
    b = cli_json("backup", "--org", ORG_A)["backup"]
    summary = next(store.glob(f"tenant-backups/{ORG_A}/*/summary-{b['id']}.json"))
    summary.unlink()  # what a crash before the last write leaves behind
    listed = cli_json("backups", "--org", ORG_A)
    assert listed[0]["id"] == b["id"] and listed[0]["complete"] is False
    cp = run_cli("verify", "--org", ORG_A, "--backup", b["id"])
    assert cp.returncode != 0 and "incomplete" in cp.stderr


def test_cancel_leaves_nothing_that_looks_like_a_backup(odd_db, env, tmp_path):
    import asyncio
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.backup import BackupJob
    from tenant_backup_gui.services.context import Context
    from tenant_backup_gui.core.errors import Cancelled

    store = env(odd_db)
    ctx = Context.from_settings(load_settings())
    seen = []

    def on_event(ev):
        seen.append(ev)
        if ev.kind == "table" and ev.table == "big_table":
            job.cancel()

    job = BackupJob(ctx, ORG_A, on_event=on_event)
    with pytest.raises(Cancelled):
        asyncio.run(job.run())
    assert any(ev.kind == "table" for ev in seen)
    assert not list(store.rglob("*.json")) and not list(store.rglob("*.gz"))
    hist = cli_json("history", "--org", ORG_A)
    assert hist[0]["status"] == "cancelled" and hist[0]["completed_at"] is not None


def test_bad_input_gives_one_clear_line(odd_db, env, tmp_path):
    env(odd_db)
    cases = [
        (["backup", "--org", "not-a-uuid"], 2, "not an organization id"),
        (["backup", "--org", "00000000-0000-4000-8000-0000000000ff"], 2, "does not exist"),  # "no such": 2 (issue 24)
        (["tenants"], 2, "cannot connect", {"TENANT_BACKUP_DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:9/x"}),
        (["backup", "--org", ORG_A], 2, "not a folder", {"TENANT_BACKUP_STORE": str(tmp_path / "config.toml" / "x")}),
        (["tenants"], 2, "not valid TOML", {"TENANT_BACKUP_CONFIG": str(tmp_path / "bad.toml")}),
        (["verify", "--org", ORG_A, "--backup", "2020-01-01"], 2, "no complete daily or manual backup"),
    ]
    (tmp_path / "bad.toml").write_text("exclude = [unclosed\n")
    for args, code, words, *extra in cases:
        cp = run_cli(*args, env=extra[0] if extra else None)
        assert cp.returncode == code, (args, cp.stderr)
        lines = cp.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (args, cp.stderr)
        assert "Traceback" not in cp.stderr and "hunter2" not in cp.stderr
    assert not list((tmp_path / "store").rglob("summary-*.json"))


def test_password_in_config_file_is_refused(odd_db, env):
    env(odd_db, config='[database]\nurl = "postgresql://app:s3cret@db.example/app"\n')
    import os
    e = {k: v for k, v in os.environ.items() if k != "TENANT_BACKUP_DATABASE_URL"}
    import subprocess, sys
    cp = subprocess.run([sys.executable, "-m", "tenant_backup_gui", "tenants"], env=e, capture_output=True, text=True)
    assert cp.returncode == 2 and "holds a password" in cp.stderr and "s3cret" not in cp.stderr


def test_one_backup_per_tenant_at_a_time(odd_db, env):
    env(odd_db, config="[database]\nlock_wait_seconds = 1\n")
    with TenantLock(odd_db, ORG_A, 0):
        cp = run_cli("backup", "--org", ORG_A)
        assert cp.returncode == 3 and "another backup or restore" in cp.stderr
        # other tenants are not held up
        assert run_cli("backup", "--org", ORG_B).returncode == 0


def test_history_records_each_backup_with_real_times(odd_db, env):
    env(odd_db)
    cli_json("backup", "--org", ORG_A)
    run_cli("backup", "--org", "00000000-0000-4000-8000-0000000000ff")
    rows = cli_json("history")
    ok = next(r for r in rows if r["organization_id"] == ORG_A)
    assert ok["backup_type"] == "manual" and ok["status"] == "completed"
    assert ok["started_at"] <= ok["completed_at"] and ok["records_backed_up"] > 0 and ok["tables_count"] > 5
    assert ok["run_by"] and ok["run_host"] and ok["backup_id"]
    failed = next(r for r in rows if r["status"] == "failed")
    assert "does not exist" in failed["errors"][0]


def test_backup_still_succeeds_when_history_cannot_be_written(odd_db, env):
    env(odd_db)
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("drop table backup_logs")
    cp = run_cli("backup", "--org", ORG_A, "--json")
    assert cp.returncode == 0
    doc = json.loads(cp.stdout)
    assert doc["success"] and any("history not written" in w for w in doc["backup"]["warnings"])


def test_daily_backs_up_every_active_tenant_and_survives_one_failure(odd_db, env):
    store = env(odd_db)
    # A store fault that hits one tenant only: its folder is a file.
    (store / "tenant-backups").mkdir(parents=True)
    (store / "tenant-backups" / ORG_B).write_text("in the way")
    cp = run_cli("daily", "--json")
    assert cp.returncode == 1
    doc = json.loads(cp.stdout)
    assert doc["success"] is False
    s = doc["summary"]
    assert s == {"total_tenants": 2, "successful_tenants": 1, "failed_tenants": 1,
                 "total_records": s["total_records"], "total_size": s["total_size"]}
    assert s["total_records"] > 1500
    assert ORG_C in doc["skipped_deleted_tenants"]  # deleted_at is set
    failed = next(t for t in doc["tenants"] if not t["success"])
    assert failed["organization_id"] == ORG_B
    (store / "tenant-backups" / ORG_B).unlink()
    doc = cli_json("daily")
    assert doc["success"] and doc["summary"]["failed_tenants"] == 0
    listed = cli_json("backups", "--org", ORG_B)
    assert listed[0]["type"] == "daily"
    types = [r["backup_type"] for r in cli_json("history")]
    assert "daily" in types and "daily_tenant" in types and "cleanup" in types


def test_daily_exit_code_2_when_the_database_is_unreachable(env, tmp_path):
    env("postgresql://nobody@127.0.0.1:9/none")
    cp = run_cli("daily", "--json")
    assert cp.returncode == 2 and "cannot connect" in cp.stderr
    assert json.loads(cp.stdout) == {"error": cp.stderr.strip().removeprefix("tenant-backup: error: "), "exit_code": 2}


def test_tenants_json(odd_db, env):
    env(odd_db)
    items = cli_json("tenants")
    assert {t["id"] for t in items} == {ORG_A, ORG_B, ORG_C}
    assert all(t["name"] for t in items)


def test_parts_split_under_the_size_limit(tmp_path):
    from tenant_backup_gui.stores.backups import BackupWriter, iter_part_lines
    from tenant_backup_gui.stores.folder import FolderStore
    import os
    store = FolderStore(tmp_path)
    w = BackupWriter(store, ORG_A, "2026-01-01T00-00-00-000Z", part_bytes=64 * 1024)
    w.begin_table("noise")
    lines = [json.dumps({"id": i, "x": os.urandom(200).hex()}) for i in range(3000)]
    batch = []
    for line in lines:
        batch.append(line)
        if sum(map(len, batch)) > w.batch_bytes:
            w.write(("\n".join(batch) + "\n").encode(), len(batch))
            batch = []
    if batch:
        w.write(("\n".join(batch) + "\n").encode(), len(batch))
    parts = w.end_table()
    w.close()
    assert 5 < len(parts) < 25 and all(p.bytes <= 64 * 1024 for p in parts)
    assert sum(p.rows for p in parts) == 3000
    got = [l.decode() for p in parts for l in iter_part_lines(store, p)]
    assert got == lines


def test_a_table_dropped_as_the_backup_starts_gives_a_clear_error(odd_db, env):
    """The drop commits while the backup waits for its table locks: the backup stops cleanly
    and says to run it again; the next run succeeds without that table."""
    import subprocess, sys, os, time
    store = env(odd_db)
    dropper = psycopg.connect(odd_db)
    dropper.execute("drop table order_item_notes")  # uncommitted: holds the table locked
    proc = subprocess.Popen([sys.executable, "-m", "tenant_backup_gui", "backup", "--org", ORG_A],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    with psycopg.connect(odd_db, autocommit=True) as watch:
        for _ in range(200):
            waiting = watch.execute("select count(*) from pg_stat_activity where application_name = 'tenant-backup' "
                                    "and wait_event_type = 'Lock'").fetchone()[0]
            if waiting:
                break
            time.sleep(0.05)
        assert waiting, "the backup never reached its table locks"
    dropper.commit()
    dropper.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert len(err.strip().splitlines()) == 1 and "run the backup again" in err
    assert not list(store.rglob("summary-*.json")) and not list(store.rglob("*.gz"))
    again = cli_json("backup", "--org", ORG_A)["backup"]
    assert "order_item_notes" not in again["tables"] and again["tables"]["order_items"]["record_count"] == 12


def test_disk_full_mid_backup_leaves_no_backup_behind(odd_db, env, tmp_path):
    import subprocess
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(small)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs on this machine (needs root)")
    try:
        store = env(odd_db, store=small / "store")
        cp = run_cli("backup", "--org", ORG_A)
        assert cp.returncode == 1 and "is full" in cp.stderr and len(cp.stderr.strip().splitlines()) == 1
        assert not list(store.rglob("summary-*.json")) and not list(store.rglob("*.gz"))
        assert not [p for p in store.rglob("*") if p.is_file()]  # temp files removed too
        assert cli_json("history", "--org", ORG_A)[0]["status"] == "failed"
    finally:
        subprocess.run(["umount", str(small)])


def test_scope_shows_what_a_backup_holds_and_why(odd_db, env):
    env(odd_db, config='global_tables = ["big_table"]\n[parent_paths]\nno_pk_table = { column = "a", parent = "odd_serial" }\n')
    doc = cli_json("scope")
    tables = {t["name"]: t for t in doc["tables"]}
    assert tables["order_item_notes"]["reached"] == "through order_item_id → order_items → order_id → orders"
    assert tables["organizations"]["reached"] == "the tenant table, by its key"
    assert "big_table" not in tables and doc["skipped"]["big_table"] == "global table (config)"
    assert doc["skipped"]["countries"].startswith("global: no tenant column")
    assert any("'user_invites'" in w for w in doc["warnings"])
