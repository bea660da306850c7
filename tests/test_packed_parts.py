"""Packed parts (format 3, issue #23): a tenant's small tables share one file, each table's stream a
byte range of it. What a user notices: fewer files, the same rows restored byte for byte, a damaged
pack refused, and the backups written before (format 2, a file per table) still restored and shown."""

from __future__ import annotations

import gzip
import hashlib
import json

import psycopg
import pytest

from tenant_backup_gui.core.manifest import part_key

from .conftest import ORG_A, cli_json, fingerprint, run_cli
from .helpers import apply, dry_run, load_summary, part_data, resign, table_lines
from .roads import summary_path

OWN = {"backup_logs", "tenant_backup_meta"}


def tenant_rows(url: str) -> dict:
    return {t: rows for t, rows in fingerprint(url).items() if t not in OWN}


def damage(url: str) -> None:
    with psycopg.connect(url) as c:
        c.execute("update odd_types set t_text = 'overwritten' where organization_id = %s", [ORG_A])
        c.execute("delete from no_pk_table where organization_id = %s", [ORG_A])
        c.execute("update unique_only set label = 'changed' where organization_id = %s", [ORG_A])


def damaged_then_restored(url: str, backup_id: str, before: dict) -> None:
    """The tenant's rows damaged, the backup restored (dry run, then apply): as before, exactly."""
    damage(url)
    plan = dry_run(ORG_A, backup_id)
    assert plan["success"] is True, plan
    done = apply(ORG_A, backup_id, plan["plan_id"])
    assert done.returncode == 0, done.stderr
    after = tenant_rows(url)
    for table in ("odd_types", "no_pk_table", "unique_only"):
        assert [r for r in after[table] if ORG_A in r] == [r for r in before[table] if ORG_A in r], table


def packed_entries(summary: dict) -> dict[str, list[dict]]:
    return {n: t["parts"] for n, t in summary["manifest"]["tables"].items()
            if any("offset" in p for p in t["parts"])}


def unpack_to_format_2(store, backup_id: str) -> None:
    """The backup as the previous version wrote it: one file per table, format 2, signed."""
    path = summary_path(store, ORG_A, backup_id)
    doc = json.loads(path.read_text())
    packs = set()
    for name, t in doc["manifest"]["tables"].items():
        for i, p in enumerate(t["parts"]):
            if "offset" not in p:
                continue
            data = part_data(store, p)
            key = part_key(ORG_A, backup_id, name, i + 1)
            (store / key).write_bytes(data)
            packs.add(p["key"])
            p.update(key=key, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
            del p["offset"], p["length"]
    for k in packs:
        (store / k).unlink()
    doc["manifest"]["format_version"] = 2
    path.write_text(json.dumps(doc))
    resign(path)


def test_small_tables_share_a_file_and_restore_byte_for_byte(odd_db, env):
    store = env(odd_db)
    before = tenant_rows(odd_db)
    b = cli_json("backup", "--org", ORG_A)["backup"]
    s = load_summary(store, ORG_A, b["id"])
    packed = packed_entries(s)
    assert s["manifest"]["format_version"] == 3 and len(packed) >= 3
    files = {p["key"] for parts in packed.values() for p in parts}
    assert len(files) < len(packed)  # several tables' rows in one file
    for name, parts in packed.items():  # each range is the gzip stream a table's own part would be
        assert sum(gzip.decompress(part_data(store, p)).count(b"\n") for p in parts) == \
            s["manifest"]["tables"][name]["record_count"]
    assert s["total_size"] == sum(f.stat().st_size for f in (store / "tenant-backups" / ORG_A).rglob("*.gz"))
    assert cli_json("verify", "--org", ORG_A, "--backup", b["id"])["verified"] is True
    name = next(iter(packed))
    shown = run_cli("show", "--org", ORG_A, "--backup", b["id"], "--table", name, "--json")
    assert shown.returncode == 0, shown.stderr

    damaged_then_restored(odd_db, b["id"], before)


def test_a_damaged_packed_file_is_refused_by_verify_and_restore(odd_db, env):
    store = env(odd_db)
    b = cli_json("backup", "--org", ORG_A)["backup"]
    s = load_summary(store, ORG_A, b["id"])
    part = next(p for parts in packed_entries(s).values() for p in parts)
    f = store / part["key"]
    data = bytearray(f.read_bytes())
    data[part["offset"] + part["length"] // 2] ^= 0x01
    f.write_bytes(bytes(data))
    cp = run_cli("verify", "--org", ORG_A, "--backup", b["id"])
    assert cp.returncode == 1 and "does not match its checksum" in cp.stdout
    cp = run_cli("restore", "--org", ORG_A, "--backup", b["id"], "--dry-run")
    assert cp.returncode != 0 and "checksum" in (cp.stdout + cp.stderr)


def test_a_summary_whose_range_lies_outside_its_file_is_unreadable(odd_db, env):
    store = env(odd_db)
    b = cli_json("backup", "--org", ORG_A)["backup"]
    path = summary_path(store, ORG_A, b["id"])
    doc = json.loads(path.read_text())
    part = next(p for parts in packed_entries(doc).values() for p in parts if p["offset"] > 0)
    part["length"] = part["bytes"]  # past the file's end
    path.write_text(json.dumps(doc))
    resign(path)
    cp = run_cli("verify", "--org", ORG_A, "--backup", b["id"])
    assert cp.returncode != 0 and "offset and length" in (cp.stdout + cp.stderr)


def test_a_format_2_backup_still_restores_shows_and_diffs(odd_db, env):
    store = env(odd_db)
    before = tenant_rows(odd_db)
    old = cli_json("backup", "--org", ORG_A)["backup"]
    lines = {n: table_lines(store, load_summary(store, ORG_A, old["id"]), n) for n in ("odd_types", "unique_only")}
    unpack_to_format_2(store, old["id"])
    s = load_summary(store, ORG_A, old["id"])
    assert s["manifest"]["format_version"] == 2 and not packed_entries(s)
    assert {n: table_lines(store, s, n) for n in lines} == lines
    assert cli_json("verify", "--org", ORG_A, "--backup", old["id"])["verified"] is True
    shown = run_cli("show", "--org", ORG_A, "--backup", old["id"], "--table", "odd_types", "--json")
    assert shown.returncode == 0, shown.stderr
    new = cli_json("backup", "--org", ORG_A)["backup"]
    diff = run_cli("diff", "--org", ORG_A, "--backup", old["id"], "--against", new["id"], "--json")
    assert diff.returncode == 0, diff.stderr + diff.stdout

    damaged_then_restored(odd_db, old["id"], before)


@pytest.mark.parametrize("secret", [None, bytes(range(32))], ids=["plain", "encrypted"])
def test_packed_tables_past_the_part_size_split_into_more_files_and_read_back_exactly(tmp_path, secret):
    """A pack whose tables outgrow the part size: a table's stream is cut into more ranges, the
    pack into more files, none over the part size, and every table reads back line for line."""
    import os

    from tenant_backup_gui.stores.backups import BackupWriter, iter_part_blocks
    from tenant_backup_gui.stores.folder import FolderStore
    store = FolderStore(tmp_path)
    part_bytes = 256 * 1024
    writer = BackupWriter(store, ORG_A, "2025-01-15T02-00-04-512Z", part_bytes, secret=secret, lane=3)
    tables = {f"t{i}": [b'{"id":%d,"noise":"%s"}\n' % (n, os.urandom(40).hex().encode()) for n in range(rows)]
              for i, rows in enumerate([0, 3, 9000, 0, 1, 2500, 7])}
    writer.begin_pack()
    for name, lines in tables.items():
        writer.begin_table(name)
        for k in range(0, len(lines), 500):
            writer.write(b"".join(lines[k:k + 500]), len(lines[k:k + 500]))
        writer.end_table()
    parts = dict(zip(tables, writer.end_pack()))
    writer.close()
    files = {p.key for ps in parts.values() for p in ps}
    assert len(files) >= 3 and all("/packed-2025-01-15T02-00-04-512Z-l03-p" in k for k in files)
    assert all((tmp_path / k).stat().st_size <= part_bytes for k in files)
    assert len(parts["t2"]) >= 2 and parts["t0"] == [] and parts["t3"] == []
    for name, lines in tables.items():
        read = [b for p in parts[name] for b, _ in iter_part_blocks(store, p, secret)]
        assert b"".join(read) == b"".join(lines), name
        assert all(p.encrypted == (secret is not None) for p in parts[name])
