"""Through a real PgBouncer (tests/pgbouncer_local.py): a transaction-mode pooler is refused on
connect in one line naming the session pooler; a session-mode pooler works; a pool smaller than
`--jobs` fails the tenants it cannot serve in one line within the wait instead of waiting for ever;
and SIGTERM/SIGINT end a run that waits, in seconds, its history closed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from .conftest import ORG_A, ROOT, cli_json, run_cli
from .helpers import one_line, rows_of, summaries, wait_for
from .pgbouncer_local import pgbouncer, pgbouncer_binary, through
from .test_daily_parallel import add_tenants

pytestmark = pytest.mark.skipif(pgbouncer_binary() is None,
                                reason="pgbouncer is not installed and could not be (.ci/run installs "
                                       "Debian's pgbouncer package)")


@pytest.fixture
def bouncer(pg):
    """start(mode, pool_size) -> the URL of a database through a fresh PgBouncer."""
    started = []

    def start(db_url: str, mode: str, pool_size: int = 5, **params: str) -> str:
        cm = pgbouncer(pg, mode, pool_size)
        started.append(cm)
        url = through(cm.__enter__(), db_url)
        return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")

    yield start
    for cm in reversed(started):
        cm.__exit__(None, None, None)


def test_a_transaction_pooler_is_refused_on_connect_naming_the_session_pooler(odd_db, env, bouncer):
    env(bouncer(odd_db, "transaction"))
    for args in (["backup", "--org", ORG_A], ["tenants"], ["daily", "--jobs", "2"]):
        cp = run_cli(*args)
        assert cp.returncode == 2, (args, cp.stderr)
        line = one_line(cp)
        assert "transaction-mode pooler" in line and "session pooler" in line and "5432" in line, line
        assert "Traceback" not in cp.stderr
    with psycopg.connect(odd_db) as c:  # nothing started: no history row, no lock left behind
        assert c.execute("select count(*) from backup_logs").fetchone()[0] == 0
    cp = run_cli("doctor")
    assert "transaction-mode pooler" in cp.stdout + cp.stderr
    assert "DuplicatePreparedStatement" not in cp.stdout + cp.stderr and "internal error" not in cp.stderr


def test_the_probe_tells_a_transaction_pooler_from_a_session_pooler_and_a_direct_connection(odd_db, bouncer):
    from tenant_backup_gui.core.errors import ConnectionFailed
    from tenant_backup_gui.sources.direct import connect as postgres
    session, transaction = bouncer(odd_db, "session"), bouncer(odd_db, "transaction")
    for url in (odd_db, session):
        with postgres.connect(url, autocommit=True) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    with pytest.raises(ConnectionFailed, match="transaction-mode pooler"):
        postgres.connect(transaction)


def test_a_session_pooler_backs_up_and_runs_daily_with_jobs(odd_db, env, bouncer):
    store = env(bouncer(odd_db, "session", pool_size=5))
    add_tenants(odd_db, 3)
    doc = cli_json("backup", "--org", ORG_A)
    assert doc["success"] and summaries(store, ORG_A)
    doc = cli_json("daily", "--jobs", "3")
    assert doc["success"], doc["tenants"]
    assert doc["summary"]["successful_tenants"] == 5


def test_a_pool_smaller_than_jobs_fails_those_tenants_in_one_line_not_for_ever(odd_db, env, bouncer):
    env(bouncer(odd_db, "session", pool_size=2, connect_timeout="3"))
    add_tenants(odd_db, 3)
    started = time.monotonic()
    cp = run_cli("daily", "--jobs", "3")
    assert time.monotonic() - started < 120, "the run waited for the pool"
    assert cp.returncode == 1, cp.stderr
    failed = [line for line in cp.stdout.splitlines() if line.strip().startswith("FAILED")]
    assert failed, cp.stdout
    assert all("pool" in line and "--jobs" in line and "3 s" in line for line in failed), failed
    assert "ok" in cp.stdout  # the tenants the pool could serve were backed up
    with psycopg.connect(odd_db) as c:
        assert c.execute("select count(*) from backup_logs where status = 'in_progress'").fetchone()[0] == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_a_run_waiting_for_the_pool_in_seconds(odd_db, env, bouncer, sig):
    env(bouncer(odd_db, "session", pool_size=2, connect_timeout="600"))
    add_tenants(odd_db, 3)
    proc = subprocess.Popen([sys.executable, "-m", "tenant_backup_gui", "daily", "--jobs", "3"], cwd=str(ROOT),
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Two tenants done on the pool's two server connections, the third job waiting for one.
        two_done = "select count(*) >= 2 from backup_logs where backup_type = 'daily_tenant' and status = 'completed'"
        wait_for(None, lambda: rows_of(odd_db, two_done)[0][0], 60, two_done)
        time.sleep(1)
        assert proc.poll() is None, proc.communicate()
        sent = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert took < 10, f"{took:.1f} s after {sig.name}"
    assert proc.returncode == 130, (out, err)
    lines = err.strip().splitlines()
    assert lines == [f"tenant-backup: error: interrupted by {sig.name}: the job was cancelled; "
                     f"see tenant-backup history"], err
    with psycopg.connect(odd_db) as c:
        rows = c.execute("select backup_type, status from backup_logs").fetchall()
    assert ("daily", "cancelled") in rows, rows
    assert not [r for r in rows if r[1] == "in_progress"], rows


def test_a_signal_cancels_a_lone_backup_and_keeps_no_half_written_backup(odd_db, env, bouncer):
    """A backup stuck behind a full pool: SIGTERM ends it, its history row cancelled, no files."""
    url = bouncer(odd_db, "session", pool_size=1, connect_timeout="600")
    store = env(url)
    holder = psycopg.connect(url)  # takes the pool's only server connection
    holder.execute("select 1")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "tenant_backup_gui", "backup", "--org", ORG_A], cwd=str(ROOT),
                                env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        assert proc.poll() is None, proc.communicate()
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert time.monotonic() - sent < 10
    finally:
        holder.close()
    assert proc.returncode == 130, (out, err)
    assert len(err.strip().splitlines()) == 1 and "SIGTERM" in err, err
    assert not summaries(store, ORG_A)
    assert not (store.exists() and [p for p in store.rglob("*") if p.is_file()])
    with psycopg.connect(odd_db) as c:
        assert c.execute("select count(*) from backup_logs where status = 'in_progress'").fetchone()[0] == 0
