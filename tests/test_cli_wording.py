"""Smaller promises: counts read as English, a plan's options as the command line says them, an
applied plan says so, and doctor does not wait on a silent server again and again."""

from __future__ import annotations

import json
import re
import socket
import threading

import psycopg

from .conftest import ORG_A, cli_json, run_cli


def test_one_table_and_one_record_are_singular(templates, env):
    url = templates.clone(templates.template("tpl_empty", "select 1"))
    with psycopg.connect(url) as c:
        c.execute("create table organizations (id uuid primary key, name text)")
        c.execute("insert into organizations values (%s, 'A')", [ORG_A])
    env(url)
    cli_json("setup")
    cp = run_cli("backup", "--org", ORG_A)
    assert cp.returncode == 0 and "1 record, 1 table," in cp.stdout, cp.stdout
    backup = cli_json("backups", "--org", ORG_A)[0]
    with psycopg.connect(url) as c:
        c.execute("update organizations set name = 'B'")
    dry = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")
    assert "Would update 1 row in 1 table of B" in dry.stdout, dry.stdout
    assert "1 table holds" in run_cli("scope").stdout


def test_a_plan_for_other_options_and_an_applied_plan_say_what_they_are(odd_db, env):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    plan = cli_json("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run")["plan_id"]
    apply = ["restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", plan, "--yes"]
    cp = run_cli(*apply, "--mode", "missing-only")
    assert cp.returncode == 1 and "other options (--mode replace)" in cp.stderr and "{" not in cp.stderr
    assert run_cli(*apply).returncode == 0
    cp = run_cli(*apply)
    assert cp.returncode == 1 and f"plan {plan} was already applied" in cp.stderr and "no such plan" not in cp.stderr


def test_doctor_asks_a_silent_server_once_and_says_it_did_not_answer(env, tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    accepted = []

    def take():
        while True:
            try:
                accepted.append(silent.accept()[0])  # accept, then never say a word
            except OSError:
                return
    threading.Thread(target=take, daemon=True).start()
    env(f"postgresql://u:p@127.0.0.1:{silent.getsockname()[1]}/db")
    try:
        doc = json.loads(run_cli("doctor", "--json").stdout)
    finally:
        silent.close()
    database = next(c for c in doc["checks"] if c["name"] == "database")
    assert database["status"] == "fail" and "no answer within" in database["message"]
    assert len(accepted) == 1


def test_history_shows_sizes_only_for_rows_that_wrote_a_backup(odd_db, env):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--dry-run", check=True)
    lines = run_cli("history", "--org", ORG_A, check=True).stdout.splitlines()
    dry = next(x for x in lines if " dry_run " in x)
    manual = next(x for x in lines if " manual " in x)
    assert " 0 B " not in dry and re.search(r" rows +- ", dry), dry  # a dry run writes no backup: no "0 B"
    assert re.search(r" rows +[0-9.]+ (B|KiB|MiB) ", manual), manual
