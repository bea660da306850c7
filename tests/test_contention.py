"""When the app's writes get in the way of a restore (PostgreSQL answers deadlock_detected,
serialization_failure or lock_not_available), the dry run and the apply are retried a bounded
number of times, then exit 3 with advice — never exit 2 (configuration).

The database itself raises those errors here: an ALWAYS trigger (it fires even with the restore's
session_replication_role = replica) fails the restore's writes to big_table the first N times,
counted by a sequence, which no rollback undoes."""

from __future__ import annotations

import json

import psycopg
import pytest

from .conftest import ORG_A, cli_json, fingerprint, run_cli

BUSY = "busy: the app is writing to this organization; try again or pick a quiet moment"


def _contend(url: str, times: int, sqlstate: str) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("create sequence contention_tries")
        # As Supabase's linter asks of app functions (function_search_path_mutable): its own search_path,
        # since the restore engine's functions run with pg_catalog only.
        c.execute(f"""create function contention() returns trigger language plpgsql set search_path = public as $$
                      begin
                        if nextval('contention_tries') <= {times} then
                          raise exception 'the app got in the way' using errcode = '{sqlstate}';
                        end if;
                        return null;
                      end $$""")
        c.execute("create trigger contention before insert or delete on big_table "
                  "for each statement execute function contention()")
        c.execute("alter table big_table enable always trigger contention")


def _tries(url: str) -> int:
    with psycopg.connect(url) as c:
        return c.execute("select last_value from contention_tries").fetchone()[0]


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_dry_run_and_an_apply_that_meet_the_app_are_retried(odd_db, env, sqlstate):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    _contend(odd_db, 2, sqlstate)
    dry = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)["plan_id"]
    assert _tries(odd_db) >= 3  # it did meet the errors, and went on
    with psycopg.connect(odd_db, autocommit=True) as c:
        c.execute("alter sequence contention_tries restart")
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", plan, "--yes", "--json")
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["success"] is True


def test_contention_that_does_not_stop_exits_3_with_advice_and_changes_nothing(odd_db, env):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    with psycopg.connect(odd_db) as c:
        c.execute("delete from big_table where organization_id = %s and id = 1", [ORG_A])
    plan = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")["plan_id"]
    before = fingerprint(odd_db)
    before.pop("backup_logs")
    _contend(odd_db, 10**6, "40P01")
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", plan, "--yes", "--json")
    assert cp.returncode == 3, cp.stderr
    assert json.loads(cp.stdout)["exit_code"] == 3 and BUSY in cp.stderr and len(cp.stderr.splitlines()) == 1
    assert "tried 5 times" in cp.stderr and _tries(odd_db) == 5
    safety = [b for b in cli_json("backups", "--org", ORG_A) if b["type"] == "safety"]
    assert len(safety) == 1, "each retry took a safety backup of the same, unchanged data"
    after = fingerprint(odd_db)
    after.pop("backup_logs")
    assert after == before
    dry = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run", "--json")
    assert dry.returncode == 3 and BUSY in dry.stderr
