"""`tenant-backup demo`: a sandbox a newcomer can use right away, headless here."""

from __future__ import annotations

import json
import os
import re

from .conftest import run_cli


def test_demo_sandbox_serves_the_cli(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "TENANT_BACKUP_DATABASE_URL": "", "TENANT_BACKUP_STORE": ""}
    try:
        cp = run_cli("demo", "--headless", env=env)
        assert cp.returncode == 0, cp.stderr
        exports = dict(re.findall(r"export (\w+)='([^']*)'", cp.stdout))
        assert set(exports) == {"TENANT_BACKUP_DATABASE_URL", "TENANT_BACKUP_STORE"}
        assert "tenant-backup backup --org" in cp.stdout
        env.update(exports)
        # The sandbox's own backup key, read from its file as the printed line does (never printed itself):
        # the demo's backups are signed without a keyring, so its restores need no --trust-unsigned.
        (key_file,) = re.findall(r"export TENANT_BACKUP_KEY=\"\$\(cat '([^']+)'\)\"", cp.stdout)
        env["TENANT_BACKUP_KEY"] = open(key_file).read().strip()
        assert env["TENANT_BACKUP_KEY"] not in cp.stdout + cp.stderr
        assert oct(os.stat(key_file).st_mode & 0o777) == "0o600"
        tenants = json.loads(run_cli("tenants", "--json", env=env, check=True).stdout)
        assert len(tenants) >= 3 and sum(t["deleted"] for t in tenants) == 1
        daily = json.loads(run_cli("daily", "--json", env=env, check=True).stdout)
        s = daily["summary"]
        assert daily["success"] and s["total_tenants"] == 3 and s["successful_tenants"] == 3
        assert s["total_records"] > 30000  # thousands of rows, not a toy
        weldcor = next(t for t in daily["tenants"] if t["organization_name"] == "Weldcor Supply")
        listed = json.loads(run_cli("backups", "--org", weldcor["organization_id"], "--json", env=env, check=True).stdout)
        assert listed[0]["tables"]["invoice_line_items"]["record_count"] > 1000  # FK-only child, past the old cap
        assert listed[0]["tables"]["line_item_adjustments"]["record_count"] > 0  # depth 2
        assert "currencies" not in listed[0]["tables"]  # global
        # the sandbox holds what `setup` installs: a restore works there as on any database
        plan = json.loads(run_cli("restore", "--org", weldcor["organization_id"], "--backup", listed[0]["id"],
                                  "--dry-run", "--json", env=env).stdout)
        assert plan.get("success") and plan["plan_id"] and plan["signed"] is True, plan
        # a second start reuses the running sandbox
        assert run_cli("demo", "--headless", env=env).returncode == 0
    finally:
        stop = run_cli("demo", "--stop", env=env)
    assert stop.returncode == 0 and "stopped" in stop.stdout and stop.stderr == ""
