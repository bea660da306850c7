"""Look inside a backup (show) and see what changed (diff), on both roads. Expected values come
from PostgreSQL itself reading the backup's own lines (json_each_text), never from our parser."""

from __future__ import annotations

import csv
import json

import psycopg

from .conftest import ORG_A, cli_json, run_cli
from .helpers import load_summary, old_system_backup, table_lines
from .roads import road  # noqa: F401 (fixture: each test body runs over both roads)
from .test_restore import damage


def as_postgres_reads(url: str, lines: list[str]) -> list[dict]:
    """Each backup line's values as PostgreSQL reads them back: the text of every column."""
    with psycopg.connect(url) as c:
        return [dict(c.execute("select key, value from json_each_text(%s::json)", [line]).fetchall())
                for line in lines]


def test_show_lists_the_tables_and_every_odd_value_as_postgres_wrote_it(road, tmp_path):
    backup = cli_json("backup", "--org", ORG_A)["backup"]["id"]
    summary = load_summary(road.store, ORG_A, backup)
    doc = cli_json("show", "--org", ORG_A, "--backup", backup)
    assert {t["name"]: t["rows"] for t in doc["tables"]} == \
        {n: t["record_count"] for n, t in summary["manifest"]["tables"].items()}

    lines = table_lines(road.store, summary, "odd_types")
    expected = sorted(as_postgres_reads(road.db, lines), key=lambda r: int(r["id"]))
    page = cli_json("show", "--org", ORG_A, "--backup", backup, "--table", "odd_types")
    assert page["total"] == len(lines)
    assert [r["values"] for r in page["rows"]] == expected  # NaN, -0, 1e400 in json, bytea, arrays' bounds …

    big = sorted(int(json.loads(line)["id"]) for line in table_lines(road.store, summary, "big_table"))
    page = cli_json("show", "--org", ORG_A, "--backup", backup, "--table", "big_table", "--limit", "5",
                    "--offset", "3")
    assert [int(r["key"]) for r in page["rows"]] == big[3:8] and page["total"] == len(big)

    one = cli_json("show", "--org", ORG_A, "--backup", backup, "--table", "odd_types", "--key", expected[1]["id"])
    assert [r["values"] for r in one["rows"]] == [expected[1]]
    assert "no row of odd_types has key 999999" in run_cli(
        "show", "--org", ORG_A, "--backup", backup, "--table", "odd_types", "--key", "999999").stdout

    found = cli_json("show", "--org", ORG_A, "--backup", backup, "--table", "odd_types", "--search", "QUICK")
    assert found["total"] == sum("quick" in str(r.values()).lower() for r in expected) > 0

    out = tmp_path / "odd.csv"
    cli_json("show", "--org", ORG_A, "--backup", backup, "--table", "odd_types", "--csv", str(out))
    with open(out, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [{k: (v or None) for k, v in r.items()} for r in rows] == \
        [{k: (v or None) for k, v in r.items()} for r in expected]


def test_diff_against_now_and_between_backups_both_directions(road, tmp_path):
    first = cli_json("backup", "--org", ORG_A)["backup"]["id"]
    same = cli_json("diff", "--org", ORG_A, "--backup", first)
    assert not any(t["added"] or t["removed"] or t["changed"] for t in same["tables"]), same
    with psycopg.connect(road.db) as c:
        gone = c.execute("select count(*) from big_table where organization_id = %s and id %% 3 = 0",
                         [ORG_A]).fetchone()[0]
        old_text = c.execute("select t_text from odd_types where organization_id = %s order by id limit 1",
                             [ORG_A]).fetchone()[0]
    damage(road.db, ORG_A)
    now = cli_json("diff", "--org", ORG_A, "--backup", first)
    tables = {t["name"]: t for t in now["tables"]}
    assert (tables["big_table"]["removed"], tables["big_table"]["added"]) == (gone, 1)
    assert tables["odd_serial"]["added"] == 1 and tables["members"]["removed"] > 0
    changed = tables["odd_types"]["rows"][0]
    assert changed["kind"] == "changed"
    assert {c["column"]: (c["old"], c["new"]) for c in changed["changes"]}["t_text"] == (old_text, "overwritten")
    assert tables["unique_only"]["changed"] > 0 and tables["orders"]["added"] == tables["orders"]["removed"] == 0

    second = cli_json("backup", "--org", ORG_A)["backup"]["id"]
    between = cli_json("diff", "--org", ORG_A, "--backup", first, "--against", second)
    counts = lambda d: {t["name"]: (t["added"], t["removed"], t["changed"]) for t in d["tables"]}  # noqa: E731
    assert counts(between) == counts(now)
    back = cli_json("diff", "--org", ORG_A, "--backup", second, "--against", first)
    assert counts(back) == {n: (r, a, c) for n, (a, r, c) in counts(now).items()}

    out = tmp_path / "changes.csv"
    cp = run_cli("diff", "--org", ORG_A, "--backup", first, "--table", "odd_types", "--csv", str(out))
    assert cp.returncode == 0, cp.stderr
    rows = list(csv.DictReader(open(out, newline="", encoding="utf-8-sig")))
    assert {"table": "odd_types", "change": "changed", "column": "t_text", "new": "overwritten"}.items() \
        <= next(r for r in rows if r["column"] == "t_text").items()
    assert "odd_types:" in cp.stdout and "t_text" not in cp.stderr


def test_a_damaged_backup_is_refused_in_one_line_before_anything_is_shown(road):
    backup = cli_json("backup", "--org", ORG_A)["backup"]["id"]
    part = road.store / load_summary(road.store, ORG_A, backup)["manifest"]["tables"]["odd_types"]["parts"][0]["key"]
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    part.write_bytes(bytes(data))
    for args in (("show", "--table", "odd_types"), ("show", "--table", "odd_types", "--key", "1"),
                 ("diff",), ("diff", "--against", backup)):
        cp = run_cli(args[0], "--org", ORG_A, "--backup", backup, *args[1:])
        assert cp.returncode != 0 and cp.stdout == ""
        assert len(cp.stderr.strip().splitlines()) == 1 and "damaged" in cp.stderr, cp.stderr
    part.write_bytes(bytes(data[:-10]))  # cut short: refused from the listing, before any part is read
    cp = run_cli("show", "--org", ORG_A, "--backup", backup)
    assert cp.returncode != 0 and "damaged" in cp.stderr and cp.stdout == ""


def test_an_old_system_backup_shows_and_diffs(road):
    """The old system's JSON files (its own spacing, no checksums, no key in a manifest): shown, keyed
    by id, and equal values are not reported as changes however differently they were written."""
    old_system_backup(road.db, road.store, ORG_A)
    doc = cli_json("show", "--org", ORG_A, "--backup", "2025-02-03")
    assert doc["type"] == "legacy" and [t["name"] for t in doc["tables"]] == ["organizations"]
    # Unsigned by nature: shown (looking changes nothing), but said so before anything else.
    assert doc["signed"] is False and doc["warnings"][0].startswith("UNSIGNED")
    text = run_cli("show", "--org", ORG_A, "--backup", "2025-02-03").stdout
    assert text.startswith("warning: UNSIGNED"), text
    signed = json.loads(run_cli("backup", "--org", ORG_A, "--json").stdout)["backup"]["id"]
    mine = cli_json("show", "--org", ORG_A, "--backup", signed)
    assert mine["signed"] is True and mine["warnings"] == []
    page = cli_json("show", "--org", ORG_A, "--backup", "2025-02-03", "--table", "organizations")
    assert [(r["key"], r["label"]) for r in page["rows"]] == [(ORG_A, "Acme Welding")]
    same = cli_json("diff", "--org", ORG_A, "--backup", "2025-02-03", "--table", "organizations")
    assert [(t["changed"], t["unchanged"]) for t in same["tables"]] == [(0, 1)]
    with psycopg.connect(road.db) as c:
        c.execute("update organizations set name = 'Acme Welding & Co' where id = %s", [ORG_A])
    (t,) = cli_json("diff", "--org", ORG_A, "--backup", "2025-02-03", "--table", "organizations")["tables"]
    assert [(c["column"], c["old"], c["new"]) for c in t["rows"][0]["changes"]] == \
        [("name", "Acme Welding", "Acme Welding & Co")]
