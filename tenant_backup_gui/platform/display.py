"""Can the window open here? Asked before any QApplication exists, because Qt's answer to a
missing display or a missing system library is abort() (exit 134, a core dump), which no
Python code can catch. No Qt import here: the probe that creates a QGuiApplication runs in a
child process."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

HEADLESS = "use the CLI instead: `tenant-backup demo --headless` for the sandbox, `tenant-backup --help` for the rest"

# The system libraries Qt's X11 (xcb) platform plugin and QtGui load: soname → (Debian/Ubuntu package,
# Fedora package). PySide6's wheels bundle Qt, not these; Qt 6.5+ also dlopen()s libxcb-cursor.
QT_SYSTEM_LIBS = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
}


def missing_libraries(sonames=QT_SYSTEM_LIBS) -> list[str]:
    """The sonames the dynamic loader cannot find (the same search Qt's own loading does)."""
    missing = []
    for name in sonames:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def install_hint(missing: list[str]) -> str:
    deb = " ".join(dict.fromkeys(QT_SYSTEM_LIBS[m][0] for m in missing))
    rpm = " ".join(dict.fromkeys(QT_SYSTEM_LIBS[m][1] for m in missing))
    return f"Debian/Ubuntu: sudo apt-get install {deb}; Fedora: sudo dnf install {rpm}"


def _platform() -> str:
    """The Qt platform plugin Qt would pick: QT_QPA_PLATFORM, else wayland or xcb from the session."""
    explicit = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip()
    if explicit:
        return explicit
    if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY"):
        return "wayland"
    return "xcb"


def window_problem() -> str | None:
    """None when the window can open; else one line: why not and what to do."""
    if not sys.platform.startswith("linux"):
        return None  # macOS and Windows always have their native platform plugin
    platform = _platform()
    if platform in ("offscreen", "minimal", "vnc", "eglfs", "linuxfb"):
        return None
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return f"no display to open the window on (DISPLAY is not set); {HEADLESS}"
    if platform == "xcb":
        missing = missing_libraries()
        if missing:
            return (f"the window needs system libraries that are missing here ({', '.join(missing)}): install them "
                    f"({install_hint(missing)}), or {HEADLESS}")
    return _probe()


_PROBE = "import sys\nfrom PySide6.QtGui import QGuiApplication\nQGuiApplication(sys.argv[:1])\n"


def _probe() -> str | None:
    """Create a QGuiApplication in a child process: whatever makes Qt abort there (a display that
    refuses us, a plugin that will not load) is reported here instead of killing the app."""
    if getattr(sys, "frozen", False):
        return None  # no interpreter to run a probe with; the library check above has run
    try:
        cp = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "QT_LOGGING_RULES": "*.debug=false"})
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"the window could not be started ({type(err).__name__}); {HEADLESS}"
    if cp.returncode == 0:
        return None
    lines = [ln.strip() for ln in cp.stderr.splitlines() if ln.strip()]
    if any("could not connect to display" in ln for ln in lines):
        where = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        return f"cannot open the display {where} (is its X server running, and may this user use it?); {HEADLESS}"
    if any("No module named 'PySide6'" in ln for ln in lines):
        return f"the window needs PySide6, which is missing: reinstall with `pip install tenant-backup`; {HEADLESS}"
    reason = next((ln for ln in lines if "qt.qpa" in ln or "plugin" in ln.lower()), lines[-1] if lines else
                  f"exit status {cp.returncode}")
    return f"the window cannot start here (Qt: {reason}); {HEADLESS}"


def check_window() -> None:
    """Raise WindowUnavailable with window_problem()'s line, before anything is started for it."""
    from ..core.errors import WindowUnavailable
    problem = window_problem()
    if problem:
        raise WindowUnavailable(problem)
