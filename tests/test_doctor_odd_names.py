"""`doctor` on a database whose table names need quoting: it reports, it never crashes."""

import json

import psycopg

from .conftest import run_cli


def test_doctor_reads_the_privileges_of_a_table_whose_name_holds_a_double_quote(odd_db, env):
    with psycopg.connect(odd_db) as c:
        c.execute('create table public."say ""cheese""" (id int primary key, organization_id uuid)')
    env(odd_db)
    cp = run_cli("doctor", "--json")
    assert "Traceback" not in cp.stderr
    by = {c["name"]: c for c in json.loads(cp.stdout)["checks"]}
    assert by["database"]["status"] == "ok" and by["privileges"]["status"] == "ok", by
