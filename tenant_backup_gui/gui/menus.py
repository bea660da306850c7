"""The window's File and Help menus and what they open: the backup folder, the log, the README,
About and the doctor. A mixin of MainWindow (it uses the window's ctx and say())."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QLabel, QMessageBox

from .. import __version__
from ..platform.paths import log_dir, readme_path


class MenuActions:
    def _build_menus(self) -> None:
        """File and Help, with the roles and standard keys each platform expects (on macOS Qt moves
        Settings, Quit and About into the application menu)."""
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addAction(self.act_settings)
        self.act_open_folder = file.addAction("Open backup folder", self.open_backup_folder)
        self.act_open_log = file.addAction("Open log", self.open_log)
        file.addSeparator()
        self.act_quit = file.addAction("&Quit", self.close)
        self.act_quit.setShortcut(QKeySequence.Quit)
        self.act_quit.setMenuRole(QAction.QuitRole)
        help_ = bar.addMenu("&Help")
        self.act_readme = help_.addAction("README", self.open_readme)
        self.act_readme.setShortcut(QKeySequence.HelpContents)
        self.act_doctor = help_.addAction("Check this installation (doctor)…",
                                          lambda: asyncio.ensure_future(self.show_doctor()))
        help_.addSeparator()
        self.act_about = help_.addAction("&About Tenant Backup", self.show_about)
        self.act_about.setMenuRole(QAction.AboutRole)

    def backup_folder(self) -> Path | None:
        """The local folder backups go to (or are mirrored to); None for Supabase Storage alone."""
        store = self.ctx.store
        for s in (store, getattr(store, "mirror", None)):
            root = getattr(s, "root", None)
            if isinstance(root, Path):
                return root
        return None

    def _open(self, path: Path, what: str) -> None:
        if not path.exists():
            self.say(f"{what} does not exist yet: {path}")
        elif not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            self.say(f"No program here opens {path}: open it yourself")

    def open_backup_folder(self) -> None:
        folder = self.backup_folder()
        if folder is None:
            self.say("Backups go to Supabase Storage only: there is no local folder (set a mirror in Settings)")
            return
        self._open(folder, "The backup folder")

    def open_log(self) -> None:
        log = log_dir() / "daily.log"
        self._open(log if log.exists() else log_dir(), "The log (written by the daily run)")

    def open_readme(self) -> None:
        readme = readme_path()
        if readme is None:
            self.say("The README is not part of this installation")
        else:
            self._open(readme, "The README")

    def show_about(self) -> None:
        self.about_box = QMessageBox(QMessageBox.Information, "About Tenant Backup",
                                     f"<b>Tenant Backup</b> {__version__}<br><br>Per-organization backups and "
                                     f"restores for a multi-tenant Supabase/PostgreSQL app.<br><br>"
                                     f"Help: <a href='readme'>README</a> · Help → Check this installation",
                                     QMessageBox.Ok, self)
        self.about_box.setObjectName("aboutBox")
        self.about_box.setTextFormat(Qt.RichText)
        label = self.about_box.findChild(QLabel, "qt_msgbox_label")
        if label is not None:
            label.setOpenExternalLinks(False)
            label.linkActivated.connect(lambda _: self.open_readme())
        self.about_box.setModal(False)
        self.about_box.show()

    async def show_doctor(self) -> None:
        from ..services import doctor
        self.say("Checking this installation…")
        result = await asyncio.to_thread(doctor.run)
        mark = {"ok": "✔", "warn": "⚠", "fail": "✘"}
        lines = [f"{mark[c['status']]} {c['name']}: {c['message']}" + (f"\n      fix: {c['fix']}" if c["fix"] else "")
                 for c in result["checks"]]
        bad = [c for c in result["checks"] if c["status"] != "ok"]
        self.doctor_box = QMessageBox(QMessageBox.Information if result["success"] else QMessageBox.Warning,
                                      "Doctor", ("Everything checked is in order." if not bad else
                                                 f"{len(bad)} check(s) need a look.") + "\n\n" + "\n".join(lines),
                                      QMessageBox.Ok, self)
        self.doctor_box.setObjectName("doctorBox")
        self.doctor_box.setModal(False)
        self.doctor_box.show()
        self.say("Doctor: " + ("all checks passed" if not bad else f"{len(bad)} check(s) need a look"))
