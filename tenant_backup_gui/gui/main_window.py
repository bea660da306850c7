"""The main window: tenants on the left, the selected tenant's backups and the history on the right."""

from __future__ import annotations

import asyncio
import os

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QMessageBox, QSplitter, QStyle, QToolBar, QVBoxLayout, QWidget

from ..core.errors import TenantBackupError
from ..platform.paths import resources_dir
from ..platform.settings import load_settings
from ..services.context import Context
from .dialogs import ElidedLabel, show_error, show_history_detail
from . import last_job
from .jobs import JobRunner
from .wizard_watch import watch_wizard
from .menus import MenuActions
from .panels import BackupsPanel, HistoryPanel, OrganizationsPanel
from .panels.history import history_detail  # noqa: F401 - where it was, for readers of the window


def _import_the_rest() -> None:
    """The services, the wizard and the settings dialog: imported on a worker thread after the
    first paint (the database driver alone takes a few hundred milliseconds), so the window shows sooner."""
    from ..services import backup, daily, inventory  # noqa: F401
    from . import restore_wizard, settings_dialog  # noqa: F401


class MainWindow(MenuActions, QMainWindow):
    def __init__(self, ctx: Context, demo: bool = False):
        super().__init__()
        self.ctx = ctx
        self.demo = demo
        self._tickets: dict[str, int] = {}  # the newest read of each list (_ticket)
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

        # The three panels; their widgets keep the names tests and older code use.
        self.organizations = OrganizationsPanel()
        self.search, self.tenant_table = self.organizations.search, self.organizations.table
        self.tenant_table.itemSelectionChanged.connect(self._tenant_selected)
        self.backups_panel = BackupsPanel()
        self.backups_title, self.backup_table = self.backups_panel.title, self.backups_panel.table
        self.backup_table.customContextMenuRequested.connect(self._backup_menu)
        self.backup_table.itemSelectionChanged.connect(self._update_actions)
        self.backup_table.doubleClicked.connect(lambda _: self.browse())  # look inside (gui/backup_browser.py)
        self.history = HistoryPanel()
        self.hist_type, self.hist_status, self.hist_tenant = self.history.type, self.history.status, self.history.only_tenant
        self.history_table = self.history.table
        self.history.filters_changed.connect(lambda: asyncio.ensure_future(self.load_history()))
        self.history_table.doubleClicked.connect(self._history_detail)
        right = QSplitter(Qt.Vertical)
        right.addWidget(self.backups_panel)
        right.addWidget(self.history)

        split = QSplitter(Qt.Horizontal)
        split.setObjectName("mainSplit")
        split.addWidget(self.organizations)
        split.addWidget(right)
        split.setStretchFactor(0, 1)  # a narrower window takes from both sides, the right keeping more
        split.setStretchFactor(1, 3)
        split.setSizes([400, 880])  # at 1200 wide: names, last backup and status in full

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
        self.st_store = ElidedLabel()  # its own label: elided apart from the database, "Store:" stays
        self.st_store.setObjectName("store")
        self.st_store.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.st_store.setMinimumWidth(60)
        self._conn = {"db": "", "setup": ""}
        self.statusBar().addWidget(self.st_message)  # as wide as its text: a QLabel never shrinks below it
        self.statusBar().addPermanentWidget(self.st_conn, 1)  # what is left, shared
        self.statusBar().addPermanentWidget(self.st_store, 1)
        self._focus_chain(tb)
        self._update_actions()

    # ------------------------------------------------------------ status bar
    def say(self, message: str) -> None:
        """The last job's message, in full: the connection label gives way."""
        self.st_message.setText(message)

    def _set_conn(self, store: str | None = None, **parts: str) -> None:
        if store is not None:
            self.st_store.setText(store)
        self._conn.update(parts)
        self.st_conn.setText("   ".join(v for v in self._conn.values() if v))

    def _focus_chain(self, toolbar: QToolBar) -> None:
        """Tab goes pane to pane (search, organizations, backups, history and its filters, the
        toolbar), the arrows move within a table (Table turns its Tab-key navigation off)."""
        buttons = [toolbar.widgetForAction(a) for a in toolbar.actions() if not a.isSeparator()]
        for b in buttons:
            b.setFocusPolicy(Qt.TabFocus)
        chain = [self.search, self.tenant_table, self.backup_table, self.history_table, self.hist_tenant,
                 self.hist_type, self.hist_status, *[b for b in buttons if b is not None]]
        for a, b in zip(chain, chain[1:]):
            QWidget.setTabOrder(a, b)

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
        return self.organizations.selected()

    def selected_backup(self):
        return self.backups_panel.selected()

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
        self.organizations.fill(self.tenants)
        await self.load_backups()
        await self.load_history()

    def _tenant_selected(self) -> None:
        self.backups = []  # the previous organization's: never restore from them
        self._update_actions()
        asyncio.ensure_future(self.load_backups())
        asyncio.ensure_future(self.load_history())

    def _ticket(self, what: str) -> int:
        """A number for this read of `what`: reads overlap (a selection, then a job's refresh), and
        only the newest may fill the list — an older answer arriving last would show a stale list."""
        self._tickets[what] = self._tickets.get(what, 0) + 1
        return self._tickets[what]

    def _stale(self, what: str, ticket: int) -> bool:
        return self._tickets.get(what) != ticket

    async def load_backups(self) -> None:
        t = self.selected_tenant()
        ticket = self._ticket("backups")
        if not t:
            self.backups_panel.clear()
            return
        from ..services import inventory
        try:
            items = await asyncio.to_thread(inventory.backups, self.ctx, t["id"])
        except TenantBackupError as err:
            self.errors.append(show_error(self, "Cannot list backups", str(err)))
            return
        if (self.selected_tenant() or {}).get("id") != t["id"] or self._stale("backups", ticket):
            return  # the selection moved on while we were reading, or a newer read started
        self.backups = items
        self.backups_panel.fill(t, items)
        self._update_actions()

    async def load_history(self) -> None:
        t = self.selected_tenant()
        org = t["id"] if t and self.hist_tenant.isChecked() else None
        btype, status = self.history.filters()
        ticket = self._ticket("history")
        from ..services import inventory
        try:
            items = await asyncio.to_thread(inventory.history, self.ctx, org, 300, btype, status)
        except TenantBackupError as err:
            if not self._stale("history", ticket):
                self.history_table.setRowCount(0)
                self.say(str(err))
            return
        if not self._stale("history", ticket):
            self.history.fill(items, {t["id"]: t["name"] for t in self.tenants})

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

    def restore(self, backup=None, undo: bool = False) -> None:
        t, b = self.selected_tenant(), backup or self._restorable()
        if not t or b is None or not b.complete:
            return
        from .restore_wizard import RestoreWizard
        self.wizard = RestoreWizard(self.ctx, t, b, self.backups, parent=self)
        self.wizard.finished.connect(lambda _=None: asyncio.ensure_future(self.refresh()))
        self.wizard.undo_requested.connect(lambda bid: asyncio.ensure_future(self._undo(bid)))
        watch_wizard(self, self.wizard, f"{'Undo of the restore' if undo else 'Restore'} of {t['name']}")
        self.wizard.show()

    async def _undo(self, backup_id: str) -> None:
        """Undo a restore: the same wizard, on the safety backup it took."""
        await self.load_backups()
        b = next((x for x in self.backups if x.id == backup_id), None)
        if b is not None:
            self.restore(b, undo=True)

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
        self.say(last_job.failed(title, message))
        self.errors.append(show_error(self, f"{title} failed", message, detail))
        asyncio.ensure_future(self.refresh())

    def _job_succeeded(self, title: str, result) -> None:
        self.say(last_job.succeeded(title, result))
        asyncio.ensure_future(self.refresh())
