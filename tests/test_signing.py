"""Where a backup came from (issue 20): every backup is signed with the installation's key, and a
backup this installation did not sign — edited by someone who could write the backup folder, or
the old system's — is refused before anything of it is read, unless the owner says otherwise; and
reading is bounded by what the summary declares, so a decompression bomb stages no more than that."""

from __future__ import annotations

import gzip
import hashlib
import json
import resource
import zlib

import psycopg
import pytest

from tenant_backup_gui.core.errors import IntegrityError
from tenant_backup_gui.core.manifest import Part
from tenant_backup_gui.stores.backups import iter_part_blocks
from tenant_backup_gui.stores.folder import FolderStore

from .conftest import LEGACY_ORG, ORG_A, cli_json, run_cli
from .helpers import load_summary, resign
from .roads import rewrite_table, road, summary_path  # noqa: F401 (fixture)
from .test_restore import everything
from .test_restore_trust import apply, dry_run, edit_row, first, one_line, safety_backups

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def test_every_backup_is_signed_with_a_key_created_on_first_use(odd_db, env, tmp_path):
    store = env(odd_db)
    assert not (tmp_path / "keyring.json").exists()
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    assert backup["signed"] is True
    kept = json.loads((tmp_path / "keyring.json").read_text())
    key_text = next(v for k, v in kept.items() if k.endswith(":backup_key"))
    summary = load_summary(store, ORG_A, backup["id"])
    assert summary["signature"]["algorithm"] == "HMAC-SHA256" and len(summary["signature"]["key_id"]) == 16
    assert key_text not in json.dumps(summary)
    assert summary["manifest"]["tables"]["big_table"]["parts"][0]["plain_bytes"] > 0
    listed = cli_json("backups", "--org", ORG_A)
    assert [b["signed"] for b in listed] == [True]
    # the same key is used next time, not a new one
    again = cli_json("backup", "--org", ORG_A)["backup"]
    assert load_summary(store, ORG_A, again["id"])["signature"]["key_id"] == summary["signature"]["key_id"]


def test_a_backup_edited_without_the_key_is_refused_before_anything_is_staged(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    plan = json.loads(dry_run(ORG_A, backup["id"]).stdout)  # the genuine backup's plan
    victim = first(road.db, "select min(id) from big_table where organization_id = %s", ORG_A)
    rewrite_table(road.store, ORG_A, backup["id"], "big_table", edit_row(victim, payload="forged"), signed=False)
    state = everything(road.db)
    for cp in (run_cli("verify", "--org", ORG_A, "--backup", backup["id"]), dry_run(ORG_A, backup["id"]),
               apply(ORG_A, backup["id"], plan["plan_id"])):
        assert cp.returncode == 1, cp.stdout
        line = one_line(cp)
        assert "changed after it was signed" in line and "nothing was read from it" in line
        assert "--trust-unsigned" in line
    assert everything(road.db) == state and safety_backups(ORG_A) == []
    history = cli_json("history", "--org", ORG_A, "--type", "dry_run")
    assert history[0]["status"] == "failed" and "changed after it was signed" in history[0]["errors"][0]
    assert not any(b["signed"] for b in cli_json("backups", "--org", ORG_A) if b["id"] == backup["id"])

    # on the owner's word it is used, shown as unsigned everywhere, and every other check applies
    v = cli_json("verify", "--org", ORG_A, "--backup", backup["id"], "--trust-unsigned")
    assert v["success"] and v["signed"] is False and "UNSIGNED" in v["message"]
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run", "--trust-unsigned")
    assert cp.returncode == 0 and "--apply --plan" in cp.stdout and "--trust-unsigned" in cp.stdout, cp.stderr
    dry = json.loads(run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run", "--json",
                             "--trust-unsigned").stdout)
    assert dry["success"] and dry["signed"] is False and dry["warnings"][0].startswith("UNSIGNED")
    cp = apply(ORG_A, backup["id"], dry["plan_id"])  # the apply checks again: the word is needed there too
    assert cp.returncode == 1 and "changed after it was signed" in one_line(cp)
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", dry["plan_id"], "--yes",
                 "--json", "--trust-unsigned")
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["signed"] is False
    assert first(road.db, "select payload from big_table where id = %s", victim) == "forged"


def test_an_old_system_backup_needs_the_owners_word(legacy_db, legacy_store, env):
    env(legacy_db, store=legacy_store)
    listed = cli_json("backups", "--org", LEGACY_ORG)
    assert listed and all(b["signed"] is False and b["signature"] == "unsigned" for b in listed)
    assert "UNSIGNED" in run_cli("backups", "--org", LEGACY_ORG).stdout
    for args in (("verify",), ("restore", "--dry-run")):
        cp = run_cli(*args, "--org", LEGACY_ORG, "--backup", "2025-01-15")
        assert cp.returncode == 1 and "is not signed" in one_line(cp) and "--trust-unsigned" in cp.stderr
    dry = cli_json("restore", "--org", LEGACY_ORG, "--backup", "2025-01-15", "--dry-run", "--trust-unsigned")
    assert dry["signed"] is False and dry["warnings"][0].startswith("UNSIGNED")


def test_the_key_by_the_environment_route_without_any_keyring(odd_db, env):
    store = env(odd_db)
    made = run_cli("credentials", "new-key", "--print", env=NO_KEYRING)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    route = {**NO_KEYRING, "TENANT_BACKUP_KEY": key}
    exported = run_cli("credentials", "export-key", "--json", env=route)
    assert exported.returncode == 0 and json.loads(exported.stdout)["key"] == key
    cp = run_cli("backup", "--org", ORG_A, "--json", env=route)
    assert cp.returncode == 0, cp.stderr
    backup = json.loads(cp.stdout)["backup"]
    assert backup["signed"] is True and key not in cp.stdout + cp.stderr
    summary = load_summary(store, ORG_A, backup["id"])
    assert summary["signature"]["key_id"] == json.loads(exported.stdout)["key_id"] and key not in json.dumps(summary)
    dry = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run", "--json", env=route)
    assert dry.returncode == 0 and json.loads(dry.stdout)["signed"] is True, dry.stderr
    # the earlier name still works, and one key serves both: encryption on, the same key id
    env(odd_db, store=store, config="[backup]\nencrypt = true\n")
    old = {**NO_KEYRING, "TENANT_BACKUP_ENCRYPTION_KEY": key}
    enc = json.loads(run_cli("backup", "--org", ORG_A, "--json", env=old).stdout)["backup"]
    s = load_summary(store, ORG_A, enc["id"])
    assert s["manifest"]["encryption"]["key_id"] == s["signature"]["key_id"] == summary["signature"]["key_id"]
    doctor = json.loads(run_cli("doctor", "--json", env=route).stdout)
    check = next(c for c in doctor["checks"] if c["name"] == "backup key")
    assert check["status"] == "ok" and "TENANT_BACKUP_KEY in the environment" in check["message"]
    assert key not in json.dumps(doctor) and key not in json.dumps(cli_json("history", env=route), default=str)


def test_a_nightly_run_without_its_key_writes_unsigned_backups_and_says_so(odd_db, env):
    env(odd_db)
    cp = run_cli("daily", "--json", env=NO_KEYRING)
    assert cp.returncode == 0, cp.stderr
    result = json.loads(cp.stdout)
    assert result["success"] and any(w.startswith("UNSIGNED") and "--trust-unsigned" in w for w in result["warnings"])
    assert result["tenants"] and all(d["signed"] is False for d in result["tenants"])
    backups = cli_json("backups", "--org", ORG_A, env=NO_KEYRING)
    assert backups and backups[0]["signed"] is False
    runs = cli_json("history", "--type", "daily", env=NO_KEYRING)
    assert runs[0]["metadata"]["unsigned_backups"] == len(result["tenants"])
    doctor = json.loads(run_cli("doctor", "--json", env=NO_KEYRING).stdout)
    check = next(c for c in doctor["checks"] if c["name"] == "backup key")
    assert check["status"] == "warn" and "UNSIGNED" in check["message"]
    # losing the key never makes a backup unreadable: the owner's word restores it
    dry = cli_json("restore", "--org", ORG_A, "--backup", backups[0]["id"], "--dry-run", "--trust-unsigned",
                   env=NO_KEYRING)
    assert dry["success"] and dry["signed"] is False


def _bomb(line: bytes, plain_size: int) -> tuple[bytes, int]:
    """A gzip part of valid-looking JSON lines that inflates to `plain_size` bytes; (part, rows)."""
    block = line * ((1 << 20) // len(line))
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    out, rows, done = [], 0, 0
    while done < plain_size:
        out.append(comp.compress(block))
        rows, done = rows + block.count(b"\n"), done + len(block)
    out.append(comp.flush())
    return b"".join(out), rows


@pytest.mark.parametrize("declared", [True, False], ids=["declared-size", "older-backup-ratio-cap"])
def test_a_decompression_bomb_is_refused_having_staged_no_more_than_its_declared_size(odd_db, env, declared):
    store = env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    path = summary_path(store, ORG_A, backup["id"])
    doc = json.loads(path.read_text())
    part = doc["manifest"]["tables"]["big_table"]["parts"][0]
    line = gzip.decompress((store / part["key"]).read_bytes()).split(b"\n")[0] + b"\n"
    data, rows = _bomb(line, 200 << 20)
    assert len(data) < (1 << 20)  # well under a megabyte on disk, 200 MB of rows
    (store / part["key"]).write_bytes(data)
    entry = doc["manifest"]["tables"]["big_table"]
    entry["parts"] = [{"key": part["key"], "rows": rows, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                       **({"plain_bytes": 1 << 20} if declared else {})}]
    entry["record_count"] = doc["tables"]["big_table"]["record_count"] = rows
    path.write_text(json.dumps(doc))
    resign(path)  # consistent counts, checksums and signature: only the bound stands in the way

    cap = (1 << 20) if declared else len(data) * 100 + (1 << 20)
    fs, handed = FolderStore(store), 0
    got = Part(part["key"], rows, len(data), hashlib.sha256(data).hexdigest(), plain_bytes=(1 << 20) if declared else None)
    with pytest.raises(IntegrityError, match="expands past"):
        for block, _ in iter_part_blocks(fs, got):
            handed += len(block)
    assert handed <= cap  # (nothing at all when the first piece inflated already passes it)

    before = everything(odd_db)
    with psycopg.connect(odd_db) as c:
        size_before = c.execute("select pg_database_size(current_database())").fetchone()[0]
    rss_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    assert cp.returncode == 1 and "expands past" in one_line(cp) and "big_table" in cp.stderr
    assert ("declares" if declared else "100 times") in cp.stderr
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert rss < 400 * 1024 or rss == rss_before, f"the client grew to {rss // 1024} MB"
    assert everything(odd_db) == before
    with psycopg.connect(odd_db) as c:
        grew = c.execute("select pg_database_size(current_database())").fetchone()[0] - size_before
    assert grew < 64 << 20, f"the database grew by {grew >> 20} MB"
