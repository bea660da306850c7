"""Starting the window on a qasync loop. The caller has asked platform/display.py whether the
window can open here: Qt aborts the process where it cannot."""

from __future__ import annotations

import asyncio
import sys


def run_window(demo: bool = False, on_shown=None) -> int:
    """on_shown() is called once the window is on screen (the sandbox is stopped if it never is)."""
    try:
        from PySide6.QtWidgets import QApplication
        import qasync
    except ImportError as err:
        from ..core.errors import WindowUnavailable
        from ..platform.display import HEADLESS
        raise WindowUnavailable(f"the window needs {err.name or 'PySide6'}, which is missing: reinstall with "
                                f"`pip install tenant-backup`; {HEADLESS}") from None

    from ..platform.settings import load_settings
    from ..services.context import Context
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Tenant Backup")
    app.setOrganizationName("tenant-backup")
    app.setDesktopFileName("tenant-backup")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    ctx = Context.from_settings(load_settings())
    window = MainWindow(ctx, demo=demo)
    window.show()
    if on_shown is not None:
        on_shown()
    closing = asyncio.Event()
    app.aboutToQuit.connect(closing.set)
    with loop:
        loop.run_until_complete(closing.wait())
    return 0
