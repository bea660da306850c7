"""The packaged app from build.spec: it builds, and the frozen executable runs headless."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


def test_frozen_app_runs_version_and_doctor(tmp_path, odd_db):
    pyinstaller = Path(sys.executable).parent / "pyinstaller"
    if not pyinstaller.exists():
        pytest.skip("PyInstaller is not installed (.ci/run installs the 'build' extra)")
    cp = subprocess.run([str(pyinstaller), str(ROOT / "build.spec"), "--noconfirm", "--log-level", "WARN",
                         "--distpath", str(tmp_path / "dist"), "--workpath", str(tmp_path / "work")],
                        cwd=str(ROOT), capture_output=True, text=True, timeout=900)
    assert cp.returncode == 0, cp.stderr[-2000:]
    app = tmp_path / "dist" / "tenant-backup"
    exe = app / "tenant-backup"
    assert (app / "_internal" / "resources" / "sql" / "setup.sql").exists()
    assert (app / "_internal" / "resources" / "tenant-backup.desktop").exists()
    # Help → README: the bundle holds the README and the package metadata (issue 24: "the README is missing")
    assert (app / "_internal" / "resources" / "README.md").read_text().startswith("# ")
    assert list((app / "_internal").glob("tenant_backup-*.dist-info/METADATA"))
    # as a scheduler would start it: no display, no session bus, a bare PATH
    bare = {"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "TENANT_BACKUP_DATABASE_URL": odd_db,
            "TENANT_BACKUP_STORE": str(tmp_path / "store")}
    v = subprocess.run([str(exe), "--version"], env=bare, capture_output=True, text=True, timeout=60)
    assert v.returncode == 0 and v.stdout.startswith("tenant-backup ")
    d = subprocess.run([str(exe), "doctor", "--json"], env=bare, capture_output=True, text=True, timeout=120)
    doc = json.loads(d.stdout)
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    assert checks["database"] == "ok" and checks["setup"] == "ok", d.stdout
    b = subprocess.run([str(exe), "backup", "--org", "00000000-0000-4000-8000-00000000000a", "--json"], env=bare,
                       capture_output=True, text=True, timeout=120)
    assert b.returncode == 0 and json.loads(b.stdout)["backup"]["total_records"] > 1500, b.stderr
