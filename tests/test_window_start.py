"""`tenant-backup` and `tenant-backup demo` open the window or say in one line why they cannot,
instead of Qt's abort (exit 134); the sandbox is not left running for a window that never opened."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

HEADLESS_HINT = "tenant-backup demo --headless"


def _start(args, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM") and not k.startswith("TENANT_BACKUP_")}
    base.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"),
                XDG_STATE_HOME=str(tmp_path / "state"), **env)
    return subprocess.run([sys.executable, "-m", "tenant_backup_gui", *args], capture_output=True, text=True,
                          env=base, cwd=str(ROOT), timeout=300)


def _sandbox_running(tmp_path: Path) -> bool:
    return (tmp_path / "data" / "tenant-backup" / "sandbox" / "pgdata" / "postmaster.pid").exists()


def _one_line(cp: subprocess.CompletedProcess) -> str:
    assert cp.returncode == 2, (cp.returncode, cp.stderr)
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in cp.stderr, cp.stderr
    return lines[0]


@pytest.mark.parametrize("args", [[], ["demo"]])
def test_no_display_says_to_use_the_cli_and_starts_no_sandbox(tmp_path, args):
    line = _one_line(_start(args, tmp_path))
    assert "no display" in line and HEADLESS_HINT in line
    assert not _sandbox_running(tmp_path)


def _xcb_plugin_missing_libs() -> list[str]:
    """What the loader cannot find for Qt's xcb plugin, asked of ldd (not of the code under test),
    plus libxcb-cursor, which Qt loads at run time."""
    import ctypes
    import PySide6
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    missing = sorted({ln.split()[0] for ln in out.splitlines() if "not found" in ln})
    try:
        ctypes.CDLL("libxcb-cursor.so.0")
    except OSError:
        missing.insert(0, "libxcb-cursor.so.0")
    return missing


@pytest.fixture
def xvfb():
    """A real X server without a screen: DISPLAY for the test."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed (.ci/run installs it)")
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    yield f":{number}"
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.parametrize("args", [[], ["demo"]])
def test_missing_qt_system_libraries_are_named_with_their_packages(tmp_path, xvfb, args):
    missing = _xcb_plugin_missing_libs()
    if not missing:
        pytest.skip("every library of Qt's xcb plugin is installed here")
    packages = {"libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
                "libxcb-keysyms.so.1": "libxcb-keysyms1"}
    line = _one_line(_start(args, tmp_path, DISPLAY=xvfb))
    for lib in missing:
        assert lib in line, line
        if lib in packages:
            assert packages[lib] in line and "apt-get install" in line and "dnf install" in line, line
    assert HEADLESS_HINT in line
    assert not _sandbox_running(tmp_path)


def test_a_display_that_refuses_us_is_named(tmp_path):
    if _xcb_plugin_missing_libs():
        pytest.skip("Qt's xcb libraries are missing here: that message comes first")
    line = _one_line(_start([], tmp_path, DISPLAY=":93"))
    assert "cannot open the display :93" in line and HEADLESS_HINT in line
