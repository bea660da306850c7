"""The main window: tenants on the left, the selected tenant's backups and the history on the right."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QColor, QDesktopServices, QIcon, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QMainWindow, QMenu, QMessageBox, QSplitter, QStyle, QTableWidget,
                               QTableWidgetItem, QToolBar, QVBoxLayout, QWidget)

from .. import __version__
from ..core import manifest as mf
from ..core.errors import TenantBackupError
from ..core.partial import state_label
from ..platform.paths import log_dir, readme_path, resources_dir
from ..platform.settings import load_settings
from ..services.context import Context
from .dialogs import ElidedLabel, show_error, show_history_detail
from .formatting import local as _local
from .formatting import num, size, title_label
from .jobs import JobRunner




def _import_the_rest() -> None:
    """The services, the wizard and the settings dialog: imported on a worker thread after the
    first paint (the database driver alone takes a few hundred milliseconds), so the window shows sooner."""
    from ..services import backup, daily, inventory  # noqa: F401
    from . import restore_wizard, settings_dialog  # noqa: F401


def history_detail(h: dict) -> str:
    """What the Detail column says of a history row: its first error, else its first warning, else
    which backups it made or used."""
    errors = h.get("errors") or []
    meta = h.get("metadata") or {}
    warnings = meta.get("warnings") or []
    more = lambda xs: f" (+{len(xs) - 1} more)" if len(xs) > 1 else ""  # noqa: E731
    if errors:
        return f"{errors[0]}{more(errors)}"
    if warnings:
        return f"warning: {warnings[0]}{more(warnings)}"
    if h.get("backup_type") == "restore" and meta.get("safety_backup_id"):
        return f"from {h.get('backup_id')}; safety backup {meta['safety_backup_id']}"
    if h.get("backup_type") == "dry_run" and h.get("backup_id"):
        mode = (meta.get("options") or {}).get("mode")
        return f"{mode + ' ' if mode else ''}from {h['backup_id']}"
    if h.get("backup_type") == "daily" and "successful_tenants" in meta:
        return f"{meta['successful_tenants']} ok, {meta.get('failed_tenants', 0)} failed"
    return f"backup {h['backup_id']}" if h.get("backup_id") else ""


class Table(QTableWidget):
    def __init__(self, headers: list[str], name: str, parent=None):
        super().__init__(0, len(headers), parent)
        self.setHorizontalHeaderLabels(headers)
        self.setObjectName(name)
        self.setAccessibleName(name)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)

    def fill(self, rows: list[list[str]], payloads: list, colors: list | None = None) -> None:
        self.setSortingEnabled(False)
        self.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, v in enumerate(values):
                item = v if isinstance(v, QTableWidgetItem) else QTableWidgetItem(str(v))
                if c == 0:
                    item.setData(Qt.UserRole, payloads[r])
                if colors and colors[r] is not None:
                    item.setForeground(colors[r])
                self.setItem(r, c, item)

    def current_payload(self):
        row = self.currentRow()
        if row < 0 or self.item(row, 0) is None:
            return None
        return self.item(row, 0).data(Qt.UserRole)


class MainWindow(QMainWindow):
    def __init__(self, ctx: Context, demo: bool = False):
        super().__init__()
        self.ctx = ctx
        self.demo = demo
        self.setWindowTitle("Tenant Backup" + (" — demo sandbox" if demo else ""))
        icon = resources_dir() / "icons" / "tenant-backup.svg"
        if icon.exists():
            self.setWindowIcon(QIcon(str(icon)))
        self.tenants: list[dict] = []
        self.backups: list = []
        self._build()
        self._restore_geometry()
        self.errors: list = []  # open error dialogs (tests read them)
        self.close_question: QMessageBox | None = None
        self._close_decided = False
        QTimer.singleShot(0, self._first_start if not ctx.settings.configured else
                          (lambda: asyncio.ensure_future(self.refresh())))

    # ------------------------------------------------------------ layout
    def _build(self) -> None:
        st = self.style()
        tb = QToolBar("Actions")
        tb.setObjectName("actions")
        tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.addToolBar(tb)

        def action(text, icon, shortcut, slot, tip):
            a = QAction(st.standardIcon(icon), text, self)
            a.setShortcut(QKeySequence(shortcut))
            a.setToolTip(f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.NativeText)})")
            a.triggered.connect(slot)
            tb.addAction(a)
            return a

        self.act_backup = action("Create Manual Backup", QStyle.SP_DialogSaveButton, "Ctrl+B", self.create_backup,
                                 "Back up the selected organization now")
        self.act_restore = action("Restore…", QStyle.SP_BrowserReload, "Ctrl+R", lambda: self.restore(),
                                  "Restore the selected organization from a backup (the selected one, else "
                                  "the newest complete one)")
        self.act_verify = action("Verify", QStyle.SP_DialogApplyButton, "Ctrl+Shift+V", self.verify,
                                 "Re-read the selected backup against its checksums")
        tb.addSeparator()
        self.act_daily = action("Run daily now", QStyle.SP_MediaPlay, "Ctrl+D", self.run_daily,
                                "Back up every active organization, then apply retention")
        self.act_refresh = action("Refresh", QStyle.SP_BrowserReload, "F5",
                                  lambda: asyncio.ensure_future(self.refresh()), "Reload tenants, backups and history")
        self.act_settings = action("Settings", QStyle.SP_FileDialogDetailedView, "Ctrl+,", lambda: self.open_settings(),
                                   "Database, backup folder and retention")
        self.act_settings.setMenuRole(QAction.PreferencesRole)
        self._build_menus()

        # Tenant picker
        left = QWidget()
        lv = QVBoxLayout(left)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search organizations by name or id…")
        self.search.setAccessibleName("search organizations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter_tenants)
        self.tenant_table = Table(["", "Organization", "Last backup", "Status", "ID"], "organizations")
        self.tenant_table.setColumnHidden(4, True)  # searchable, and in the name's tooltip: not worth the width
        self.tenant_table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.tenant_table.horizontalHeader().setStretchLastSection(False)
        self.tenant_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        self.tenant_table.itemSelectionChanged.connect(self._tenant_selected)
        lv.addWidget(self.search)
        lv.addWidget(self.tenant_table)

        # Backups of the selected tenant
        right = QSplitter(Qt.Vertical)
        bw = QWidget()
        bv = QVBoxLayout(bw)
        self.backups_title = title_label("Backups")
        self.backups_title.setObjectName("backupsTitle")
        self.backup_table = Table(["Date", "Time", "Type", "Records", "Size", "State", "ID"], "backups")
        self.backup_table.setContextMenuPolicy(Qt.CustomContextMenu)
        self.backup_table.customContextMenuRequested.connect(self._backup_menu)
        self.backup_table.itemSelectionChanged.connect(self._update_actions)
        self.backup_table.doubleClicked.connect(lambda _: self.browse())  # look inside (gui/backup_browser.py)
        bv.addWidget(self.backups_title)
        bv.addWidget(self.backup_table)

        # History
        hw = QWidget()
        hv = QVBoxLayout(hw)
        hbar = QHBoxLayout()
        title = title_label("History")
        self.hist_type = QComboBox()
        self.hist_type.setAccessibleName("history type filter")
        self.hist_type.addItems(["all types", "manual", "daily_tenant", "daily", "safety", "restore", "dry_run", "cleanup"])
        self.hist_status = QComboBox()
        self.hist_status.setAccessibleName("history status filter")
        self.hist_status.addItems(["any status", "completed", "completed_with_errors", "failed", "cancelled", "in_progress"])
        self.hist_tenant = QCheckBox("only this organization")
        self.hist_tenant.setChecked(True)
        for w in (self.hist_type, self.hist_status):
            w.currentIndexChanged.connect(lambda _=None: asyncio.ensure_future(self.load_history()))
        self.hist_tenant.toggled.connect(lambda _=None: asyncio.ensure_future(self.load_history()))
        hbar.addWidget(title)
        hbar.addStretch(1)
        hbar.addWidget(self.hist_tenant)
        hbar.addWidget(self.hist_type)
        hbar.addWidget(self.hist_status)
        self.history_table = Table(["Started", "Type", "Status", "Records", "Size", "Duration", "Who", "Detail"], "history")
        self.history_table.doubleClicked.connect(self._history_detail)
        hv.addLayout(hbar)
        hv.addWidget(self.history_table)
        right.addWidget(bw)
        right.addWidget(hw)

        split = QSplitter(Qt.Horizontal)
        split.setObjectName("mainSplit")
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 2)
        split.setSizes([440, 840])

        # Jobs panel under everything
        central = QWidget()
        cv = QVBoxLayout(central)
        cv.setContentsMargins(4, 4, 4, 4)
        self.banner = QLabel()
        self.banner.setObjectName("staleBanner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #fff4e5; color: #663c00; border: 1px solid #ffb74d; padding: 6px;")
        self.banner.setVisible(False)
        cv.addWidget(self.banner)
        cv.addWidget(split, 1)
        self.jobs_box = QWidget()
        self.jobs_layout = QVBoxLayout(self.jobs_box)
        self.jobs_layout.setContentsMargins(0, 0, 0, 0)
        cv.addWidget(self.jobs_box)
        self.setCentralWidget(central)
        self.runner = JobRunner(self.jobs_layout, self)
        self.runner.failed.connect(self._job_failed)
        self.runner.succeeded.connect(self._job_succeeded)

        # Status bar: the last job's message in full on the left; where we are connected, where
        # backups go and whether setup is done on the right, elided to what is left (full in its tooltip).
        self.st_message = QLabel()
        self.st_message.setObjectName("statusMessage")
        self.st_message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.st_conn = ElidedLabel()
        self.st_conn.setObjectName("connection")
        self.st_conn.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.st_conn.setMinimumWidth(60)
        self._conn = {"db": "", "store": "", "setup": ""}
        self.statusBar().addWidget(self.st_message)  # as wide as its text: a QLabel never shrinks below it
        self.statusBar().addPermanentWidget(self.st_conn, 1)  # what is left
        self._update_actions()

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

    # ------------------------------------------------------------ status bar
    def say(self, message: str) -> None:
        """The last job's message, in full: the connection label gives way."""
        self.st_message.setText(message)

    def _set_conn(self, **parts: str) -> None:
        self._conn.update(parts)
        self.st_conn.setText("   ".join(v for v in self._conn.values() if v))

    def _restore_geometry(self) -> None:
        s = QSettings("tenant-backup", "window")
        geo = s.value("geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1200, 760)

    def closeEvent(self, event) -> None:
        if self.demo and not self._close_decided:
            event.ignore()  # ask first; the answer closes the window
            self._ask_stop_sandbox()
            return
        QSettings("tenant-backup", "window").setValue("geometry", self.saveGeometry())
        super().closeEvent(event)

    def _ask_stop_sandbox(self) -> None:
        if self.close_question is not None and self.close_question.isVisible():
            return
        box = QMessageBox(QMessageBox.Question, "Stop the demo sandbox?", "Stop the demo sandbox?",
                          QMessageBox.NoButton, self)
        box.setInformativeText("Its database is still running on this machine. Stopping keeps its data and "
                               "backups; `tenant-backup demo` starts it again.")
        box.setObjectName("stopSandboxQuestion")
        stop = box.addButton("Stop the sandbox", QMessageBox.AcceptRole)
        keep = box.addButton("Keep it running", QMessageBox.DestructiveRole)
        cancel = box.addButton(QMessageBox.Cancel)
        box.setDefaultButton(stop)
        box.setEscapeButton(cancel)

        def answered(button) -> None:
            if button is stop:
                asyncio.ensure_future(self._stop_sandbox_and_close())
            elif button is keep:
                self._close_decided = True
                self.close()
        box.buttonClicked.connect(answered)
        self.close_question = box
        box.open()

    async def _stop_sandbox_and_close(self) -> None:
        from ..services import demo
        self.say("Stopping the demo sandbox…")
        await asyncio.to_thread(demo.stop)
        self._close_decided = True
        self.close()

    # ------------------------------------------------------------ settings
    def _first_start(self) -> None:
        self._set_conn(db="Database: not configured — open Settings")
        self.open_settings(first_start=True)

    def open_settings(self, first_start: bool = False) -> None:
        from .settings_dialog import SettingsDialog
        self.settings_dialog = SettingsDialog(self.ctx.settings, first_start, parent=self)
        self.settings_dialog.saved.connect(self._reload_settings)
        self.settings_dialog.demo_requested.connect(lambda: asyncio.ensure_future(self.open_demo()))
        self.settings_dialog.show()

    def _reload_settings(self) -> None:
        self.ctx = Context.from_settings(load_settings())
        asyncio.ensure_future(self.refresh())

    async def open_demo(self) -> None:
        """Start the sandbox (a real PostgreSQL on this machine) and look at it."""
        from ..services import demo
        self.say("Starting the demo sandbox…")
        try:
            box = await asyncio.to_thread(demo.start)
        except TenantBackupError as err:
            self.errors.append(show_error(self, "The demo did not start", str(err)))
            return
        os.environ["TENANT_BACKUP_DATABASE_URL"] = box.url
        os.environ["TENANT_BACKUP_STORE"] = str(box.store)
        self.demo = True
        self.setWindowTitle("Tenant Backup — demo sandbox")
        self._reload_settings()

    # ------------------------------------------------------------ data
    def selected_tenant(self) -> dict | None:
        return self.tenant_table.current_payload()

    def selected_backup(self):
        return self.backup_table.current_payload()

    async def refresh(self) -> None:
        await asyncio.to_thread(_import_the_rest)
        from ..services import inventory
        from ..services.daily import last_success
        if not self.ctx.settings.configured:
            self._set_conn(db="Database: not configured — open Settings (Ctrl+,)")
            return
        self._set_conn(store=f"Store: {self.ctx.store.describe()}")
        fix = "run `tenant-backup setup`" if self.ctx.direct else "run `tenant-backup setup --print-sql` in the SQL editor"
        try:
            self._set_conn(db=f"Database: {await asyncio.to_thread(self.ctx.source_name)}")
            state = await asyncio.to_thread(inventory.setup_state, self.ctx)
            self._set_conn(setup="Setup: ok" if state["current"] else
                           f"Setup: missing — {fix}" if not state["installed"] else
                           f"Setup: version {state['version']} is outdated — {fix}")
            self.tenants = await asyncio.to_thread(inventory.tenant_overview, self.ctx)
            stale = await asyncio.to_thread(last_success, self.ctx)
            self.banner.setText(f"⚠ {stale[0].upper()}{stale[1:]}" if stale else "")
            self.banner.setVisible(bool(stale))
        except TenantBackupError as err:
            self._set_conn(setup="Setup: unknown")
            self.errors.append(show_error(self, "Cannot load organizations", str(err)))
            return
        self._fill_tenants()
        await self.load_backups()
        await self.load_history()

    def _fill_tenants(self) -> None:
        keep = (self.selected_tenant() or {}).get("id")
        warn = self.style().standardIcon(QStyle.SP_MessageBoxWarning)
        rows, payloads = [], []
        for t in self.tenants:
            flag = QTableWidgetItem()
            if t["attention"]:
                flag.setIcon(warn)
                flag.setToolTip(t["why"])
                flag.setData(Qt.AccessibleTextRole, t["why"])
            name = QTableWidgetItem(t["name"] or "(no name)")
            name.setToolTip(t["id"])
            status = QTableWidgetItem(t["status"])
            status.setToolTip(t["why"] or t["status"])
            rows.append([flag, name, _local(t["last_ok"]), status, t["id"]])
            payloads.append(t)
        self.tenant_table.fill(rows, payloads, [QColor("#777777") if t["deleted"] else None for t in payloads])
        self._filter_tenants(self.search.text())
        for r, t in enumerate(payloads):
            if t["id"] == keep:
                self.tenant_table.selectRow(r)
                break
        else:
            if payloads and self.tenant_table.currentRow() < 0:
                self._select_first_to_look_at(payloads)

    def _select_first_to_look_at(self, payloads: list[dict]) -> None:
        """The first active organization needing attention (failed or stale), else the first active one."""
        visible = [r for r in range(len(payloads)) if not self.tenant_table.isRowHidden(r)]
        for wanted in (lambda t: t["attention"] and not t["deleted"], lambda t: not t["deleted"], lambda t: True):
            row = next((r for r in visible if wanted(payloads[r])), None)
            if row is not None:
                self.tenant_table.selectRow(row)
                return

    def _filter_tenants(self, text: str) -> None:
        text = text.strip().lower()
        for r in range(self.tenant_table.rowCount()):
            t = self.tenant_table.item(r, 0).data(Qt.UserRole)
            hay = f"{t['name'] or ''} {t['id']}".lower()
            self.tenant_table.setRowHidden(r, bool(text) and text not in hay)

    def _tenant_selected(self) -> None:
        self.backups = []  # the previous organization's: never restore from them
        self._update_actions()
        asyncio.ensure_future(self.load_backups())
        asyncio.ensure_future(self.load_history())

    async def load_backups(self) -> None:
        t = self.selected_tenant()
        if not t:
            self.backup_table.setRowCount(0)
            self.backups_title.setText("Backups")
            return
        from ..services import inventory
        try:
            items = await asyncio.to_thread(inventory.backups, self.ctx, t["id"])
        except TenantBackupError as err:
            self.errors.append(show_error(self, "Cannot list backups", str(err)))
            return
        if (self.selected_tenant() or {}).get("id") != t["id"]:
            return  # the selection moved on while we were reading
        self.backups = items
        self.backups_title.setText(f"Backups of {t['name']} ({len(items)})")
        rows, colors = [], []
        for b in items:
            local = b.created_at.astimezone()
            state = QTableWidgetItem(state_label(b.complete, b.legacy, b.partial, b.problem))
            if b.partial:
                state.setToolTip("\n".join(b.partial_reasons))
            rows.append([local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S"), "legacy" if b.legacy else b.type,
                         num(b.total_records), size(b.total_size), state, b.id])
            colors.append(QColor("#b00020") if not b.complete else QColor("#b26a00") if b.partial else None)
        self.backup_table.fill(rows, items, colors)
        for r in range(len(items)):
            for c in (3, 4):
                self.backup_table.item(r, c).setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self._update_actions()

    async def load_history(self) -> None:
        t = self.selected_tenant()
        org = t["id"] if t and self.hist_tenant.isChecked() else None
        btype = self.hist_type.currentText() if self.hist_type.currentIndex() > 0 else None
        status = self.hist_status.currentText() if self.hist_status.currentIndex() > 0 else None
        from ..services import inventory
        try:
            items = await asyncio.to_thread(inventory.history, self.ctx, org, 300, btype, status)
        except TenantBackupError as err:
            self.history_table.setRowCount(0)
            self.say(str(err))
            return
        rows, colors = [], []
        for h in items:
            took = (h["completed_at"] - h["started_at"]).total_seconds() if h["completed_at"] and h["started_at"] else None
            sized = mf.history_size(h)
            detail = QTableWidgetItem(history_detail(h))
            detail.setToolTip(detail.text())
            rows.append([_local(h["started_at"]), h["backup_type"], h["status"], num(h["records_backed_up"]),
                         size(sized) if sized else "", f"{took:.1f} s" if took is not None else "—",
                         f"{h['run_by'] or ''}@{h['run_host'] or ''}", detail])
            colors.append(QColor("#b00020") if h["status"] in ("failed", "cancelled") else
                          QColor("#b26a00") if h["status"] == "completed_with_errors" else None)
        self.history_table.fill(rows, items, colors)
        for r in range(len(items)):
            for c in (3, 4, 5):
                self.history_table.item(r, c).setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)

    def _update_actions(self) -> None:
        has_t = self.selected_tenant() is not None
        b = self.selected_backup()
        self.act_backup.setEnabled(has_t)
        self.act_verify.setEnabled(b is not None and b.complete)
        self.act_restore.setEnabled(has_t and self._restorable() is not None)

    def _restorable(self):
        """The backup Restore… starts from: the selected one, else the newest complete one."""
        b = self.selected_backup()
        if b is not None and b.complete:
            return b
        return next((x for x in self.backups if x.complete), None)

    # ------------------------------------------------------------ actions
    def create_backup(self) -> None:
        t = self.selected_tenant()
        if not t:
            return
        from ..services.backup import BackupJob
        self.runner.submit(t["id"], f"Backup of {t['name']}",
                           lambda on_event: BackupJob(self.ctx, t["id"], "manual", on_event=on_event))

    def verify(self) -> None:
        t, b = self.selected_tenant(), self.selected_backup()
        if not t or b is None:
            return
        from ..services.inventory import VerifyJob
        self.runner.submit(t["id"], f"Verify {b.id}",
                           lambda on_event: VerifyJob(self.ctx, t["id"], b.id, on_event=on_event))

    def run_daily(self) -> None:
        from ..services.daily import DailyJob
        self.runner.submit("daily", "Daily run", lambda on_event: DailyJob(self.ctx, on_event=on_event))

    def restore(self, backup=None) -> None:
        t, b = self.selected_tenant(), backup or self._restorable()
        if not t or b is None or not b.complete:
            return
        from .restore_wizard import RestoreWizard
        self.wizard = RestoreWizard(self.ctx, t, b, self.backups, parent=self)
        self.wizard.finished.connect(lambda _=None: asyncio.ensure_future(self.refresh()))
        self.wizard.undo_requested.connect(lambda bid: asyncio.ensure_future(self._undo(bid)))
        self.wizard.show()

    async def _undo(self, backup_id: str) -> None:
        """Undo a restore: the same wizard, on the safety backup it took."""
        await self.load_backups()
        b = next((x for x in self.backups if x.id == backup_id), None)
        if b is not None:
            self.restore(b)

    def browse(self, backup=None) -> None:
        t, b = self.selected_tenant(), backup or self.selected_backup()
        if t and b is not None and b.complete:
            from .backup_browser import BackupBrowser
            self.browser = BackupBrowser(self.ctx, t, b, self.backups, parent=self)
            self.browser.show()

    def _backup_menu(self, pos) -> None:
        b = self.selected_backup()
        if b is None:
            return
        menu = QMenu(self)
        menu.addAction(self.act_verify)
        menu.addAction(self.act_restore)
        menu.exec(self.backup_table.viewport().mapToGlobal(pos))

    def _history_detail(self, index) -> None:
        row = self.history_table.item(index.row(), 0).data(Qt.UserRole)
        self.errors.append(show_history_detail(self, row))

    def _job_failed(self, title: str, message: str, detail: str) -> None:
        self.errors.append(show_error(self, f"{title} failed", message, detail))
        asyncio.ensure_future(self.refresh())

    def _job_succeeded(self, title: str, result) -> None:
        msg = result.get("message") if isinstance(result, dict) else getattr(result, "id", "")
        self.say(f"{title}: done" + (f" — {msg}" if msg else ""))
        asyncio.ensure_future(self.refresh())

    # ------------------------------------------------------------ menus
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
