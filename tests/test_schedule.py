"""The nightly run in the OS scheduler, for real where this machine has it (cron, systemd-analyze),
generated and parsed where it does not (launchd, Task Scheduler)."""

from __future__ import annotations

import json
import os
import plistlib
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, time, timezone

import pytest

from tenant_backup_gui.platform import scheduler

from .conftest import ORG_A, ORG_B, cli_json, run_cli

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
SPEC = scheduler.Spec(time(2, 0), ["/opt/tenant backup/bin/tenant-backup", "daily"],
                      {"TENANT_BACKUP_STORE": "/srv/backups"})


def test_cron_install_status_remove_touches_only_our_line(crontab, odd_db, env, tmp_path):
    env(odd_db)
    mine = "15 4 * * 1 /usr/local/bin/someone-elses-job --weekly"
    subprocess.run(["crontab", "-"], input=mine + "\n", text=True, check=True)
    doc = cli_json("schedule", "install", "--at", "03:30")
    assert doc["installed"] and doc["backend"] == "cron"  # no systemd user instance on this machine
    assert doc["command"][-1] == "daily" and os.path.isabs(doc["command"][0])
    assert doc["next_run"].endswith("03:30+00:00")
    table = subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout.splitlines()
    assert table[0] == mine and len(table) == 2 and scheduler.CRON_MARK + " " in table[1]
    again = cli_json("schedule", "install", "--at", "03:30")  # idempotent
    assert again["installed"] and len(subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout.splitlines()) == 2
    status = cli_json("schedule", "status")
    assert status["installed"] and status["command"] == doc["command"] and "last_result" in status
    gone = cli_json("schedule", "remove")
    assert gone["installed"] is False
    assert subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout.splitlines() == [mine]


def test_the_scheduled_command_runs_in_a_bare_environment(crontab, odd_db, env, tmp_path):
    """As cron runs it: no DISPLAY, no session bus, a minimal PATH; the secret from a 0600 file."""
    store = env(odd_db)
    secrets = tmp_path / "tenant-backup.env"
    secrets.write_text(f"TENANT_BACKUP_DATABASE_URL={shlex.quote(odd_db)}\nTENANT_BACKUP_STORE={store}\n")
    secrets.chmod(0o644)
    cp = run_cli("schedule", "install", "--env-file", str(secrets))
    assert cp.returncode == 2 and "chmod 600" in cp.stderr
    secrets.chmod(0o600)
    doc = cli_json("schedule", "install", "--env-file", str(secrets))
    assert any("0600" in w for w in doc["warnings"])
    line = next(l for l in subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout.splitlines()
                if scheduler.cron_mark() + " " in l)
    command = line.split(None, 5)[5].split(scheduler.CRON_MARK)[0]
    log_home = tmp_path / "home"
    log_home.mkdir()
    bare = {"HOME": str(log_home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    subprocess.run(["/bin/sh", "-c", command], env=bare, timeout=300, check=True)
    listed = {o: json.loads(run_cli("backups", "--org", o, "--json", check=True).stdout) for o in (ORG_A, ORG_B)}
    assert all(v and v[0]["type"] == "daily" and v[0]["complete"] for v in listed.values())
    rows = cli_json("history", "--type", "daily")
    assert rows[0]["status"] == "completed"
    log = next(log_home.rglob("daily.log")).read_text()
    assert "Daily tenant backup completed successfully" in log and odd_db not in log
    assert "password" not in line.lower() and odd_db not in line  # the secret stays in the file


def test_systemd_units_verify_and_persist():
    units = scheduler.systemd_units(SPEC)
    timer = units[f"{scheduler.unit()}.timer"]
    assert "OnCalendar=*-*-* 02:00:00 UTC" in timer and "Persistent=true" in timer
    service = units[f"{scheduler.unit()}.service"]
    assert "ExecStart='/opt/tenant backup/bin/tenant-backup' daily" in service
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        real = dict(SPEC.__dict__)
        real["command"] = ["/bin/true", "daily"]
        for name, text in scheduler.systemd_units(scheduler.Spec(**real)).items():
            (scheduler.Path(d) / name).write_text(text)
        cp = subprocess.run(["systemd-analyze", "verify", f"{d}/{scheduler.unit()}.timer", f"{d}/{scheduler.unit()}.service"],
                            capture_output=True, text=True)
        assert cp.returncode == 0, cp.stderr


def test_launchd_plist_and_task_xml_parse(monkeypatch):
    monkeypatch.setenv("TZ", "America/Regina")  # UTC-6 all year
    import time as _t
    _t.tzset()
    try:
        plist = plistlib.loads(scheduler.launchd_plist(SPEC, NOW))
        assert plist["Label"] == scheduler.launchd_label() and plist["ProgramArguments"] == SPEC.command
        assert plist["StartCalendarInterval"] == {"Hour": 20, "Minute": 0}  # 02:00 UTC in Regina
        assert plist["EnvironmentVariables"] == {"TENANT_BACKUP_STORE": "/srv/backups"}
        root = ET.fromstring(scheduler.schtasks_xml(SPEC, NOW).replace('encoding="UTF-16"', ""))
        ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
        assert root.find("t:Settings/t:StartWhenAvailable", ns).text == "true"
        assert root.find("t:Triggers/t:CalendarTrigger/t:StartBoundary", ns).text == "2026-07-01T20:00:00"
        assert root.find("t:Actions/t:Exec/t:Command", ns).text == SPEC.command[0]
        assert root.find("t:Actions/t:Exec/t:Arguments", ns).text == "daily"
    finally:
        monkeypatch.delenv("TZ")
        _t.tzset()


def test_doctor_reports_each_check_with_a_fix(odd_db, env):
    env(odd_db)
    cp = run_cli("doctor", "--json")
    doc = json.loads(cp.stdout)
    by = {c["name"]: c for c in doc["checks"]}
    assert by["database"]["status"] == "ok" and by["privileges"]["status"] == "ok" and by["setup"]["status"] == "ok"
    assert by["backup folder"]["status"] in ("ok", "warn") and "GiB free" in by["backup folder"]["message"]
    assert cp.returncode == (0 if doc["success"] else 1)
    env("postgresql://nobody@127.0.0.1:9/none")
    doc = json.loads(run_cli("doctor", "--json").stdout)
    db = next(c for c in doc["checks"] if c["name"] == "database")
    assert db["status"] == "fail" and db["fix"] and doc["success"] is False


def test_daily_warns_when_the_last_success_is_old(odd_db, env):
    env(odd_db)
    cli_json("daily")
    import psycopg
    with psycopg.connect(odd_db) as c:
        c.execute("update backup_logs set started_at = started_at - interval '3 days', "
                  "completed_at = completed_at - interval '3 days' where backup_type in ('daily', 'daily_tenant')")
    doc = cli_json("daily")
    assert any("hours ago" in w for w in doc["warnings"])


def test_profiles_have_their_own_schedule_config_and_folder(crontab, odd_db, env, tmp_path, monkeypatch):
    env(odd_db)
    monkeypatch.delenv("TENANT_BACKUP_CONFIG")
    monkeypatch.delenv("TENANT_BACKUP_STORE")
    default = cli_json("schedule", "install")
    prod = cli_json("schedule", "install", "--at", "04:00", "--profile", "prod")
    assert prod["command"][-3:] == ["--profile", "prod", "daily"] and default["command"][-1] == "daily"
    assert "--profile" not in default["command"]
    lines = subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout.splitlines()
    assert len(lines) == 2
    cli_json("schedule", "remove", "--profile", "prod")
    lines = subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout.splitlines()
    assert len(lines) == 1 and "--profile" not in lines[0]  # the default profile's line stays
    cli_json("schedule", "remove")
    b = cli_json("backup", "--org", ORG_A, "--profile", "prod")["backup"]
    prod_store = tmp_path / "xdg-data" / "tenant-backup" / "profiles" / "prod" / "backups"
    assert (prod_store / b["summary"]).exists()  # the profile's own folder, not the default one
    cp = run_cli("tenants", "--profile", "../etc")
    assert cp.returncode == 2 and "profile name" in cp.stderr


def test_headless_commands_never_import_qt(odd_db, env):
    import sys
    env(odd_db)
    code = ("import sys, json, tenant_backup_gui.cli as c; rc = c.main(['daily', '--json']); "
            "sys.stderr.write(json.dumps([m for m in sys.modules if m.startswith(('PySide6', 'qasync'))]))")
    cp = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert json.loads(cp.stdout or "{}").get("success") is True, cp.stderr[-500:]
    assert cp.stderr.strip().endswith("[]"), cp.stderr[-300:]
