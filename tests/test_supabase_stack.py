"""The local Supabase stand-in behaves as the real service does where the old system was hurt:
PostgREST's max-rows silently truncates one-request-per-table reads, and the anon key reads
nothing (200 []) under RLS. The groundwork for the Supabase path (issue 4). And through the
gateway, the official client (storage3) meets the real Storage server's behaviour, not an
imitation's: signed URLs, list-v2, key rules, partial bucket updates, user metadata, Range,
error codes, and the gateway's own answers (issue 13)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import urllib.error
import urllib.request

import httpx
import pytest
from storage3.exceptions import StorageApiError

from .conftest import ORG_A
from .helpers import storage
from .supabase_local import SupabaseLocal, postgrest_binary
from .supabase_local.stack import ROOT
from .supabase_local.storage_server import node_binary

pytestmark = pytest.mark.skipif(postgrest_binary() is None, reason="PostgREST not installed (.ci/run installs it)")


def get(stack: SupabaseLocal, path: str, key: str, **headers) -> tuple[int, dict, list]:
    req = urllib.request.Request(stack.url + path, headers={"apikey": key, **headers})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, dict(r.headers), json.loads(r.read())


def test_the_old_one_request_per_table_read_is_silently_truncated(stack):
    status, headers, rows = get(stack, f"/rest/v1/big_table?select=*&organization_id=eq.{ORG_A}",
                                stack.service_key, Prefer="count=exact")
    assert len(rows) == 1000  # what the old system stored as "the backup"
    assert headers["Content-Range"] == "0-999/1500"  # while 1500 rows exist
    assert status == 206  # "partial content", which a client that only checks for errors takes as success
    _, headers, rows = get(stack, f"/rest/v1/big_table?select=*&organization_id=eq.{ORG_A}", stack.service_key)
    assert len(rows) == 1000 and "/" in headers["Content-Range"] and headers["Content-Range"].endswith("/*")


def test_sql_installed_while_postgrest_runs_is_waited_for_even_without_a_notify(stack, odd_db):
    """Fixtures install the tool's SQL after the stack started, then call it. PostgREST sees it
    only after a schema reload, and drops a reload notification that arrives during another
    reload; here none is sent at all: stack.wait_for_schema still gets PostgREST to see it."""
    import psycopg
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("create function public.fresh_helper() returns int language sql as $$ select 7 $$")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(urllib.request.Request(
            stack.url + "/rest/v1/rpc/fresh_helper", data=b"{}", method="POST",
            headers={"apikey": stack.service_key, "Content-Type": "application/json"}), timeout=30)
    assert missing.value.code == 404  # what a fixture that did not wait ran into
    stack.wait_for_schema("rpc/fresh_helper", "big_table")
    with urllib.request.urlopen(urllib.request.Request(
            stack.url + "/rest/v1/rpc/fresh_helper", data=b"{}", method="POST",
            headers={"apikey": stack.service_key, "Content-Type": "application/json"}), timeout=30) as r:
        assert json.loads(r.read()) == 7


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


def raw(stack: SupabaseLocal, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, stack.url + path, timeout=30, **kw)


def test_a_401_or_404_leaves_the_keep_alive_connection_usable(stack):
    """The gateway reads a refused request's body before answering: the next request on the same
    connection is parsed from its own first byte (it used to meet `501 Unsupported method`)."""
    host, port = stack.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    body = json.dumps({"limit": 100, "offset": 0, "prefix": ""})
    for path, key, status in [("/rest/v1/big_table", "not-a-key", 401), ("/rest/v1/big_table", None, 401),
                              ("/nowhere/v1/x", stack.service_key, 404)]:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json",
                                                       **({"apikey": key} if key else {})})
        r = conn.getresponse()
        assert r.status == status, r.read()
        r.read()
        conn.request("GET", "/rest/v1/big_table?select=id&limit=1", headers={"apikey": stack.service_key})
        r = conn.getresponse()
        assert r.status == 200 and len(json.loads(r.read())) == 1
    conn.close()


def test_the_gateway_answers_as_supabases_does(stack):
    r = raw(stack, "GET", "/rest/v1/big_table")
    assert r.status_code == 401 and r.json()["message"] == "No API key found in request"
    r = raw(stack, "GET", "/rest/v1/big_table", headers={"apikey": "not-a-key"})
    assert r.status_code == 401 and r.json()["message"] == "Invalid API key"
    r = raw(stack, "GET", "/rest/v1/big_table?select=id&limit=1&apikey=" + stack.service_key)
    assert r.status_code == 200 and len(r.json()) == 1  # the key as a URL parameter, as Kong takes it
    # Storage has no key check at the gateway (public and signed URLs carry no key): its server judges
    r = raw(stack, "GET", "/storage/v1/bucket")
    assert r.status_code == 400 and r.json()["message"] == "headers must have required property 'authorization'"
    r = raw(stack, "GET", "/storage/v1/bucket", headers={"apikey": "not-a-key"})
    assert r.json()["statusCode"] == "403" and r.json()["code"] == "AccessDenied"


def test_signed_urls_download_and_upload_without_a_key(stack):
    client = storage(stack)
    client.create_bucket("private")
    bucket = client.from_("private")
    bucket.upload("dir/a.txt", b"hello world", {"content-type": "text/plain"})

    url = bucket.create_signed_url("dir/a.txt", 60)["signedURL"]
    assert "/storage/v1/object/sign/private/dir/a.txt?token=" in url
    assert httpx.get(url).content == b"hello world"  # no apikey, no Authorization: the token is enough
    assert httpx.get(url.replace("token=", "token=x")).status_code == 400
    many = bucket.create_signed_urls(["dir/a.txt", "dir/none.txt"], 60)
    assert httpx.get(many[0]["signedURL"]).content == b"hello world"
    assert many[1]["signedURL"] is None and "does not exist" in many[1]["error"]

    upload = bucket.create_signed_upload_url("dir/up.txt")
    bucket.upload_to_signed_url("dir/up.txt", upload["token"], b"through a signed URL")
    assert bucket.download("dir/up.txt") == b"through a signed URL"


def test_list_v2_pages_by_cursor_with_full_case_sensitive_names(stack):
    client = storage(stack)
    client.create_bucket("b")
    bucket = client.from_("b")
    for k in ["T/ABC/x.txt", "T/abc/y.txt", "T/abc/sub/q.txt", "T/B.txt", "T/a.txt"]:
        bucket.upload(k, k.encode())
    first = bucket.list_v2({"prefix": "T/", "limit": 3})
    assert first.hasNext and [o.name for o in first.objects] == ["T/ABC/x.txt", "T/B.txt", "T/a.txt"]
    rest = bucket.list_v2({"prefix": "T/", "limit": 3, "cursor": first.nextCursor})
    assert not rest.hasNext and [o.name for o in rest.objects] == ["T/abc/sub/q.txt", "T/abc/y.txt"]
    folders = bucket.list_v2({"prefix": "T/abc/", "with_delimiter": True})
    assert [f.name for f in folders.folders] == ["T/abc/sub/"] and [o.name for o in folders.objects] == ["T/abc/y.txt"]

    # the folder listing (v1), by contrast: prefix matched case-insensitively, names in collation order
    assert [o["name"].lower() for o in bucket.list("T")] == ["a.txt", "abc", "b.txt"]  # ABC/ and abc/: one entry
    assert sorted(o["name"] for o in bucket.list("T/abc")) == ["sub", "x.txt", "y.txt"]
    r = raw(stack, "POST", "/storage/v1/object/list/b", json={}, headers={"apikey": stack.service_key})
    assert r.json()["message"] == "body must have required property 'prefix'"


def test_keys_buckets_metadata_ranges_and_error_codes_are_the_real_servers(stack):
    client = storage(stack)
    client.create_bucket("b", options={"public": False, "file_size_limit": 1000, "allowed_mime_types": ["text/plain"]})
    bucket = client.from_("b")
    with pytest.raises(StorageApiError) as e:
        bucket.upload("folder a/ünï 文件.txt", b"x", {"content-type": "text/plain"})
    assert str(e.value.status) == "400" and e.value.code == "InvalidKey"
    assert bucket.list("folder a") == []

    bucket.upload("dir/a.txt", b"hello world", {"content-type": "text/plain", "metadata": {"owner": "test"}})
    assert bucket.info("dir/a.txt")["metadata"] == {"owner": "test"}  # the user metadata is kept

    client.update_bucket("b", {"public": True})  # only what is sent changes
    b = client.get_bucket("b")
    assert b.public is True and b.file_size_limit == 1000 and b.allowed_mime_types == ["text/plain"]

    r = raw(stack, "GET", "/storage/v1/object/b/dir/a.txt", headers={"apikey": stack.service_key, "Range": "bytes=0-3"})
    assert r.status_code == 206 and r.content == b"hell" and r.headers["content-range"] == "bytes 0-3/11"

    r = raw(stack, "DELETE", "/storage/v1/bucket/b", headers={"apikey": stack.service_key})
    assert r.json()["statusCode"] == "409" and r.json()["code"] == "ResourceNotEmpty"
    r = raw(stack, "POST", "/storage/v1/object/b/dir/a.txt", content=b"again",
            headers={"apikey": stack.service_key, "Content-Type": "text/plain"})
    assert r.json()["statusCode"] == "409" and r.json()["code"] == "KeyAlreadyExists"


SUPABASE_JS = ROOT / "tests" / ".npm" / "node_modules"


@pytest.mark.skipif(not (SUPABASE_JS / "@supabase" / "supabase-js").is_dir(),
                    reason="supabase-js not installed (.ci/run installs it)")
def test_supabase_js_calls_behave_as_on_supabase(stack):
    """The official JavaScript client, whose calls the imitation broke (signed URLs taken for an
    upload to a bucket named "sign", listV2, a 501 after a 401 on a keep-alive connection)."""
    env = {**os.environ, "SUPABASE_URL": stack.url, "SERVICE_KEY": stack.service_key,
           "SUPABASE_JS_DIR": str(SUPABASE_JS)}
    cp = subprocess.run([str(node_binary()), str(ROOT / "tests" / "supabase_local" / "supabase_js_calls.mjs")],
                        env=env, capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    out = json.loads(cp.stdout)
    ok = {name: r for name, r in out.items() if isinstance(r, dict) and "error" in r}
    for name in ("createBucket", "upload", "info", "createSignedUrl", "createSignedUrls", "createSignedUploadUrl",
                 "uploadToSignedUrl", "downloadUp", "listV2", "updateBucket", "getBucket", "listBuckets", "list",
                 "afterRefusal", "afterRefusal2"):
        assert ok[name]["error"] is None, (name, ok[name])
    assert ok["info"]["data"]["metadata"] == {"owner": "test"}
    assert out["signedDownload"] == {"status": 200, "text": "hello world"}
    assert [u["error"] is None for u in ok["createSignedUrls"]["data"]] == [True, False]
    assert ok["downloadUp"]["data"] == "through a signed URL"
    assert [o["name"] for o in ok["listV2"]["data"]["objects"]] == ["dir/a.txt", "dir/up.txt"]
    assert ok["badKey"]["error"]["statusCode"] == "400" and "Invalid key" in ok["badKey"]["error"]["message"]
    bucket = ok["getBucket"]["data"]
    assert bucket["public"] is True and bucket["file_size_limit"] == 1000 and bucket["allowed_mime_types"] == ["text/plain"]
    assert [x["name"] for x in ok["listBuckets"]["data"]] == ["b"]
    assert sorted(o["name"] for o in ok["list"]["data"]) == ["a.txt", "up.txt"]  # DIR matches dir/, as on Supabase
    assert ok["deleteBucket"]["error"]["statusCode"] == "409"
    assert ok["refusedRpc"]["error"]["message"] == "Invalid API key"
    assert ok["refusedList"]["error"]["message"] == "Invalid API key"
    assert len(ok["afterRefusal"]["data"]) == 1 and [x["name"] for x in ok["afterRefusal2"]["data"]] == ["b"]
