"""The local Supabase stand-in behaves as the real service does where the old system was hurt:
PostgREST's max-rows silently truncates one-request-per-table reads, and the anon key reads
nothing (200 []) under RLS. The groundwork for the Supabase path (issue 4)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from .conftest import ORG_A
from .supabase_local import SupabaseLocal, postgrest_binary

pytestmark = pytest.mark.skipif(postgrest_binary() is None, reason="PostgREST not installed (.ci/run installs it)")


def get(stack: SupabaseLocal, path: str, key: str, **headers) -> tuple[int, dict, list]:
    req = urllib.request.Request(stack.url + path, headers={"apikey": key, **headers})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, dict(r.headers), json.loads(r.read())


@pytest.fixture
def stack(odd_db):
    with SupabaseLocal(odd_db) as s:
        yield s


def test_the_old_one_request_per_table_read_is_silently_truncated(stack):
    status, headers, rows = get(stack, f"/rest/v1/big_table?select=*&organization_id=eq.{ORG_A}",
                                stack.service_key, Prefer="count=exact")
    assert len(rows) == 1000  # what the old system stored as "the backup"
    assert headers["Content-Range"] == "0-999/1500"  # while 1500 rows exist
    assert status == 206  # "partial content", which a client that only checks for errors takes as success
    _, headers, rows = get(stack, f"/rest/v1/big_table?select=*&organization_id=eq.{ORG_A}", stack.service_key)
    assert len(rows) == 1000 and "/" in headers["Content-Range"] and headers["Content-Range"].endswith("/*")


def test_keyset_pages_read_every_row_past_max_rows(stack):
    last, seen = 0, []
    while True:
        _, _, rows = get(stack, f"/rest/v1/big_table?select=id&organization_id=eq.{ORG_A}&id=gt.{last}"
                                f"&order=id.asc&limit=1000", stack.service_key)
        if not rows:
            break
        seen += [r["id"] for r in rows]
        last = rows[-1]["id"]
    assert len(seen) == len(set(seen)) == 1500


def test_the_anon_key_reads_nothing_and_a_wrong_key_is_refused(stack):
    status, _, rows = get(stack, f"/rest/v1/big_table?organization_id=eq.{ORG_A}", stack.anon_key)
    assert status == 200 and rows == []  # a backup with this key would be silently empty
    with pytest.raises(urllib.error.HTTPError) as e:
        get(stack, "/rest/v1/big_table", "not-a-key")
    assert e.value.code == 401
