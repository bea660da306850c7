"""After kill -9: the next job on the tenant (and `cleanup`) removes the dead writer's temp parts,
history rows of jobs that are gone become failed "interrupted", and a killed apply leaves a
restore row saying so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from .conftest import ORG_A, ORG_B, ROOT, cli_json, run_cli
from .roads import road  # noqa: F401 - the fixture


def _grow(url: str, rows: int = 400_000) -> None:
    """Enough rows in ORG_A that a backup is still writing when it is killed."""
    with psycopg.connect(url) as c:
        c.execute("insert into big_table (organization_id, payload) select %s, md5(i::text) || repeat('x', 200) "
                  "from generate_series(1, %s) i", [ORG_A, rows])


def _temp_parts(store) -> list:
    return [p for p in store.rglob(".*.tmp-*")]


def _kill_backup_mid_write(store) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tenant_backup_gui", "backup", "--org", ORG_A],
                            cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not any(p.stat().st_size > 0 for p in _temp_parts(store) if p.exists()):
            assert proc.poll() is None, "the backup finished before it could be killed; make the tenant bigger"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_the_next_backup_removes_a_killed_backups_temp_parts_and_marks_its_row_interrupted(odd_db, env):
    store = env(odd_db)
    _grow(odd_db)
    _kill_backup_mid_write(store)
    assert _temp_parts(store)
    rows = cli_json("history", "--org", ORG_A)  # its process is gone: history says so at once (issue 24)
    assert rows[0]["status"] == "failed" and "go with the next job" in rows[0]["errors"][0], rows
    cli_json("backup", "--org", ORG_A)
    assert _temp_parts(store) == []
    rows = cli_json("history", "--org", ORG_A, "--type", "manual")
    assert [r["status"] for r in rows] == ["completed", "failed"]
    assert rows[1]["errors"][0].startswith("interrupted")
    assert cli_json("history", "--status", "in_progress") == []


def test_cleanup_removes_a_killed_backups_temp_parts_and_counts_them(odd_db, env):
    store = env(odd_db)
    _grow(odd_db)
    _kill_backup_mid_write(store)
    assert _temp_parts(store)
    left = sum(p.stat().st_size for p in _temp_parts(store))
    doc = cli_json("cleanup")
    assert _temp_parts(store) == [] and doc["freed_bytes"] >= left
    assert cli_json("history", "--org", ORG_A, "--type", "manual")[0]["status"] == "failed"


def test_a_killed_apply_leaves_a_restore_row_saying_so(odd_db, env):
    store = env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    _grow(odd_db, 200_000)  # so that the apply's safety backup is still writing when it is killed
    plan = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")["plan_id"]
    proc = subprocess.Popen([sys.executable, "-m", "tenant_backup_gui", "restore", "--org", ORG_A, "--backup",
                             backup["id"], "--apply", "--plan", plan, "--yes"], cwd=str(ROOT),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not _temp_parts(store):
            assert proc.poll() is None, "the apply finished before it could be killed"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    cli_json("backup", "--org", ORG_A)  # the next job on the tenant reconciles
    restores = cli_json("history", "--org", ORG_A, "--type", "restore")
    assert len(restores) == 1 and restores[0]["status"] == "failed", restores
    assert "interrupted" in restores[0]["errors"][0] and "no row was restored" in restores[0]["errors"][0]
    assert restores[0]["metadata"]["plan_id"] == plan
    assert cli_json("history", "--status", "in_progress") == []


def test_a_completed_apply_leaves_exactly_one_restore_row(odd_db, env):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    plan = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")["plan_id"]
    assert run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", plan, "--yes").returncode == 0
    restores = cli_json("history", "--org", ORG_A, "--type", "restore")
    assert [r["status"] for r in restores] == ["completed"]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _in_progress_row(url: str, kind: str, org: str | None, pid: int, space: str | None, host: str | None = None) -> str:
    import json
    import socket
    import psycopg
    meta = {"pid": pid, **({"pid_space": space} if space else {}), **({"plan_id": "plan-x", "stand_in": True}
                                                                      if kind == "restore" else {})}
    with psycopg.connect(url, autocommit=True) as c:
        return str(c.execute("insert into backup_logs (backup_type, status, started_at, organization_id, metadata, "
                             "run_host) values (%s, 'in_progress', now(), %s, %s, %s) returning id",
                             [kind, org, json.dumps(meta), host or socket.gethostname()]).fetchone()[0])


def test_a_killed_restores_row_says_so_in_history_before_any_job_locks_the_tenant(odd_db, env):
    """Issue 24 item 11: the row stayed in_progress until the next job that locked that tenant."""
    from tenant_backup_gui.platform.processes import pid_space
    env(odd_db)
    _in_progress_row(odd_db, "restore", ORG_A, _dead_pid(), pid_space())
    rows = cli_json("history", "--org", ORG_A)
    assert rows[0]["status"] == "failed" and "no row was restored" in rows[0]["errors"][0], rows
    # and any job of another kind, on another tenant, puts a killed backup's row right too
    _in_progress_row(odd_db, "manual", ORG_A, _dead_pid(), pid_space())
    cli_json("backup", "--org", ORG_B)
    with __import__("psycopg").connect(odd_db) as c:
        assert c.execute("select count(*) from backup_logs where status = 'in_progress'").fetchone()[0] == 0


def test_a_pid_of_another_container_with_the_same_hostname_is_not_judged_here(odd_db, env):
    """Same hostname, another pid namespace (or boot): the pid means another process, so the row is
    left for the lock-holding job's age rule, not marked interrupted because no such pid runs here."""
    env(odd_db)
    other = _in_progress_row(odd_db, "manual", ORG_A, _dead_pid(), "another-boot pid:[1]")
    cli_json("backup", "--org", ORG_A)  # holds the tenant's lock: judged the row by hostname + pid before
    cli_json("history")
    with __import__("psycopg").connect(odd_db) as c:
        assert c.execute("select status from backup_logs where id = %s", [other]).fetchone()[0] == "in_progress"


def test_temp_copies_live_in_one_folder_per_tenant_and_the_sweep_reads_only_it(odd_db, env):
    """Issue 24 item 11: the sweep walked every one of a tenant's file copies to find temp files."""
    from tenant_backup_gui.core.files import stored_key
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.context import Context
    from tenant_backup_gui.services.leftovers import has_temp_files, reconcile
    from tenant_backup_gui.stores.folder import FolderStore
    store = env(odd_db)
    folder = FolderStore(store)
    done = folder.open_writer(stored_key(ORG_A, "ab" * 32))
    done.write(b"a copy")
    done.commit()
    killed = folder.open_writer(stored_key(ORG_A, "cd" * 32))
    killed.write(b"half a copy")  # never committed: its process was killed
    tmp = store / "tenant-files" / ORG_A / ".tmp"
    assert [p.name for p in tmp.iterdir()] == [f".{'cd' * 32}.tmp-{os.getpid()}"]
    assert not list((store / "tenant-files" / ORG_A / "cd").glob("*"))  # nothing beside the copies
    ctx = Context.from_settings(load_settings())
    assert has_temp_files(ctx, ORG_A)
    assert reconcile(ctx, ORG_A)["temp_files"] == 1 and list(tmp.iterdir()) == []
    assert folder.list(f"tenant-files/{ORG_A}/")[0].key.endswith("ab" * 32)


@pytest.mark.parametrize("road", ["rest"], indirect=True)
def test_over_rest_a_rows_age_is_the_servers_not_the_writing_hosts_clock(road):
    """Issue 24 item 11: the REST road aged a row by the writing host's started_at against the reading
    host's clock; a writer whose clock ran a day ahead left a row no job ever judged old enough."""
    with psycopg.connect(road.db, autocommit=True) as c:
        row = str(c.execute("insert into backup_logs (backup_type, status, started_at, created_at, organization_id, "
                            "metadata, run_host) values ('manual', 'in_progress', now() + interval '1 day', "
                            "now() - interval '1 hour', %s, '{\"pid\": 4242}', 'another-host') returning id",
                            [ORG_A]).fetchone()[0])
    cli_json("backup", "--org", ORG_A)  # holds the tenant's lock: a row older than any lock wait is gone
    with psycopg.connect(road.db) as c:
        assert c.execute("select status from backup_logs where id = %s", [row]).fetchone()[0] == "failed"
