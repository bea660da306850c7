"""The Supabase path end to end, as an owner runs it: the project URL and the service role key,
backups in Supabase Storage — the real CLI in a child process against the real PostgREST (max-rows
1000) and the real Supabase Storage server. Backup → dry run → apply is exact, neighbours are
untouched, the mirror holds the same bytes, the window starts on it, and retention deletes past
the 1000-per-call cap."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from tenant_backup_gui.core import manifest as mf
from tenant_backup_gui.stores.backups import list_backups
from tenant_backup_gui.stores.supabase_storage import SupabaseStorageStore

from .conftest import ORG_A, ORG_B, cli_json, run_cli
from .helpers import rows_of, wait_for
from .supabase_local import SupabaseLocal, postgrest_binary
from .test_restore import damage, everything

pytestmark = pytest.mark.skipif(postgrest_binary() is None, reason="PostgREST not installed (.ci/run installs it)")


@pytest.fixture
def project(odd_db, env, tmp_path, monkeypatch):
    """A Supabase project on the odd schema, 2600 rows of one tenant's table past max-rows, the
    one-time SQL run as the SQL editor would, and the tool configured with URL + key only."""
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("insert into big_table (organization_id, payload) select %s, 'more ' || g "
                  "from generate_series(1, 2600) g", [ORG_A])
    env(odd_db)
    sql = run_cli("setup", "--print-sql", check=True).stdout
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute(sql)
    with SupabaseLocal(odd_db) as stack:
        stack.wait_for_schema()
        monkeypatch.delenv("TENANT_BACKUP_DATABASE_URL")
        monkeypatch.setenv("SUPABASE_URL", stack.url)
        monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", stack.service_key)
        monkeypatch.setenv("TENANT_BACKUP_STORE", "supabase")
        monkeypatch.setenv("TENANT_BACKUP_MIRROR", str(tmp_path / "mirror"))
        yield stack


def test_backup_dry_run_and_apply_over_rest_and_storage_are_exact(project, odd_db, tmp_path):
    before = everything(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    [(big,)] = rows_of(odd_db, "select count(*) from big_table where organization_id = %s", ORG_A)
    assert backup["tables"]["big_table"]["record_count"] == big > 2600
    # in the bucket, and the same bytes in the mirror
    store = SupabaseStorageStore(project.url, project.service_key)
    objects = {o.key: o.size for o in store.list("tenant-backups/")}
    mirror = Path(tmp_path / "mirror")
    assert objects and {k: (mirror / k).stat().st_size for k in objects} == objects
    assert cli_json("verify", "--org", ORG_A, "--backup", backup["id"])["success"]

    damage(odd_db, ORG_A)
    damaged = everything(odd_db)
    plan = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    assert plan["success"] and plan["plan_id"]
    assert plan["tables"]["big_table"]["to_insert"] > 0 and plan["tables"]["big_table"]["to_delete"] == 1
    assert everything(odd_db) == damaged, "the dry run changed something"

    done = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", plan["plan_id"], "--yes")
    assert done["success"] and done["safety_backup_id"]
    after = everything(odd_db)
    # the app's trigger did not fire (its one row is from damage()'s own insert)
    assert after.pop("trigger_hits") == damaged["trigger_hits"]
    before.pop("trigger_hits")
    assert after == before  # every other table, every row, byte for byte; ORG_B untouched too
    backups = {b["id"]: b for b in cli_json("backups", "--org", ORG_A)}
    assert backups[done["safety_backup_id"]]["type"] == "safety"
    history = cli_json("history", "--org", ORG_A, "--type", "restore")
    assert history[0]["status"] == "completed" and history[0]["metadata"]["via"] == "rest"
    # a row inserted after the restore gets a fresh id: the sequences moved past the restored ones
    with psycopg.connect(odd_db) as c:
        c.execute("insert into big_table (organization_id, payload) values (%s, 'after')", [ORG_A])


def test_the_apply_is_refused_when_the_data_changed_and_nothing_is_touched(project, odd_db):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    damage(odd_db, ORG_A)
    plan = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    with psycopg.connect(odd_db) as c:
        c.execute("insert into big_table (organization_id, payload) values (%s, 'written after the dry run')", [ORG_A])
    changed = everything(odd_db)
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", plan["plan_id"], "--yes")
    assert cp.returncode != 0 and "the data changed since the dry run; run it again" in cp.stderr
    assert len(cp.stderr.strip().splitlines()) == 1
    assert everything(odd_db) == changed


def test_tenants_scope_and_doctor_over_rest(project, odd_db):
    assert {t["id"] for t in cli_json("tenants")} >= {ORG_A, ORG_B}
    assert "big_table" in {t["name"] for t in cli_json("scope")["tables"]}
    doctor = {c["name"]: c for c in json.loads(run_cli("doctor", "--json").stdout)["checks"]}
    assert doctor["supabase"]["status"] == "ok" and doctor["setup"]["status"] == "ok", doctor
    assert doctor["backup store"]["status"] == "ok"


def test_the_anon_key_is_refused_before_anything_is_read(project, monkeypatch):
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", project.anon_key)
    cp = run_cli("backup", "--org", ORG_A)
    assert cp.returncode != 0 and "anon key" in cp.stderr and "service role key" in cp.stderr
    assert project.anon_key not in cp.stderr and len(cp.stderr.strip().splitlines()) == 1


def test_retention_deletes_more_than_1000_objects_from_storage(project, odd_db, tmp_path):
    """Old backups past the API's 1000-per-call delete cap: all go but each tenant's newest."""
    store = SupabaseStorageStore(project.url, project.service_key)
    newest = cli_json("backup", "--org", ORG_B)["backup"]
    summary_key = newest["summary"]
    summary = store.open_reader(summary_key).read().decode()
    parts = [o.key for o in store.list(summary_key.rsplit("/", 1)[0] + "/") if o.key != summary_key]
    payloads = {k: store.open_reader(k).read() for k in parts}
    start = datetime.now(timezone.utc) - timedelta(days=400)
    written = 0
    for i in range(1100 // (len(parts) + 1) + 1):  # old copies of it, each under its own id and day
        when = start + timedelta(days=i)
        new_id = mf.timestamp_id(when)
        old_id = newest["id"]
        text = summary.replace(old_id, new_id).replace(old_id[:10], new_id[:10])
        for k, data in payloads.items():
            store.put_bytes(k.replace(old_id[:10], new_id[:10]).replace(old_id, new_id), data)
        store.put_bytes(summary_key.replace(old_id[:10], new_id[:10]).replace(old_id, new_id), text.encode())
        written += len(parts) + 1
    assert written > 1000
    assert len(list_backups(store, ORG_B)) > 1000 // (len(parts) + 1)
    result = cli_json("cleanup")
    assert result["success"] and len(result["deleted"]) >= 1000 // (len(parts) + 1)
    left = list_backups(store, ORG_B)
    assert [b.id for b in left] == [newest["id"]]
    assert len(store.list(f"tenant-backups/{ORG_B}/")) == len(parts) + 1


def test_the_window_starts_on_the_supabase_project(project, qtbot, loop):
    from tenant_backup_gui.gui.main_window import MainWindow
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.context import Context
    w = MainWindow(Context.from_settings(load_settings()))
    qtbot.addWidget(w)
    w.show()
    wait_for(loop, lambda: w.tenant_table.rowCount() >= 2, what="organizations over REST")
    assert "Database: Supabase project" in w.st_conn.full_text() and "Store: Supabase Storage" in w.st_store.full_text()
    assert w.st_conn.full_text().endswith("Setup: ok")


def test_daily_over_rest_backs_up_every_active_tenant_into_storage(project, odd_db):
    result = cli_json("daily")
    assert result["success"] and result["summary"]["failed_tenants"] == 0
    store = SupabaseStorageStore(project.url, project.service_key)
    for org in (ORG_A, ORG_B):
        assert [b.complete for b in list_backups(store, org)] == [True]


def test_rows_over_the_direct_connection_backups_in_storage(project, odd_db, monkeypatch):
    """With TENANT_BACKUP_DATABASE_URL as well, rows travel over it (one snapshot) and the backups
    still go to Storage; the restore reads them back from there."""
    monkeypatch.setenv("TENANT_BACKUP_DATABASE_URL", odd_db)
    before = everything(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    store = SupabaseStorageStore(project.url, project.service_key)
    assert [b.id for b in list_backups(store, ORG_A)] == [backup["id"]]
    damage(odd_db, ORG_A)
    damaged = everything(odd_db)
    plan = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", plan["plan_id"], "--yes")
    after = everything(odd_db)
    assert after.pop("trigger_hits") == damaged["trigger_hits"]
    before.pop("trigger_hits")
    assert after == before
    history = cli_json("history", "--org", ORG_A, "--type", "restore")
    assert history[0]["metadata"]["via"] == "direct"  # the direct road into the same engine


def test_settings_dialog_saves_the_project_and_keeps_the_key_in_the_keyring(project, qtbot, loop, monkeypatch,
                                                                           tmp_path, file_keyring):
    from tenant_backup_gui.gui.main_window import MainWindow
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.context import Context
    for var in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "TENANT_BACKUP_STORE", "TENANT_BACKUP_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    w = MainWindow(Context.from_settings(load_settings()))
    qtbot.addWidget(w)
    w.show()
    wait_for(loop, lambda: getattr(w, "settings_dialog", None) is not None and w.settings_dialog.isVisible(),
             what="the settings dialog on first start")
    dlg = w.settings_dialog
    dlg.supabase_url.setText(project.url)
    dlg.supabase_key.setText(project.anon_key)
    assert not loop.run_until_complete(dlg.test_connection()) and "anon key" in dlg.status.text()
    dlg.supabase_key.setText(project.service_key)
    assert dlg.supabase_key.echoMode() == dlg.supabase_key.EchoMode.Password
    assert loop.run_until_complete(dlg.test_connection()), dlg.status.text()
    assert "Supabase project" in dlg.status.text()
    dlg.store_kind.setCurrentIndex(dlg.store_kind.findData("supabase"))
    assert not dlg.store.isEnabled() and dlg.mirror.isEnabled()
    dlg.mirror.setText(str(tmp_path / "mirror"))
    dlg.save()
    config = (tmp_path / "config.toml").read_text()
    assert project.url in config and 'kind = "supabase"' in config and "mirror" in config
    assert project.service_key not in config
    assert project.service_key in file_keyring.read_text()
    wait_for(loop, lambda: w.tenant_table.rowCount() >= 2, what="organizations over REST after saving")
    assert "Store: Supabase Storage" in w.st_store.full_text() and "mirror" in w.st_store.full_text()


def test_a_run_stopped_by_the_apis_statement_timeout_says_what_to_do(project, odd_db):
    """Supabase's API roles carry a statement timeout; a run that outlasts it gets one line that
    points to the direct connection (no retries: it would time out again), and nothing changes."""
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    damage(odd_db, ORG_A)
    damaged = everything(odd_db)
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("alter role service_role set statement_timeout = '1ms'")
        c.execute("notify pgrst, 'reload config'")
    try:
        time.sleep(1)  # PostgREST reloads its role settings asynchronously
        cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    finally:
        with psycopg.connect(odd_db, autocommit=True) as c:
            c.execute("alter role service_role reset statement_timeout")
            c.execute("notify pgrst, 'reload config'")
    assert cp.returncode != 0 and len(cp.stderr.strip().splitlines()) == 1, cp.stderr
    assert "statement timeout" in cp.stderr and "TENANT_BACKUP_DATABASE_URL" in cp.stderr
    assert everything(odd_db) == damaged


def test_a_backup_whose_lease_was_taken_meanwhile_is_not_completed(project, odd_db, tmp_path):
    """The lease ran out (a network loss, say) and another job took the tenant: the backup may hold
    a mix of before and after, so it must not be written as complete."""
    from tenant_backup_gui.core.errors import TenantBackupError
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.backup import BackupJob
    from tenant_backup_gui.services.context import Context
    (tmp_path / "config.toml").write_text("[database]\nlock_lease_seconds = 1\n")
    ctx = Context.from_settings(load_settings())
    taken = []

    def on_event(ev) -> None:
        if ev.kind == "table" and not taken:
            with psycopg.connect(odd_db, autocommit=True) as c:  # another run's lease replaces ours
                taken.append(c.execute("update tenant_backup_locks set token = gen_random_uuid(), holder = 'another run' "
                                       "where organization_id = %s", [ORG_A]).rowcount)
            time.sleep(1)  # our renewal (every ttl/3) finds it gone

    with pytest.raises(TenantBackupError) as e:
        BackupJob(ctx, ORG_A, on_event=on_event).run_blocking()
    ctx.close()
    assert taken == [1] and "lock on organization" in str(e.value) and "was lost" in str(e.value)
    store = SupabaseStorageStore(project.url, project.service_key)
    assert [b for b in list_backups(store, ORG_A) if b.complete] == []


def test_the_tenant_overview_over_rest_equals_the_direct_one(project, odd_db, monkeypatch):
    """Last backup and attention marks come from one query (last_backups.sql) on both roads."""
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services import inventory
    from tenant_backup_gui.services.context import Context
    cli_json("backup", "--org", ORG_A)
    with psycopg.connect(odd_db, autocommit=True) as c:  # 1200 newer history rows of the other tenant, failed
        c.execute("insert into backup_logs (backup_type, status, started_at, organization_id) "
                  "select 'manual', 'failed', now() - g * interval '0.1 millisecond', %s from generate_series(1, 1200) g",
                  [ORG_B])
    rest = Context.from_settings(load_settings())
    monkeypatch.setenv("TENANT_BACKUP_DATABASE_URL", odd_db)
    direct = Context.from_settings(load_settings())
    over_rest, over_direct = inventory.tenant_overview(rest), inventory.tenant_overview(direct)
    rest.close()
    assert over_rest == over_direct
    mine = {t["id"]: t for t in over_rest}
    assert not mine[ORG_A]["attention"] and mine[ORG_B]["why"] == "last backup failed"
