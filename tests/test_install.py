"""Installed as a new user installs it: the wheel (built from the sdist, as `python -m build`
does) in a fresh venv, run from a folder outside the checkout, with no environment variable of
ours pointing back at the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding only the built wheel and its dependencies."""
    base = tmp_path_factory.mktemp("install")
    dist = base / "dist"
    cp = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                        capture_output=True, text=True, timeout=600)
    assert cp.returncode == 0, cp.stderr[-3000:]
    wheel = next(dist.glob("tenant_backup-*.whl"))
    venv.create(base / "venv", with_pip=True)
    bin_ = base / "venv" / "bin"
    cp = subprocess.run([str(bin_ / "python"), "-m", "pip", "install", "-q", str(wheel)],
                        capture_output=True, text=True, timeout=900)
    assert cp.returncode == 0, cp.stderr[-3000:]
    return bin_


def _user_env(home: Path, **extra) -> dict:
    """A user's environment: their own HOME, none of the checkout's variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TENANT_BACKUP_", "SUPABASE_", "PYTHON", "QT_", "VIRTUAL_ENV"))
           and k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_STATE_HOME=str(home / ".local/state"), **extra)
    return env


def test_the_wheel_runs_demo_setup_backup_and_a_dry_run_outside_the_checkout(installed, tmp_path):
    exe = str(installed / "tenant-backup")
    home = tmp_path / "home"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(parents=True)
    env = _user_env(home)

    def run(*args, **kw):
        return subprocess.run([exe, *args], capture_output=True, text=True, cwd=str(elsewhere), timeout=300,
                              env={**env, **kw})

    demo = run("demo", "--headless")
    try:
        assert demo.returncode == 0, demo.stderr
        assert "The sandbox is running" in demo.stdout
        box = json.loads(run("demo", "--json").stdout)
        use = {**box["env"], "TENANT_BACKUP_KEY": open(box["key_file"]).read().strip()}
        setup = run("setup", "--json", **use)
        assert setup.returncode == 0, setup.stderr
        tenants = json.loads(run("tenants", "--json", **use).stdout)
        org = next(t["id"] for t in tenants if not t["deleted"])
        backup = run("backup", "--org", org, "--json", **use)
        assert backup.returncode == 0, backup.stderr
        done = json.loads(backup.stdout)["backup"]
        assert done["total_records"] > 0
        dry = run("restore", "--org", org, "--backup", done["id"], "--dry-run", "--json", **use)
        assert dry.returncode == 0, dry.stderr
        assert json.loads(dry.stdout)["plan_id"]
        # Chosen rows from the installed wheel (its SQL shipped whole): one customer and its rows.
        shown = run("show", "--org", org, "--backup", done["id"], "--table", "customers", "--limit", "1", "--json", **use)
        assert shown.returncode == 0, shown.stderr
        one = json.loads(shown.stdout)["rows"][0]["key"]
        chosen = run("restore", "--org", org, "--backup", done["id"], "--dry-run", "--json", "--rows",
                     f"customers={one}", "--with-dependents", **use)
        assert chosen.returncode == 0, chosen.stderr
        assert json.loads(chosen.stdout)["plan_id"]
        # The window, where there is no display: one line that says what to use instead.
        window = run()
        assert window.returncode != 0 and "Traceback" not in window.stderr
        assert len(window.stderr.strip().splitlines()) == 1 and "demo --headless" in window.stderr, window.stderr
    finally:
        run("demo", "--stop")
