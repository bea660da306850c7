"""A Supabase-Storage-compatible HTTP server for tests: the routes, bodies, headers and error
bodies that supabase-py's storage3 client uses, as the real server answers them. Metadata lives
in a `storage` schema of the real PostgreSQL (RLS on, no policies: the anon key sees nothing, as
on a Supabase project); the bytes live in a temp folder. Test infrastructure, never shipped.

Served at the root (`/bucket`, `/object/...`); the stack's gateway maps `/storage/v1/*` here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg

DEFAULT_LIMIT = 50 * 1024 * 1024  # the hosted default upload limit (50 MB)
DELETE_LIMIT = 1000  # objects per DELETE /object/{bucket}, as the real server's schema says
CHUNK = 1 << 16

SCHEMA_SQL = """
create schema if not exists storage;
create table if not exists storage.buckets (
  id text primary key,
  name text not null unique,
  owner uuid,
  public boolean not null default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now());
create table if not exists storage.objects (
  id uuid primary key default gen_random_uuid(),
  bucket_id text not null references storage.buckets(id),
  name text not null,
  owner uuid,
  version text not null,
  metadata jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  last_accessed_at timestamptz not null default now(),
  unique (bucket_id, name));
alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
grant usage on schema storage to anon, authenticated, service_role;
grant all on storage.buckets, storage.objects to anon, authenticated, service_role;
"""

KEY_RE = re.compile(r"^(\w|/|!|-|\.|\*|'|\(|\)| |&|\$|@|=|;|:|\+|,|\?)+$")
SORT_COLUMNS = {"name", "created_at", "updated_at", "last_accessed_at"}


class ApiError(Exception):
    """Rendered as Supabase renders its errors: HTTP 400 (500 for server faults) with
    {statusCode, code, error, message}, statusCode being the 'real' status as a string."""

    def __init__(self, status: int, code: str, error: str, message: str):
        super().__init__(message)
        self.status, self.code, self.error, self.message = status, code, error, message

    def body(self) -> dict:
        return {"statusCode": str(self.status), "code": self.code, "error": self.error, "message": self.message}


def no_bucket() -> ApiError:
    return ApiError(404, "NoSuchBucket", "Bucket not found", "Bucket not found")


def no_key() -> ApiError:
    return ApiError(404, "NoSuchKey", "not_found", "Object not found")


def too_large(entity: str = "object") -> ApiError:
    return ApiError(413, "EntityTooLarge", "Payload too large", f"The {entity} exceeded the maximum allowed size")


def rls_refused() -> ApiError:
    return ApiError(403, "AccessDenied", "Unauthorized", "new row violates row-level security policy")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "InvalidRequest", "Bad Request", message)


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_role(token: str, secret: str) -> str:
    """The `role` claim of an HS256 token signed with the project's secret."""
    try:
        header, payload, sig = token.split(".")
        want = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(want, _b64decode(sig)):
            raise ValueError("invalid signature")
        role = json.loads(_b64decode(payload))["role"]
    except (ValueError, KeyError, TypeError) as err:
        raise ApiError(403, "InvalidJWT", "Unauthorized", str(err) or "Invalid JWT") from None
    if role not in ("anon", "authenticated", "service_role"):
        raise ApiError(403, "InvalidJWT", "Unauthorized", f"role {role} is not allowed")
    return role


def parse_size(value) -> int | None:
    """A bucket's file_size_limit: bytes as a number, or '20MB' / '30KB' / '3B' as the API takes it."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise bad_request("Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B")
    if isinstance(value, (int, float)):
        return int(value)
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(gb|mb|kb|b)", str(value).strip(), re.I)
    if not m:
        raise bad_request("Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B")
    factor = {"gb": 10**9, "mb": 10**6, "kb": 10**3, "b": 1}[m.group(2).lower()]
    return int(float(m.group(1)) * factor)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if moment else None


def _mime_allowed(mime: str, allowed: list[str] | None) -> bool:
    if not allowed:
        return True
    base = mime.split(";")[0].strip().lower()
    for a in allowed:
        a = a.lower()
        if a == base or (a.endswith("/*") and base.startswith(a[:-1])):
            return True
    return False


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], bytes | None, str | None]:
    """(text fields, the `file` field's bytes, its content type) of a multipart/form-data body."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise bad_request("multipart body without a boundary")
    sep = b"--" + m.group(1).encode()
    fields: dict[str, str] = {}
    data = mime = None
    for chunk in body.split(sep)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, value = chunk.partition(b"\r\n\r\n")
        value = value[:-2] if value.endswith(b"\r\n") else value
        headers = {}
        for line in head.decode("utf-8", "replace").strip().split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        name = re.search(r'name="([^"]*)"', headers.get("content-disposition", ""))
        if not name:
            continue
        if "filename=" in headers.get("content-disposition", "") or name.group(1) == "file":
            data, mime = value, headers.get("content-type", "application/octet-stream")
        else:
            fields[name.group(1)] = value.decode("utf-8", "replace")
    return fields, data, mime


class _Pool:
    """A few reusable connections: each request is a thread of its own."""

    def __init__(self, url: str):
        self.url = url
        self.free: list[psycopg.Connection] = []
        self.lock = threading.Lock()

    @contextmanager
    def transaction(self, role: str):
        with self.lock:
            conn = self.free.pop() if self.free else None
        if conn is None or conn.closed:
            conn = psycopg.connect(self.url)
        try:
            with conn.transaction():
                conn.execute(f"set local role {role}")  # role comes from a verified token, from a fixed set
                yield conn
        finally:
            if not conn.closed and not conn.broken:
                with self.lock:
                    self.free.append(conn)

    def close(self) -> None:
        with self.lock:
            for c in self.free:
                c.close()
            self.free.clear()


class StorageServer:
    """`StorageServer(db_url).start()`; `url`; `stop()`. `global_limit` is the project's upload
    size limit in bytes (a bucket's own file_size_limit may only lower it)."""

    def __init__(self, db_url: str, jwt_secret: str, global_limit: int = DEFAULT_LIMIT):
        self.db_url = db_url
        self.jwt_secret = jwt_secret
        self.global_limit = global_limit
        self.dir: Path | None = None
        self.httpd: ThreadingHTTPServer | None = None
        self.pool = _Pool(db_url)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for tests

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> "StorageServer":
        with psycopg.connect(self.db_url, autocommit=True) as c:
            c.execute(SCHEMA_SQL)
        self.dir = Path(tempfile.mkdtemp(prefix="supabase-storage-"))
        handler = type("StorageHandler", (_Handler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), name="storage-server", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        self.pool.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def blob(self, version: str) -> Path:
        return self.dir / version


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: StorageServer
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls

    def log_message(self, *args) -> None:  # quiet
        pass

    # --- plumbing ---
    def _dispatch(self) -> None:
        st = self.server_state
        path = unquote(urlsplit(self.path).path)
        st.requests.append((self.command, path))
        self._body_read = False
        try:
            auth = self.headers.get("Authorization", "")
            if not auth.lower().startswith("bearer "):
                raise ApiError(400, "InvalidRequest", "Unauthorized", "headers must have required property 'authorization'")
            self.role = jwt_role(auth[7:].strip(), st.jwt_secret)
            self._route(self.command, [p for p in path.split("/")][1:])
        except ApiError as err:
            self._drain()
            self._json(500 if err.status >= 500 else 400, err.body())
        except psycopg.errors.InsufficientPrivilege:
            self._drain()
            self._json(400, rls_refused().body())
        except Exception as err:  # noqa: BLE001 - a server fault, rendered as the real one does
            self._drain()
            self._json(500, {"statusCode": "500", "code": "InternalError", "error": "Internal", "message": str(err)})

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

    def _drain(self) -> None:
        """Read what the client sent, so an early answer does not reset a connection mid-upload."""
        if self._body_read:
            return
        self._body_read = True
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            got = self.rfile.read(min(CHUNK, left))
            if not got:
                break
            left -= len(got)

    def _body(self, limit: int | None = None) -> bytes:
        self._body_read = True
        length = int(self.headers.get("Content-Length") or 0)
        if limit is not None and length > limit:
            self._body_read = False
            self._drain()
            raise too_large()
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> dict:
        raw = self._body(10 * 1024 * 1024)
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            raise bad_request("Body is not valid JSON") from None
        if not isinstance(doc, dict):
            raise bad_request("body must be object")
        return doc

    def _json(self, status: int, doc) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _tx(self):
        return self.server_state.pool.transaction(self.role)

    # --- routes ---
    def _route(self, method: str, parts: list[str]) -> None:
        head, rest = parts[0] if parts else "", parts[1:]
        if head == "bucket":
            if method == "GET" and not rest:
                return self._list_buckets()
            if method == "POST" and not rest:
                return self._create_bucket()
            if len(rest) == 1 and method == "GET":
                return self._json(200, self._bucket_json(self._get_bucket(rest[0])))
            if len(rest) == 1 and method == "PUT":
                return self._update_bucket(rest[0])
            if len(rest) == 1 and method == "DELETE":
                return self._delete_bucket(rest[0])
            if len(rest) == 2 and rest[1] == "empty" and method == "POST":
                return self._empty_bucket(rest[0])
        elif head == "object" and rest:
            sub = rest[0]
            if sub == "list" and len(rest) == 2 and method == "POST":
                return self._list_objects(rest[1])
            if sub in ("move", "copy") and len(rest) == 1 and method == "POST":
                return self._move_or_copy(sub)
            if sub == "info" and len(rest) >= 3 and method == "GET":
                return self._info(rest[1], "/".join(rest[2:]))
            if sub in ("authenticated", "public") and len(rest) >= 3 and method in ("GET", "HEAD"):
                return self._download(rest[1], "/".join(rest[2:]), public=sub == "public")
            if len(rest) == 1 and method == "DELETE":
                return self._delete_objects(rest[0])
            if len(rest) >= 2:
                bucket, key = rest[0], "/".join(rest[1:])
                if method in ("GET", "HEAD"):
                    return self._download(bucket, key)
                if method in ("POST", "PUT"):
                    return self._upload(bucket, key, upsert=method == "PUT" or
                                        self.headers.get("x-upsert", "").lower() == "true")
                if method == "DELETE":
                    return self._delete_one(bucket, key)
        raise ApiError(404, "NotFound", "Not Found", f"Route {method}:/{'/'.join(parts)} not found")

    # buckets
    def _bucket_json(self, row) -> dict:
        bid, name, owner, public, limit, mimes, created, updated = row
        return {"id": bid, "name": name, "owner": str(owner) if owner else "", "public": public,
                "type": "STANDARD", "file_size_limit": limit, "allowed_mime_types": mimes,
                "created_at": _iso(created), "updated_at": _iso(updated)}

    _BUCKET_COLS = "id, name, owner, public, file_size_limit, allowed_mime_types, created_at, updated_at"

    def _get_bucket(self, bucket_id: str, as_superuser: bool = False):
        with self.server_state.pool.transaction("service_role" if as_superuser else self.role) as c:
            row = c.execute(f"select {self._BUCKET_COLS} from storage.buckets where id = %s", (bucket_id,)).fetchone()
        if row is None:
            raise no_bucket()
        return row

    def _list_buckets(self) -> None:
        with self._tx() as c:
            rows = c.execute(f"select {self._BUCKET_COLS} from storage.buckets order by name").fetchall()
        self._json(200, [self._bucket_json(r) for r in rows])

    def _bucket_options(self, doc: dict) -> tuple:
        limit = parse_size(doc.get("file_size_limit"))
        if limit is not None and limit > self.server_state.global_limit:
            raise too_large()  # a bucket may not allow more than the project does
        mimes = doc.get("allowed_mime_types")
        if mimes is not None and not (isinstance(mimes, list) and all(isinstance(m, str) for m in mimes)):
            raise bad_request("body/allowed_mime_types must be array")
        public = doc.get("public", False)
        if not isinstance(public, bool):
            raise bad_request("body/public must be boolean")
        return public, limit, mimes

    def _create_bucket(self) -> None:
        doc = self._json_body()
        bid = doc.get("name") or doc.get("id")
        if not isinstance(bid, str) or not bid or len(bid) >= 64 or "/" in bid or not KEY_RE.match(bid):
            raise ApiError(400, "InvalidBucketName", "Invalid Input", "Bucket name invalid")
        public, limit, mimes = self._bucket_options(doc)
        try:
            with self._tx() as c:
                c.execute("insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types) "
                          "values (%s, %s, %s, %s, %s)", (doc.get("id") or bid, bid, public, limit, mimes))
        except psycopg.errors.UniqueViolation:
            raise ApiError(409, "BucketAlreadyExists", "Duplicate", "The resource already exists") from None
        self._json(200, {"name": bid})

    def _update_bucket(self, bucket_id: str) -> None:
        doc = self._json_body()
        public, limit, mimes = self._bucket_options(doc)
        with self._tx() as c:
            n = c.execute("update storage.buckets set public = %s, file_size_limit = %s, allowed_mime_types = %s, "
                          "updated_at = now() where id = %s", (public, limit, mimes, bucket_id)).rowcount
        if not n:
            raise no_bucket()
        self._json(200, {"message": "Successfully updated"})

    def _empty_bucket(self, bucket_id: str) -> None:
        self._json_body()
        self._get_bucket(bucket_id)
        with self._tx() as c:
            versions = [v for (v,) in c.execute("delete from storage.objects where bucket_id = %s returning version",
                                                (bucket_id,))]
        self._unlink(versions)
        self._json(200, {"message": "Successfully emptied"})

    def _delete_bucket(self, bucket_id: str) -> None:
        self._drain()
        self._get_bucket(bucket_id)
        with self._tx() as c:
            if c.execute("select 1 from storage.objects where bucket_id = %s limit 1", (bucket_id,)).fetchone():
                raise ApiError(409, "InvalidRequest", "InvalidRequest", "The bucket you tried to delete is not empty")
            n = c.execute("delete from storage.buckets where id = %s", (bucket_id,)).rowcount
        if not n:
            raise no_bucket()
        self._json(200, {"message": "Successfully deleted"})

    # objects
    def _limits(self, bucket_id: str) -> tuple[int, list[str] | None]:
        row = self._get_bucket(bucket_id, as_superuser=True)  # as the real server reads them; RLS judges the write
        own = row[4]
        limit = min(self.server_state.global_limit, own) if own else self.server_state.global_limit
        return limit, row[5]

    def _upload(self, bucket_id: str, key: str, upsert: bool) -> None:
        if not KEY_RE.match(key) or any(p in ("", ".", "..") for p in key.split("/")):
            raise ApiError(400, "InvalidKey", "Invalid Input", f"Invalid key: {key}")
        limit, mimes = self._limits(bucket_id)
        ctype = self.headers.get("Content-Type", "application/octet-stream")
        cache = self.headers.get("cache-control", "no-cache")
        raw = self._body(limit + 64 * 1024)  # room for the multipart envelope
        if ctype.lower().startswith("multipart/form-data"):
            fields, data, mime = parse_multipart(raw, ctype)
            if data is None:
                raise bad_request("No content provided")
            cache = fields.get("cacheControl", cache)
            cache = cache if cache.startswith(("max-age", "no-")) else f"max-age={cache}"
        else:
            data, mime = raw, ctype
        if len(data) > limit:
            raise too_large()
        if not _mime_allowed(mime, mimes):
            raise ApiError(415, "InvalidMimeType", "invalid_mime_type", f"mime type {mime} is not supported")
        st = self.server_state
        version = uuid.uuid4().hex
        tmp = st.blob(version + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, st.blob(version))
        now = datetime.now(timezone.utc)
        meta = {"eTag": f'"{hashlib.md5(data).hexdigest()}"', "size": len(data), "mimetype": mime,
                "cacheControl": cache, "lastModified": _iso(now), "contentLength": len(data), "httpStatusCode": 200}
        old = None
        try:
            with self._tx() as c:
                if upsert:
                    prev = c.execute("select version from storage.objects where bucket_id = %s and name = %s for update",
                                     (bucket_id, key)).fetchone()
                    old = prev[0] if prev else None
                row = c.execute(
                    "insert into storage.objects (bucket_id, name, version, metadata) values (%s, %s, %s, %s) "
                    + ("on conflict (bucket_id, name) do update set version = excluded.version, metadata = "
                       "excluded.metadata, updated_at = now(), last_accessed_at = now() " if upsert else "")
                    + "returning id", (bucket_id, key, version, json.dumps(meta))).fetchone()
        except psycopg.errors.UniqueViolation:
            self._unlink([version])
            raise ApiError(409, "Duplicate", "Duplicate", "The resource already exists") from None
        except BaseException:
            self._unlink([version])
            raise
        if old:
            self._unlink([old])
        self._json(200, {"Key": f"{bucket_id}/{key}", "Id": str(row[0])})

    def _find(self, bucket_id: str, key: str, public: bool = False):
        if public:  # public URLs serve public buckets to anyone, as the real server does
            with self.server_state.pool.transaction("service_role") as c:
                row = c.execute("select o.id, o.version, o.metadata, o.created_at, o.updated_at from storage.objects o "
                                "join storage.buckets b on b.id = o.bucket_id where b.public and o.bucket_id = %s "
                                "and o.name = %s", (bucket_id, key)).fetchone()
        else:  # no bucket check: under RLS a private bucket's objects are simply not found
            with self._tx() as c:
                row = c.execute("select id, version, metadata, created_at, updated_at from storage.objects "
                                "where bucket_id = %s and name = %s", (bucket_id, key)).fetchone()
        if row is None:
            raise no_key()
        return row

    def _download(self, bucket_id: str, key: str, public: bool = False) -> None:
        self._drain()
        oid, version, meta, _, updated = self._find(bucket_id, key, public)
        path = self.server_state.blob(version)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            raise no_key() from None
        with fh:
            size = os.fstat(fh.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Type", (meta or {}).get("mimetype", "application/octet-stream"))
            self.send_header("Content-Length", str(size))
            self.send_header("ETag", (meta or {}).get("eTag", ""))
            self.send_header("Cache-Control", (meta or {}).get("cacheControl", "no-cache"))
            self.send_header("Last-Modified", updated.strftime("%a, %d %b %Y %H:%M:%S GMT"))
            self.end_headers()
            if self.command == "HEAD":
                return
            while chunk := fh.read(CHUNK):
                self.wfile.write(chunk)

    def _info(self, bucket_id: str, key: str) -> None:
        oid, version, meta, created, updated = self._find(bucket_id, key)
        meta = meta or {}
        self._json(200, {"id": str(oid), "name": key, "version": version, "bucket_id": bucket_id,
                         "size": meta.get("size"), "content_type": meta.get("mimetype"),
                         "cache_control": meta.get("cacheControl"), "etag": meta.get("eTag"),
                         "metadata": meta, "last_modified": _iso(updated), "created_at": _iso(created)})

    def _list_objects(self, bucket_id: str) -> None:
        doc = self._json_body()
        prefix = doc.get("prefix") or ""
        if not isinstance(prefix, str):
            raise bad_request("body/prefix must be string")
        if prefix and not prefix.endswith("/"):
            prefix += "/"  # the prefix is always a folder
        limit, offset = doc.get("limit", 100), doc.get("offset", 0)
        if not isinstance(limit, int) or not isinstance(offset, int) or limit < 1 or offset < 0:
            raise bad_request("body/limit and body/offset must be non-negative integers")
        sort = doc.get("sortBy") or {}
        column = sort.get("column", "name")
        order = str(sort.get("order", "asc")).lower()
        if column not in SORT_COLUMNS or order not in ("asc", "desc"):
            raise bad_request("body/sortBy is invalid")
        search = doc.get("search") or ""
        n = len(prefix)
        order_by = f'"{column}" {order} nulls last, name collate "C" {order}' if column != "name" \
            else f'name collate "C" {order}'
        sql = f"""
            with children as (
              select split_part(substr(o.name, {n} + 1), '/', 1) as child,
                     strpos(substr(o.name, {n} + 1), '/') > 0 as is_folder, o.*
              from storage.objects o
              where o.bucket_id = %(b)s and left(o.name, {n}) = %(p)s),
            rows as (
              select child as name, null::uuid as id, null::timestamptz as updated_at,
                     null::timestamptz as created_at, null::timestamptz as last_accessed_at, null::jsonb as metadata
              from children where is_folder group by child
              union all
              select child, id, updated_at, created_at, last_accessed_at, metadata from children where not is_folder)
            select name, id, updated_at, created_at, last_accessed_at, metadata from rows
            where name ilike %(s)s
            order by {order_by} limit %(l)s offset %(o)s"""
        like = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._tx() as c:
            rows = c.execute(sql, {"b": bucket_id, "p": prefix, "s": like, "l": limit, "o": offset}).fetchall()
        self._json(200, [{"name": name, "id": str(oid) if oid else None, "updated_at": _iso(u), "created_at": _iso(cr),
                          "last_accessed_at": _iso(la), "metadata": meta}
                         for name, oid, u, cr, la, meta in rows])

    def _delete_objects(self, bucket_id: str) -> None:
        doc = self._json_body()
        prefixes = doc.get("prefixes")
        if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
            raise bad_request("body must have required property 'prefixes'")
        if not prefixes:
            raise bad_request("body/prefixes must NOT have fewer than 1 items")
        if len(prefixes) > DELETE_LIMIT:
            raise bad_request(f"body/prefixes must NOT have more than {DELETE_LIMIT} items")
        with self._tx() as c:
            rows = c.execute("delete from storage.objects where bucket_id = %s and name = any(%s) "
                             "returning id, name, version, metadata, created_at, updated_at, last_accessed_at",
                             (bucket_id, prefixes)).fetchall()
        self._unlink([r[2] for r in rows])
        self._json(200, [{"id": str(oid), "name": name, "bucket_id": bucket_id, "metadata": meta, "version": ver,
                          "created_at": _iso(cr), "updated_at": _iso(u), "last_accessed_at": _iso(la)}
                         for oid, name, ver, meta, cr, u, la in rows])

    def _delete_one(self, bucket_id: str, key: str) -> None:
        self._drain()
        self._get_bucket(bucket_id)
        with self._tx() as c:
            row = c.execute("delete from storage.objects where bucket_id = %s and name = %s returning version",
                            (bucket_id, key)).fetchone()
        if row is None:
            raise no_key()
        self._unlink([row[0]])
        self._json(200, {"message": "Successfully deleted"})

    def _move_or_copy(self, what: str) -> None:
        doc = self._json_body()
        bucket_id, src = doc.get("bucketId"), doc.get("sourceKey")
        dest_bucket, dst = doc.get("destinationBucket") or bucket_id, doc.get("destinationKey")
        if not all(isinstance(v, str) and v for v in (bucket_id, src, dst)):
            raise bad_request("body must have bucketId, sourceKey and destinationKey")
        if not KEY_RE.match(dst) or any(p in ("", ".", "..") for p in dst.split("/")):
            raise ApiError(400, "InvalidKey", "Invalid Input", f"Invalid key: {dst}")
        self._get_bucket(bucket_id)
        self._get_bucket(dest_bucket)
        st = self.server_state
        try:
            with self._tx() as c:
                row = c.execute("select version, metadata from storage.objects where bucket_id = %s and name = %s",
                                (bucket_id, src)).fetchone()
                if row is None:
                    raise no_key()
                if what == "move":
                    c.execute("update storage.objects set bucket_id = %s, name = %s, updated_at = now() "
                              "where bucket_id = %s and name = %s", (dest_bucket, dst, bucket_id, src))
                else:
                    version = uuid.uuid4().hex
                    shutil.copyfile(st.blob(row[0]), st.blob(version))
                    try:
                        c.execute("insert into storage.objects (bucket_id, name, version, metadata) "
                                  "values (%s, %s, %s, %s)", (dest_bucket, dst, version, json.dumps(row[1])))
                    except BaseException:
                        self._unlink([version])
                        raise
        except psycopg.errors.UniqueViolation:
            raise ApiError(409, "Duplicate", "Duplicate", "The resource already exists") from None
        if what == "move":
            self._json(200, {"message": "Successfully moved"})
        else:
            self._json(200, {"Key": f"{dest_bucket}/{dst}"})

    def _unlink(self, versions: list[str]) -> None:
        for v in versions:
            try:
                self.server_state.blob(v).unlink()
            except FileNotFoundError:
                pass
