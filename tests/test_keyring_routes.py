"""No usable OS keyring (keyring's null, fail or a plaintext file backend, or one that keeps nothing)
is said as such, exit 4 with the environment and env-file routes, never "stored"; the backup key
has those routes too (TENANT_BACKUP_ENCRYPTION_KEY), and doctor says which one it found."""

from __future__ import annotations

import json

import pytest

from .conftest import ORG_A, cli_json, run_cli
from .helpers import load_summary

NO_KEYRINGS = ["keyring.backends.null.Keyring", "keyring.backends.fail.Keyring",
               "tests.keyring_backend.ForgetfulKeyring"]


@pytest.fixture
def backend(monkeypatch, tmp_path):
    def use(name: str) -> None:
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", name)
        monkeypatch.setenv("TENANT_BACKUP_TEST_KEYRING", str(tmp_path / "keyring.json"))
    return use


@pytest.mark.parametrize("name", NO_KEYRINGS)
def test_nothing_is_reported_stored_without_a_keyring_that_keeps_it(env, odd_db, backend, name):
    env(odd_db)
    backend(name)
    for args, stdin in ((["credentials", "set"], odd_db + "\n"), (["credentials", "new-key"], None),
                        (["credentials", "set", "--supabase"], "sb_secret_abcdefghijklmnopqrstuvwxyz\n")):
        cp = run_cli(*args, input_text=stdin)
        assert cp.returncode == 4, (args, cp.stdout, cp.stderr)
        assert "stored" not in cp.stdout and "--env-file" in cp.stderr and len(cp.stderr.splitlines()) == 1, cp.stderr
        assert odd_db not in cp.stderr
    doc = json.loads(run_cli("doctor", "--json").stdout)
    keyring = next(c for c in doc["checks"] if c["name"] == "keyring")
    assert keyring["status"] != "ok" and "keyring" in keyring["message"]


def test_encrypted_backups_run_headless_with_the_key_from_the_environment(env, odd_db, backend, tmp_path):
    store = env(odd_db, config="[backup]\nencrypt = true\n")
    backend("tests.keyring_backend.FileKeyring")
    key = cli_json("credentials", "new-key")
    # Now as cron or a container runs it: no keyring at all, the key's recovery copy in the environment.
    backend("keyring.backends.fail.Keyring")
    cp = run_cli("backup", "--org", ORG_A, "--json")
    assert cp.returncode == 4 and "TENANT_BACKUP_KEY" in cp.stderr
    route = {"TENANT_BACKUP_ENCRYPTION_KEY": key["key"]}  # its earlier name keeps working
    cp = run_cli("backup", "--org", ORG_A, "--json", env=route)
    assert cp.returncode == 0, cp.stderr
    done = json.loads(cp.stdout)["backup"]
    summary = load_summary(store, ORG_A, done["id"])
    assert summary["manifest"]["encryption"]["key_id"] == key["key_id"]
    dry = run_cli("restore", "--org", ORG_A, "--backup", done["id"], "--dry-run", "--json", env=route)
    assert dry.returncode == 0 and json.loads(dry.stdout)["plan_id"], dry.stderr
    doctor = run_cli("doctor", "--json", env=route)
    check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "backup key")
    assert check["status"] == "ok" and "TENANT_BACKUP_ENCRYPTION_KEY in the environment" in check["message"]
    # never printed, logged or stored
    seen = cp.stdout + cp.stderr + dry.stdout + dry.stderr + doctor.stdout + doctor.stderr
    assert key["key"] not in seen and key["key"] not in json.dumps(summary)
    history = json.dumps(cli_json("history", env=route), default=str)
    assert key["key"] not in history
    bad = run_cli("backup", "--org", ORG_A, env={"TENANT_BACKUP_ENCRYPTION_KEY": "not-a-key"})
    assert bad.returncode == 2 and "TENANT_BACKUP_ENCRYPTION_KEY does not hold a backup key" in bad.stderr
    assert "not-a-key" not in bad.stderr


def test_doctor_names_the_keyring_route_for_the_backup_key(env, odd_db, backend):
    env(odd_db, config="[backup]\nencrypt = true\n")
    backend("tests.keyring_backend.FileKeyring")
    check = next(c for c in json.loads(run_cli("doctor", "--json").stdout)["checks"] if c["name"] == "backup key")
    assert check["status"] == "fail" and "no backup key" in check["message"]
    key = cli_json("credentials", "new-key")
    check = next(c for c in cli_json("doctor")["checks"] if c["name"] == "backup key")
    assert check["status"] == "ok" and key["key_id"] in check["message"] and "OS keyring" in check["message"]
