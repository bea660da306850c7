"""Every config value is checked by type and range, and a wrong one is one line naming the key and
the file, before anything runs: no folder named `123` or `['a', 'b']`, no wait that never ends,
no OverflowError, no silently dropped tenant table."""

from __future__ import annotations

import pytest

from .conftest import ORG_A, ROOT, run_cli

BAD = {
    "[store]\npath = 123\n": "'path'",
    "[store]\npath = [\"a\", \"b\"]\n": "'path'",
    "store = 123\n": "store",
    "[database]\nlock_wait_seconds = \"10\"\n": "'lock_wait_seconds'",
    "[database]\nlock_wait_seconds = nan\n": "'lock_wait_seconds'",
    "[database]\nlock_wait_seconds = inf\n": "'lock_wait_seconds'",
    "[database]\nlock_wait_seconds = -1\n": "'lock_wait_seconds'",
    "[database]\nurl = 5\n": "'url'",
    "[restore]\nplan_ttl_minutes = 1e12\n": "'plan_ttl_minutes'",
    "[restore]\nplan_ttl_minutes = 1000000000000\n": "'plan_ttl_minutes'",
    "[store]\npart_size_mb = 100000000\n": "'part_size_mb'",
    "[retention]\ndays = 99999999999\n": "'days'",
    "exclude = [\"organizations\"]\n": "tenant table 'organizations'",
    "global_tables = [\"organizations\"]\n": "tenant table 'organizations'",
    "schemas = \"public\"\n": "list of schema names",
}


@pytest.mark.parametrize("text", list(BAD))
def test_a_wrong_value_is_one_line_naming_key_and_file(odd_db, env, tmp_path, text):
    store = env(odd_db, config=text)
    cp = run_cli("backup", "--org", ORG_A)
    assert cp.returncode == 2, (cp.returncode, cp.stderr)
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1 and BAD[text] in lines[0] and str(tmp_path / "config.toml") in lines[0], cp.stderr
    assert "Traceback" not in cp.stderr and "internal error" not in cp.stderr
    assert not (ROOT / "123").exists() and not (ROOT / "['a', 'b']").exists()
    assert not store.exists()  # nothing was backed up anywhere


def test_good_values_still_work(odd_db, env):
    env(odd_db, config="exclude = []\n[database]\nlock_wait_seconds = 2.5\n[restore]\nplan_ttl_minutes = 30\n")
    assert run_cli("backup", "--org", ORG_A).returncode == 0


def test_an_unknown_files_option_is_refused_in_one_line_before_anything_runs(odd_db, env):
    """RestoreOptions.files comes from the CLI's flags, the window's choice or a saved plan: a value
    that is none of with/none/only is named, with the ones that exist, before anything is read."""
    from tenant_backup_gui.core.plan import RestoreOptions
    from tenant_backup_gui.platform.settings import load_settings
    from tenant_backup_gui.services.context import Context
    from tenant_backup_gui.services.restore import RestoreDryRunJob
    env(odd_db)
    ctx = Context.from_settings(load_settings())
    try:
        problems = RestoreDryRunJob(ctx, ORG_A, "latest", RestoreOptions(files="everything")).prepare()
        assert problems == ["unknown files option 'everything' (use with, none, only)"]
        assert RestoreDryRunJob(ctx, ORG_A, "latest", RestoreOptions(files="none")).prepare() == []
    finally:
        ctx.close()
