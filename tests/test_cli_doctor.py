"""doctor says where each value comes from, the same way on every line (issue 24 item 6: its
keyring line advised setting TENANT_BACKUP_DATABASE_URL while its database line said it was set)."""

from __future__ import annotations

import json

from .conftest import run_cli


def _checks(**env) -> dict[str, dict]:
    doc = json.loads(run_cli("doctor", "--json", env=env).stdout)
    return {c["name"]: c for c in doc["checks"]}


def test_without_a_keyring_doctor_does_not_advise_setting_what_is_set(odd_db, env):
    env(odd_db, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    checks = _checks()
    assert checks["database"]["status"] == "ok"
    assert "from the environment (TENANT_BACKUP_DATABASE_URL)" in checks["database"]["message"]
    keyring = checks["keyring"]
    said = keyring["message"] + " " + keyring["fix"]
    assert "set TENANT_BACKUP_DATABASE_URL" not in said, keyring
    assert "the database URL comes from the environment (TENANT_BACKUP_DATABASE_URL)" in keyring["message"], keyring


def test_a_keyring_url_the_environment_overrides_is_said_to_be_unused(odd_db, env):
    from tenant_backup_gui.platform import credentials
    env(odd_db)
    credentials.set_secret("database_url", "postgresql://someone@elsewhere.example/app")
    checks = _checks()
    assert checks["keyring"]["status"] == "ok"
    assert "not used: the database URL comes from the environment" in checks["keyring"]["message"], checks["keyring"]
