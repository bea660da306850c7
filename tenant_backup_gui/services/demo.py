"""The sandbox as the app sees it: a database with the demo dataset and the tool's setup."""

from __future__ import annotations

from ..platform import sandbox
from ..platform.paths import resource_text
from ..sources.direct.setup import install, run_script
from .inventory import setup_sql


def _load(url: str) -> None:
    run_script(url, resource_text("demo", "schema.sql"), "creating the demo schema")
    run_script(url, resource_text("demo", "data.sql"), "loading the demo data")
    install(url, setup_sql())  # what `tenant-backup setup` installs: the restore engine too


def start() -> sandbox.Sandbox:
    return sandbox.start(_load)


stop = sandbox.stop
reset = sandbox.reset
