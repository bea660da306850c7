"""Starting the window on a qasync loop."""

from __future__ import annotations

import asyncio
import sys


def run_window(demo: bool = False) -> int:
    from PySide6.QtWidgets import QApplication
    import qasync

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
    closing = asyncio.Event()
    app.aboutToQuit.connect(closing.set)
    with loop:
        loop.run_until_complete(closing.wait())
    return 0
