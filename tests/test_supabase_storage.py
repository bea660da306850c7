"""Backups in Supabase Storage, through the real store code and supabase-py, against the local
Storage server behind the gateway (tests/supabase_local): a whole backup written, listed, read back
and verified; listings past the API's 100-entry pages; deletes past its 1000-per-call cap; private
buckets only; the anon key refused; 5xx retried, 4xx not; the upload size limit; the mirror."""

from __future__ import annotations

import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from storage3.exceptions import StorageApiError

from tenant_backup_gui.core import manifest as mf
from tenant_backup_gui.core.errors import ConfigError, ConnectionFailed, TenantBackupError
from tenant_backup_gui.stores import backups
from tenant_backup_gui.stores.folder import FolderStore
from tenant_backup_gui.stores.supabase_storage import MirroredStore, SupabaseStorageStore

from .conftest import ORG_A, ORG_B
from .helpers import storage
from .supabase_local import SupabaseLocal, postgrest_binary

pytestmark = pytest.mark.skipif(postgrest_binary() is None, reason="PostgREST not installed (.ci/run installs it)")

FAST = (0.01, 0.01, 0.01)  # retry delays for tests: same tries, no waiting


def make_store(stack, bucket="backups", key=None, **kw) -> SupabaseStorageStore:
    store = SupabaseStorageStore(stack.url, key or stack.service_key, bucket, **kw)
    store.retry_delays = FAST
    return store


def put_many(store, keys: list[str]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: store.put_bytes(k, k.encode()), keys))


def test_a_whole_backup_is_written_listed_read_back_verified_and_mirrored(stack, odd_db, env, tmp_path):
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.backup import BackupJob
    from tenant_backup_gui.services.context import Context

    env(odd_db)
    primary = make_store(stack)
    mirror = FolderStore(tmp_path / "mirror")
    store = MirroredStore(primary, mirror)
    assert store.problems() == []  # a missing bucket is no problem: the first write creates it
    assert "Supabase Storage bucket backups" in store.describe() and str(mirror.root) in store.describe()

    result = BackupJob(Context(load_settings(), store), ORG_A).run_blocking()

    bucket = storage(stack).get_bucket("backups")
    assert bucket.public is False  # created private
    info = backups.find_backup(primary, ORG_A, result.id)
    assert info.complete and info.total_records == result.total_records > 1500  # big_table: past max-rows
    assert backups.verify_backup(primary, info) == []  # every part's SHA-256, size and row count
    assert backups.verify_backup(mirror, backups.find_backup(mirror, ORG_A, result.id)) == []
    # the same objects, byte for byte, in Storage and in the mirror; what Storage holds is what it serves
    objects = primary.list(mf.tenant_prefix(ORG_A))
    assert [(o.key, o.size) for o in objects] == [(o.key, o.size) for o in mirror.list(mf.tenant_prefix(ORG_A))]
    raw = storage(stack).from_("backups")
    for o in objects:
        with primary.open_reader(o.key) as fh:
            data = fh.read()
        assert data == (mirror.root / o.key).read_bytes() == raw.download(o.key)
    rows = [json.loads(line) for p in info.tables["big_table"].parts
            for line in gzip.decompress(raw.download(p.key)).splitlines()]
    assert len(rows) == info.tables["big_table"].record_count and all(r["organization_id"] == ORG_A for r in rows)
    assert backups.tenant_ids(primary) == [ORG_A]

    # deleting the backup removes it from both
    backups.delete_backup(store, info)
    assert primary.list(mf.tenant_prefix(ORG_A)) == [] and mirror.list(mf.tenant_prefix(ORG_A)) == []


def test_listings_go_past_the_apis_100_entry_pages(stack):
    store = make_store(stack)
    folder = f"{mf.ROOT}/{ORG_A}/2026-02-01"
    start = datetime(2026, 2, 1, tzinfo=timezone.utc)
    ids = [mf.timestamp_id(start + timedelta(minutes=i)) for i in range(130)]
    summaries = {mf.summary_key(ORG_A, bid): json.dumps(mf.build_summary(
        organization_id=ORG_A, organization_name="A", backup_id=bid, backup_type="daily", started=start,
        finished=start, tables=[], warnings=[], tool_version="test", source={}, tenant_column="organization_id",
        skipped={})).encode() for bid in ids}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: store.put_bytes(*kv), summaries.items()))
    nested = [f"{mf.ROOT}/{ORG_B}/2026-02-0{i % 3 + 1}/f{i:03d}.bin" for i in range(150)]
    put_many(store, nested)

    # one folder of 130 files: a single list call with the API's defaults returns only 100
    assert len(storage(stack).from_("backups").list(folder)) == 100
    assert [o.key for o in store.list(folder)] == sorted(summaries)
    found = backups.list_backups(store, ORG_A)
    assert len(found) == 130 and all(b.complete for b in found)
    assert [b.id for b in found] == sorted(ids, reverse=True)
    # recursive through folders, sorted by key, sizes from Storage's metadata
    listed = store.list(f"{mf.ROOT}/{ORG_B}/")
    assert [(o.key, o.size) for o in listed] == sorted((k, len(k)) for k in nested)
    assert store.list_dirs(f"{mf.ROOT}/{ORG_B}/") == ["2026-02-01", "2026-02-02", "2026-02-03"]
    assert backups.tenant_ids(store) == sorted([ORG_A, ORG_B])
    assert store.list(f"{mf.ROOT}/nobody/") == [] and store.list_dirs(f"{mf.ROOT}/nobody") == []


def test_folders_whose_names_differ_only_in_case_are_listed_apart(stack):
    """Storage's folder listing (POST /object/list) matches the folder case-insensitively: asked for
    `x/acme/` it also answers with `x/ACME/`'s files, by their bare names. The store must list
    exactly the folder asked for, with keys that exist."""
    store = make_store(stack)
    lower = [f"{mf.ROOT}/acme/2026-01-01/a.json", f"{mf.ROOT}/acme/2026-01-02/b.json"]
    upper = [f"{mf.ROOT}/ACME/2026-01-01/c.json", f"{mf.ROOT}/ACME/2026-01-03/d.json"]
    put_many(store, lower + upper)
    assert sorted(o["name"] for o in storage(stack).from_("backups").list(f"{mf.ROOT}/acme")) == \
        ["2026-01-01", "2026-01-02", "2026-01-03"]  # the server's own answer mixes the two

    assert [o.key for o in store.list(f"{mf.ROOT}/acme/")] == lower
    assert [o.key for o in store.list(f"{mf.ROOT}/ACME")] == upper
    assert store.list_dirs(f"{mf.ROOT}/acme") == ["2026-01-01", "2026-01-02"]
    assert store.list_dirs(mf.ROOT) == ["ACME", "acme"]
    for o in store.list(mf.ROOT):
        with store.open_reader(o.key) as fh:
            assert fh.read() == o.key.encode()


def test_deleting_more_than_1000_objects_is_batched_under_the_apis_cap(stack):
    store = make_store(stack)
    keys = [f"{mf.ROOT}/{ORG_A}/2026-03-01/old-{i:04d}.jsonl.gz" for i in range(1150)]
    put_many(store, keys)
    assert [o.key for o in store.list(f"{mf.ROOT}/{ORG_A}")] == keys  # 1150 in one folder: two pages of 1000

    # the server refuses more than 1000 in one request, as Supabase does
    with pytest.raises(StorageApiError) as e:
        storage(stack).from_("backups").remove(keys[:1001])
    assert str(e.value.status) == "400" and "1000" in e.value.message
    assert len(store.list(f"{mf.ROOT}/{ORG_A}")) == 1150

    before = len(stack.storage_requests)
    store.delete(keys + ["tenant-backups/never/was.json"])  # a missing key is no error
    deletes = [r for r in stack.storage_requests[before:] if r == ("DELETE", "/object/backups")]
    assert len(deletes) == 2
    assert store.list(f"{mf.ROOT}/{ORG_A}") == [] and store.list_dirs(mf.ROOT) == []


def test_a_public_bucket_is_refused_with_how_to_fix_it(stack):
    storage(stack).create_bucket("shared", options={"public": True})
    store = make_store(stack, "shared")
    problems = store.problems()
    assert len(problems) == 1 and "\n" not in problems[0]
    assert "public" in problems[0] and "uncheck Public" in problems[0] and "another bucket" in problems[0]
    with pytest.raises(ConfigError, match="is public"):
        store.put_bytes(f"{mf.ROOT}/{ORG_A}/2026-01-01/x.json", b"{}")
    with pytest.raises(ConfigError, match="is public"):
        store.ensure_bucket()
    assert storage(stack).from_("shared").list(mf.ROOT) == []  # nothing was uploaded
    assert storage(stack).get_bucket("shared").public is True  # and problems() changed nothing

    # made private, as the message says: accepted
    storage(stack).update_bucket("shared", {"public": False})
    assert store.problems() == []
    store.put_bytes(f"{mf.ROOT}/{ORG_A}/2026-01-01/x.json", b"{}")


def test_the_anon_key_is_refused_and_cannot_read_private_backups(stack):
    store = make_store(stack)
    key = f"{mf.ROOT}/{ORG_A}/2026-01-01/secret.json"
    store.put_bytes(key, b'{"smtp_password": "hunter2"}')

    anon = storage(stack, stack.anon_key)
    assert anon.list_buckets() == []
    assert anon.from_("backups").list(f"{mf.ROOT}/{ORG_A}/2026-01-01") == []  # silently empty
    with pytest.raises(StorageApiError) as e:
        anon.from_("backups").download(key)
    assert str(e.value.status) == "404"
    with pytest.raises(StorageApiError) as e:
        anon.create_bucket("mine")
    assert str(e.value.status) == "403"

    # which is why the store refuses that key instead of reporting "no backups"
    anon_store = make_store(stack, key=stack.anon_key)
    problems = anon_store.problems()
    assert len(problems) == 1 and "anon key" in problems[0] and "SUPABASE_SERVICE_ROLE_KEY" in problems[0]
    for op in (lambda: anon_store.list(mf.ROOT), lambda: anon_store.open_reader(key),
               lambda: anon_store.put_bytes(key, b"x")):
        with pytest.raises(ConfigError, match="service role key"):
            op()
    assert stack.anon_key not in problems[0]


def test_5xx_and_dropped_connections_are_retried_4xx_never(stack):
    store = make_store(stack)
    key = f"{mf.ROOT}/{ORG_A}/2026-01-01/part.jsonl.gz"
    stack.fail_next = 2  # the bucket check and then the upload each meet a 503 once or twice
    store.put_bytes(key, b"payload")
    assert stack.fail_next == 0
    stack.reset_next = 1
    with store.open_reader(key) as fh:
        assert fh.read() == b"payload"
    assert stack.reset_next == 0
    stack.fail_next = 3  # the list call needs a fourth try
    assert [o.key for o in store.list(mf.ROOT)] == [key]
    impatient = make_store(stack, timeout=0.3)
    stack.stall_next, stack.stall_seconds = 1, 2.0
    began = time.monotonic()
    with impatient.open_reader(key) as fh:  # the first try times out, the second is answered
        assert fh.read() == b"payload"
    assert stack.stall_next == 0 and time.monotonic() - began < 1.5

    # a 4xx is an answer: asked once, reported in one line naming the key
    before = len(stack.storage_requests)
    with pytest.raises(TenantBackupError) as e:
        store.open_reader(f"{mf.ROOT}/{ORG_A}/2026-01-01/gone.jsonl.gz")
    assert str(e.value) == (f"backup file {mf.ROOT}/{ORG_A}/2026-01-01/gone.jsonl.gz is missing from "
                            f"Supabase Storage bucket backups")
    assert len(stack.storage_requests) - before == 1

    # a fault that outlasts the retries fails loudly, in one line, without the key
    stack.fail_next = 100
    with pytest.raises(ConnectionFailed) as e:
        store.put_bytes(key, b"again")
    msg = str(e.value)
    assert "after 4 tries" in msg and "\n" not in msg and stack.service_key not in msg
    assert stack.fail_next == 96
    stack.fail_next = 0
    with store.open_reader(key) as fh:
        assert fh.read() == b"payload"  # the failed overwrite changed nothing


def test_parts_over_the_upload_size_limit_get_a_clear_error(stack, odd_db):
    client = storage(stack)
    client.create_bucket("small", options={"public": False, "file_size_limit": 100_000})
    store = make_store(stack, "small")
    assert store.max_object_bytes() == 100_000
    key = f"{mf.ROOT}/{ORG_A}/2026-01-01/t-p0001.jsonl.gz"
    w = store.open_writer(key)
    w.write(b"x" * 60_000)
    w.write(b"x" * 60_000)
    with pytest.raises(TenantBackupError) as e:
        w.commit()
    msg = str(e.value)
    assert key in msg and "120000 bytes" in msg and "upload limit" in msg and "part_size_mb" in msg
    assert client.from_("small").list(f"{mf.ROOT}/{ORG_A}/2026-01-01") == []

    # a project limit below what the store assumed: the server's 413, worded the same way
    with SupabaseLocal(odd_db, upload_limit=50_000) as low:
        store2 = make_store(low)
        assert store2.max_object_bytes() == 50 * 1024 * 1024  # no bucket limit: the project default
        with pytest.raises(TenantBackupError) as e:
            store2.put_bytes(key, b"y" * 60_000)
        assert key in str(e.value) and "upload size limit" in str(e.value) and "Traceback" not in str(e.value)
        store2.put_bytes(key, b"y" * 40_000)  # under it: fine


def test_large_parts_are_spooled_and_streamed_whole(stack):
    """Past the in-memory spool (8 MB) the part goes through a temp file both ways; an aborted
    writer uploads nothing."""
    import os
    store = make_store(stack)
    key = f"{mf.ROOT}/{ORG_A}/2026-01-01/big-p0001.jsonl.gz"
    blob = os.urandom(9 * 1024 * 1024 + 123)
    w = store.open_writer(key)
    for i in range(0, len(blob), 1 << 20):
        w.write(blob[i:i + (1 << 20)])
    assert store.list(mf.ROOT) == []  # nothing visible before commit
    w.commit()
    with store.open_reader(key) as fh:
        assert fh.read() == blob
    w = store.open_writer(key.replace("big", "aborted"))
    w.write(b"half")
    w.abort()
    assert [o.key for o in store.list(mf.ROOT)] == [key]


def test_a_mirror_that_cannot_be_written_fails_the_write(stack, tmp_path):
    (tmp_path / "not-a-folder").write_text("a file where the mirror folder should be")
    store = MirroredStore(make_store(stack), FolderStore(tmp_path / "not-a-folder"))
    problems = store.problems()
    assert len(problems) == 1 and problems[0].startswith("mirror: ")
    key = f"{mf.ROOT}/{ORG_A}/2026-01-01/summary-2026-01-01T00-00-00-000Z.json"
    with pytest.raises(TenantBackupError, match="mirror copy"):
        store.put_bytes(key, b"{}")
    assert store.primary.list(mf.ROOT) == []  # the primary never got an object its mirror lacks


def test_an_unreachable_project_or_a_refused_key_is_one_line_without_the_key(stack):
    down = SupabaseStorageStore("http://127.0.0.1:9", stack.service_key)
    down.retry_delays = FAST
    problems = down.problems()
    assert len(problems) == 1 and "after 4 tries" in problems[0] and "\n" not in problems[0]
    assert stack.service_key not in problems[0]

    wrong = make_store(stack, key="sb_secret_not-this-projects-key")
    problems = wrong.problems()
    assert len(problems) == 1 and "refused the key" in problems[0] and "SUPABASE_SERVICE_ROLE_KEY" in problems[0]
    assert "sb_secret_not-this-projects-key" not in problems[0]
    with pytest.raises(ConnectionFailed, match="refused the key"):
        wrong.list(mf.ROOT)

    # a project without the bucket yet: no backups, not an error; nothing was created by looking
    fresh = make_store(stack, "not-yet")
    assert fresh.list(mf.ROOT) == [] and fresh.list_dirs(mf.ROOT) == [] and fresh.problems() == []
    fresh.delete([f"{mf.ROOT}/{ORG_A}/2026-01-01/x.json"])
    assert [b.name for b in storage(stack).list_buckets()] == []
