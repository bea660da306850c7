"""Each way the keyring can fail has its own clear line: no backend, locked, secret missing."""

from __future__ import annotations

import json

import pytest

from .conftest import ORG_A, run_cli


@pytest.fixture
def no_url(monkeypatch, tmp_path):
    monkeypatch.delenv("TENANT_BACKUP_DATABASE_URL", raising=False)
    monkeypatch.setenv("TENANT_BACKUP_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def test_no_keyring_backend(no_url, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    cp = run_cli("credentials", "status")
    assert cp.returncode == 4 and "no OS keyring is available" in cp.stderr and "TENANT_BACKUP_DATABASE_URL" in cp.stderr
    cp = run_cli("backup", "--org", ORG_A)
    assert cp.returncode == 4 and "no OS keyring" in cp.stderr


def test_locked_keyring(no_url, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backend.FileKeyring")
    monkeypatch.setenv("TENANT_BACKUP_TEST_KEYRING", str(tmp_path / "k.json"))
    monkeypatch.setenv("TENANT_BACKUP_TEST_KEYRING_LOCKED", "1")
    cp = run_cli("credentials", "status")
    assert cp.returncode == 4 and "locked" in cp.stderr


def test_secret_missing_and_set_then_found(no_url, monkeypatch, tmp_path, odd_db):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backend.FileKeyring")
    monkeypatch.setenv("TENANT_BACKUP_TEST_KEYRING", str(tmp_path / "k.json"))
    cp = run_cli("tenants")
    assert cp.returncode == 2 and "no database configured" in cp.stderr
    cp = run_cli("credentials", "export-key")
    assert cp.returncode == 2 and "holds no backup key" in cp.stderr
    import subprocess, sys
    subprocess.run([sys.executable, "-m", "tenant_backup_gui", "credentials", "set"], input=odd_db + "\n",
                   text=True, check=True, capture_output=True)
    status = json.loads(run_cli("credentials", "status", "--json").stdout)
    assert status["stored"] is True and "@" in status["database"] and odd_db not in json.dumps(status)
    assert run_cli("tenants", "--json").returncode == 0
    assert run_cli("credentials", "clear").returncode == 0
    assert run_cli("tenants").returncode == 2


def test_a_supabase_project_without_its_key_says_which_secret_is_missing(no_url, monkeypatch, tmp_path):
    monkeypatch.setenv("SUPABASE_URL", "https://abcdefghijklmnop.supabase.co")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    cp = run_cli("backup", "--org", ORG_A)
    assert cp.returncode == 4 and cp.stderr.count("\n") == 1
    assert "no Supabase service role key: no OS keyring" in cp.stderr and "SUPABASE_SERVICE_ROLE_KEY" in cp.stderr
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backend.FileKeyring")
    monkeypatch.setenv("TENANT_BACKUP_TEST_KEYRING", str(tmp_path / "k.json"))
    cp = run_cli("backup", "--org", ORG_A)
    assert cp.returncode == 2 and "credentials set --supabase" in cp.stderr
    # stored with credentials set --supabase, it is found; a key that is not the service role's is refused
    cp = run_cli("credentials", "set", "--supabase", input_text="sb_publishable_abc\n")
    assert cp.returncode == 2 and "not a Supabase service role key" in cp.stderr
    assert not (tmp_path / "k.json").exists() or "supabase" not in (tmp_path / "k.json").read_text()
