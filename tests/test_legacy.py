"""The old system's backups stay usable: listed, read, checked for what can be checked."""

from __future__ import annotations

import json

from tenant_backup_gui.core.manifest import parse_summary
from tenant_backup_gui.stores.backups import find_backup, iter_part_lines, list_backups
from tenant_backup_gui.stores.folder import FolderStore

from .conftest import LEGACY_ORG as ORG, cli_json, run_cli


def test_legacy_backup_is_listed_with_its_counts(legacy_db, legacy_store, env):
    env(legacy_db, store=legacy_store)
    listed = cli_json("backups", "--org", ORG)
    assert len(listed) == 1
    b = listed[0]
    assert b["id"] == "2025-01-15T02-00-04-512Z" and b["date"] == "2025-01-15"
    assert b["type"] == "legacy" and b["complete"] is True and b["verifiable"] is False
    assert b["total_records"] == 6
    assert b["tables"] == {"organizations": {"record_count": 1, "parts": 1},
                           "customers": {"record_count": 3, "parts": 1},
                           "bottles": {"record_count": 2, "parts": 1}}
    # the table that failed in the old run is a warning, not a table
    assert any("user_invites" in w for w in b["warnings"])


def test_legacy_rows_are_read_as_json_lines(legacy_store):
    store = FolderStore(legacy_store)
    info = find_backup(store, ORG, "2025-01-15")
    rows = [l.decode() for p in info.tables["customers"].parts for l in iter_part_lines(store, p)]
    assert len(rows) == 3 and '"North \\"Star\\" Farms"' in rows[2] and "Côté & Fils" in rows[1]


def test_legacy_verify_says_unverifiable_but_checks_counts(legacy_db, legacy_store, env):
    store = env(legacy_db, store=legacy_store)
    doc = cli_json("verify", "--org", ORG, "--backup", "2025-01-15", "--trust-unsigned")
    assert doc["success"] is True and doc["verified"] is False and doc["message"].startswith("unverifiable: no checksums")
    bottles = next(store.rglob("bottles-*.json"))
    doc = json.loads(bottles.read_text())
    doc["data"] = doc["data"][:1]  # a row lost, the summary still says 2
    bottles.write_text(json.dumps(doc))
    cp = run_cli("verify", "--org", ORG, "--backup", "2025-01-15", "--json", "--trust-unsigned")
    assert cp.returncode == 1 and "holds 1 rows" in cp.stdout


def test_parse_summary_rejects_what_is_not_a_summary():
    import pytest
    from tenant_backup_gui.core.manifest import SummaryError
    with pytest.raises(SummaryError):
        parse_summary({"hello": 1}, "tenant-backups/x/2025-01-01/summary-2025-01-01T00-00-00-000Z.json")
    with pytest.raises(SummaryError, match="newer"):
        parse_summary({"organization_id": ORG, "tables": {}, "manifest": {"format_version": 99, "tables": {}}},
                      "tenant-backups/x/2025-01-01/summary-2025-01-01T00-00-00-000Z.json")
