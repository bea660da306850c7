"""Encrypted backups: AES-256-GCM per part, the key in the keyring, its id in the manifest."""

from __future__ import annotations

import gzip
import hashlib
import json
import os

import psycopg
import pytest

from .conftest import ORG_A, cli_json, fingerprint, run_cli
from .helpers import load_summary


@pytest.fixture
def keyring_env(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backend.FileKeyring")
    monkeypatch.setenv("TENANT_BACKUP_TEST_KEYRING", str(tmp_path / "keyring.json"))
    return tmp_path / "keyring.json"


def test_encrypted_roundtrip_and_the_key_is_needed(odd_db, env, keyring_env, tmp_path):
    store = env(odd_db, config="[backup]\nencrypt = true\n")
    cp = run_cli("backup", "--org", ORG_A)
    assert cp.returncode == 2 and "credentials new-key" in cp.stderr  # no key yet: refused, not silently plain
    key = cli_json("credentials", "new-key")
    assert len(key["key_id"]) == 16
    again = run_cli("credentials", "new-key")
    assert again.returncode == 2 and "export it first" in again.stderr  # never overwritten by accident
    before = fingerprint(odd_db)
    b = cli_json("backup", "--org", ORG_A)["backup"]
    s = load_summary(store, ORG_A, b["id"])
    assert s["manifest"]["encryption"] == {"algorithm": "AES-256-GCM", "key_id": key["key_id"]}
    part = s["manifest"]["tables"]["big_table"]["parts"][0]
    data = (store / part["key"]).read_bytes()
    assert part["encrypted"] and hashlib.sha256(data).hexdigest() == part["sha256"]
    with pytest.raises(OSError):
        gzip.decompress(data)  # not readable without the key
    assert key["key"] not in json.dumps(s)
    assert cli_json("verify", "--org", ORG_A, "--backup", b["id"])["verified"] is True

    # another machine: no key, so its signature cannot be checked — refused by name; on the owner's
    # word, verify checks the ciphertext's checksums, and the restore still needs the key itself
    os.remove(keyring_env)
    for args in (("verify",), ("restore", "--dry-run")):
        cp = run_cli(*args, "--org", ORG_A, "--backup", b["id"])
        assert cp.returncode == 4 and key["key_id"] in cp.stderr and "import-key" in cp.stderr, cp.stderr
    v = cli_json("verify", "--org", ORG_A, "--backup", b["id"], "--trust-unsigned")
    assert v["success"] and "without key" in v["message"] and v["signed"] is False
    cp = run_cli("restore", "--org", ORG_A, "--backup", b["id"], "--dry-run", "--trust-unsigned")
    assert cp.returncode == 4 and f"encrypted with key {key['key_id']}" in cp.stderr
    # a wrong key is named as such
    cli_json("credentials", "new-key")
    cp = run_cli("restore", "--org", ORG_A, "--backup", b["id"], "--dry-run")
    assert cp.returncode == 4 and f"signed by key {key['key_id']}" in cp.stderr and "import-key" in cp.stderr
    # the recovery copy brings it back
    import subprocess, sys
    subprocess.run([sys.executable, "-m", "tenant_backup_gui", "credentials", "import-key"], input=key["key"] + "\n",
                   text=True, check=True, capture_output=True)
    with psycopg.connect(odd_db) as c:
        c.execute("delete from big_table where organization_id = %s", [ORG_A])
    plan = json.loads(run_cli("restore", "--org", ORG_A, "--backup", b["id"], "--dry-run", "--json").stdout)
    assert plan["success"] and plan["tables"]["big_table"]["to_insert"] == 1500
    done = run_cli("restore", "--org", ORG_A, "--backup", b["id"], "--apply", "--plan", plan["plan_id"], "--yes")
    assert done.returncode == 0, done.stderr
    after = fingerprint(odd_db)
    assert {k: v for k, v in after.items() if k != "backup_logs"} == {k: v for k, v in before.items() if k != "backup_logs"}


def test_altered_ciphertext_is_refused_even_with_a_matching_checksum(odd_db, env, keyring_env):
    store = env(odd_db, config="[backup]\nencrypt = true\n")
    cli_json("credentials", "new-key")
    b = cli_json("backup", "--org", ORG_A)["backup"]
    summary_path = next(store.rglob(f"summary-{b['id']}.json"))
    s = json.loads(summary_path.read_text())
    part = s["manifest"]["tables"]["big_table"]["parts"][0]
    path = store / part["key"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))
    part["sha256"] = hashlib.sha256(bytes(data)).hexdigest()  # an attacker who also rewrote the manifest
    summary_path.write_text(json.dumps(s))
    cp = run_cli("restore", "--org", ORG_A, "--backup", b["id"], "--dry-run")
    assert cp.returncode == 1 and "changed after it was signed" in cp.stderr  # the signature catches it first
    # and without it (the owner's word), the cipher's tag still does
    cp = run_cli("restore", "--org", ORG_A, "--backup", b["id"], "--dry-run", "--trust-unsigned")
    assert cp.returncode == 1 and "does not decrypt with this key" in cp.stderr
