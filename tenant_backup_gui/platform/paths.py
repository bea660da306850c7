"""The user's config, data, state and log folders (platformdirs), in one place."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP = "tenant-backup"


def profile() -> str:
    """The active profile: `--profile NAME` (the CLI puts it in TENANT_BACKUP_PROFILE), else
    "default". Each profile has its own config file, keyring entries, backup folder and schedule."""
    import re
    name = os.environ.get("TENANT_BACKUP_PROFILE") or "default"
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", name):
        from ..core.errors import ConfigError
        raise ConfigError(f"profile name {name!r} may hold only letters, digits, '-' and '_' (at most 40)")
    return name


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP, appauthor=False))


def resources_dir() -> Path:
    """The shipped data files (SQL, demo data, icon, desktop entry): inside the bundle when frozen,
    else the package's own tenant_backup_gui.resources (wheel, sdist and editable installs map the
    repository's resources/ there); in a bare checkout nothing is installed, so resources/ beside it."""
    if getattr(sys, "frozen", False):
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "resources"
    try:
        from importlib.resources import files
        found = files("tenant_backup_gui.resources")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "resources"
    return Path(str(found))


def resource_text(*parts: str) -> str:
    return resources_dir().joinpath(*parts).read_text(encoding="utf-8")


def readme_path() -> Path | None:
    """The README for Help → README: the checkout's, a frozen bundle's, else the installed
    distribution's own (its metadata holds the README) written to the state folder, its
    screenshots pointing at the copies shipped in resources/screenshots."""
    for readme in (Path(__file__).resolve().parents[2] / "README.md", resources_dir() / "README.md"):
        if readme.is_file():
            return readme
    try:
        from importlib.metadata import PackageNotFoundError, metadata
        text = metadata("tenant-backup").get_payload()
    except (ImportError, PackageNotFoundError):
        return None
    if not text:
        return None
    shots = resources_dir() / "screenshots"
    text = text.replace("](resources/screenshots/", f"]({shots.resolve().as_uri()}/")
    out = state_dir() / "README.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
