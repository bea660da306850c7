"""Retention rules (pure) and `cleanup` on a real store."""

from datetime import datetime, timedelta, timezone

from tenant_backup_gui.core.config import Retention
from tenant_backup_gui.core.manifest import BackupInfo, timestamp_id
from tenant_backup_gui.core.retention import decide

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)
ORG = "00000000-0000-4000-8000-00000000000a"


def backup(days_ago: float, complete=True, org=ORG):
    at = NOW - timedelta(days=days_ago)
    return BackupInfo(timestamp_id(at), org, "x", timestamp_id(at)[:10], at, "daily", 1, 1, complete)


def kept(decisions):
    return {d.backup.id for d in decisions if d.keep}


def test_old_backups_go_and_recent_ones_stay():
    items = [backup(d) for d in (1, 10, 29, 31, 45, 90)]
    ds = decide(items, Retention(days=30), NOW)
    assert kept(ds) == {b.id for b in items[:3]}
    why = {d.backup.id: d.reason for d in ds}
    assert why[items[3].id] == "older than 30 days"


def test_the_newest_complete_backup_is_never_deleted_however_old():
    old = backup(400)
    broken_newer = backup(2, complete=False)
    ds = decide([old, broken_newer], Retention(days=30), NOW)
    assert old.id in kept(ds)
    assert next(d for d in ds if d.backup is old).reason == "newest complete backup of this tenant"


def test_each_tenant_keeps_its_own_newest():
    a, b = backup(100, org=ORG), backup(200, org="00000000-0000-4000-8000-00000000000b")
    assert kept(decide([a, b], Retention(days=30), NOW)) == {a.id, b.id}


def test_keep_weekly_and_monthly_keep_one_per_bucket():
    items = [backup(d) for d in range(0, 200, 3)]  # every third day back to mid-December
    ds = decide(items, Retention(days=7, keep_weekly=8, keep_monthly=6), NOW)
    keep = [d.backup.created_at for d in ds if d.keep]
    assert {k.strftime("%Y-%m") for k in keep} == {f"2026-{m:02d}" for m in range(1, 7)}
    weeks = sorted({k.isocalendar()[:2] for k in keep}, reverse=True)
    newest_weeks = sorted({b.created_at.isocalendar()[:2] for b in items}, reverse=True)[:8]
    assert set(newest_weeks) <= set(weeks)
    # beyond the 7 days every survivor is some week's or month's newest: at most 8 + 6 of them
    older = [k for k in keep if k < NOW - timedelta(days=7)]
    assert len(older) <= 8 + 6
    assert len(keep) < len(items)


def test_incomplete_backups_are_removed_only_once_stale():
    fresh, stale = backup(0.1, complete=False), backup(3, complete=False)
    ds = {d.backup.id: d for d in decide([fresh, stale, backup(0)], Retention(), NOW)}
    assert ds[fresh.id].keep and not ds[stale.id].keep


def test_cleanup_dry_run_then_cleanup_on_a_real_store(legacy_db, legacy_store, env):
    from .conftest import LEGACY_ORG as org, cli_json
    store = legacy_store
    env(legacy_db, store=store)
    import psycopg
    with psycopg.connect(legacy_db) as c:
        c.execute("insert into organizations (id, name, slug) values (%s, 'Weldcor Supply', 'weldcor')", [org])
    # While the 2025 backup is the only one, it is the newest complete backup: it stays.
    dry = cli_json("cleanup", "--dry-run")
    assert dry["deleted"] == [] and dry["kept"][0]["reason"] == "newest complete backup of this tenant"
    new = cli_json("backup", "--org", org)["backup"]
    dry = cli_json("cleanup", "--dry-run")
    assert [d["id"] for d in dry["deleted"]] == ["2025-01-15T02-00-04-512Z"]
    assert dry["deleted"][0]["reason"] == "older than 30 days"
    assert {k["id"]: k["reason"] for k in dry["kept"]} == {new["id"]: "newest complete backup of this tenant"}
    assert len(cli_json("backups", "--org", org)) == 2  # a dry run deletes nothing
    done = cli_json("cleanup")
    assert done["success"] and len(done["deleted"]) == 1 and done["freed_bytes"] > 0
    assert [b["id"] for b in cli_json("backups", "--org", org)] == [new["id"]]
    assert not (store / "tenant-backups" / org / "2025-01-15").exists()
    assert cli_json("history", "--type", "cleanup")[0]["status"] == "completed"


def test_retention_lists_backups_without_their_tables_and_judges_them_alike(tmp_path):
    """Cleanup lists a month of every tenant's backups: without their tables (a 100-table summary
    parsed is hundreds of KB), yet a backup missing a part is still incomplete."""
    from tenant_backup_gui.core import manifest as mf
    from tenant_backup_gui.stores.backups import BackupWriter, list_backups
    from tenant_backup_gui.stores.folder import FolderStore
    store, org = FolderStore(tmp_path), "00000000-0000-4000-8000-00000000000a"
    for bid in ("2026-01-01T00-00-00-000Z", "2026-01-02T00-00-00-000Z"):
        w = BackupWriter(store, org, bid, 1 << 20)
        w.begin_table("t")
        w.write(b'{"id": 1}\n', 1)
        parts = w.end_table()
        now = mf.parse_timestamp_id(bid)
        w.finish(mf.build_summary(organization_id=org, organization_name=None, backup_id=bid, backup_type="daily",
                                  started=now, finished=now, tables=[mf.TableEntry("t", 1, parts)], warnings=[],
                                  tool_version="test", source={}, tenant_column="organization_id", skipped={}))
    (tmp_path / parts[0].key).unlink()  # the newer backup loses its part
    full, light = list_backups(store, org), list_backups(store, org, tables=False)
    assert [(b.id, b.complete, b.problem) for b in full] == [(b.id, b.complete, b.problem) for b in light]
    assert [b.complete for b in light] == [False, True] and all(not b.tables for b in light)
