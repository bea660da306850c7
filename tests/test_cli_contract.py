"""The README's promises to scripts: with --json (before or after the command) stdout holds
exactly one JSON document whatever happens, errors included; a usage mistake is one line;
exit codes as the README's table says (plan errors are failed operations: 1, not 2)."""

from __future__ import annotations

import json

import pytest

from .conftest import ORG_A, cli_json, run_cli

UUID = "00000000-0000-4000-8000-0000000000ff"


def _error_doc(cp, code: int) -> dict:
    assert cp.returncode == code, (cp.returncode, cp.stdout, cp.stderr)
    doc = json.loads(cp.stdout)  # exactly one document: json.loads refuses anything after it
    assert set(doc) == {"error", "exit_code"} and doc["exit_code"] == code
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1 and doc["error"] in lines[0] and "Traceback" not in cp.stderr
    return doc


@pytest.mark.parametrize("where", ["after", "before"])
def test_an_error_with_json_is_one_json_document(odd_db, env, where):
    env(odd_db)
    args = ["backup", "--org", "x"]
    cp = run_cli(*(args + ["--json"] if where == "after" else ["--json"] + args))
    assert "not an organization id" in _error_doc(cp, 2)["error"]


def test_json_before_the_command_gives_json(odd_db, env):
    env(odd_db)
    cp = run_cli("--json", "tenants")
    assert cp.returncode == 0 and any(t["id"] == ORG_A for t in json.loads(cp.stdout))


def test_a_wrong_plan_exits_1_with_its_json(odd_db, env):
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]
    cp = run_cli("restore", "--org", ORG_A, "--backup", backup["id"], "--apply", "--plan", "plan-0000000000000000",
                 "--yes", "--json")
    assert "no such plan" in _error_doc(cp, 1)["error"]


def test_usage_errors_are_one_line_and_json_when_asked(odd_db, env):
    env(odd_db)
    for args in (["backup", "--json"], ["backup", "--org", UUID, "--bogus", "--json"], ["--json", "nosuchcommand"]):
        _error_doc(run_cli(*args), 2)
    cp = run_cli("backup")
    assert cp.returncode == 2 and cp.stdout == ""
    assert cp.stderr.strip().splitlines() == ["tenant-backup: error: the following arguments are required: --org "
                                              "(see: tenant-backup backup --help)"]


@pytest.mark.parametrize("option", ["--type", "--status"])
def test_history_refuses_an_unknown_type_or_status(odd_db, env, option):
    env(odd_db)
    doc = _error_doc(run_cli("history", option, "bogus", "--json"), 2)
    assert "invalid choice: 'bogus'" in doc["error"]
    assert "no history" not in doc["error"]


def test_mode_replace_at_apply_is_a_choice_that_must_match_the_plan(odd_db, env):
    """Issue 19: --mode replace at --apply was taken for 'no mode given' and the plan's own mode
    (here missing-only) was applied; a choice given at apply must match the plan's."""
    from .test_restore import apply, dry_run
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]["id"]
    plan = dry_run(ORG_A, backup, "--mode", "missing-only")["plan_id"]
    cp = apply(ORG_A, backup, plan, "--mode", "replace")
    assert cp.returncode == 1, cp.stderr
    assert "was made with other options (--mode missing-only)" in cp.stderr
    assert [r for r in cli_json("history", "--org", ORG_A, "--type", "restore")] == []
    cp = apply(ORG_A, backup, plan)  # no choice given: the plan's own, missing-only
    assert cp.returncode == 0, cp.stderr


def test_a_restore_counts_its_time_from_its_start_in_the_history(odd_db, env):
    """Issue 19: a successful restore's row started at its last SQL call, after the staging, the
    checks and the safety backup (a failed one's: test_window_bad_day, the failed upload)."""
    from tenant_backup_gui.core import history as h
    from .test_restore import apply, dry_run
    env(odd_db)
    backup = cli_json("backup", "--org", ORG_A)["backup"]["id"]
    plan = dry_run(ORG_A, backup)["plan_id"]
    assert apply(ORG_A, backup, plan).returncode == 0
    rows = cli_json("history", "--org", ORG_A)
    restore = next(r for r in rows if r["backup_type"] == "restore")
    safety = next(r for r in rows if r["backup_type"] == "safety")
    assert h.started(restore) <= h.started(safety) and h.duration(restore) >= h.duration(safety)
    shown = run_cli("history", "--org", ORG_A, check=True).stdout.splitlines()
    line = next(x for x in shown if " restore " in x)
    assert f"{h.duration(restore):.1f}s" in line  # what the CLI shows is that duration
