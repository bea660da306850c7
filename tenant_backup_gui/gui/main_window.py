"""The main window: tenants on the left, the selected tenant's backups and the history on the right."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QMainWindow, QMenu, QSplitter, QStyle, QTableWidget,
                               QTableWidgetItem, QToolBar, QVBoxLayout, QWidget)

from ..core.errors import TenantBackupError
from ..platform.paths import resources_dir
from ..platform.settings import load_settings
from ..services import inventory
from ..services.backup import BackupJob
from ..services.context import Context
from ..services.daily import DailyJob, last_success
from ..services.inventory import VerifyJob
from .dialogs import show_error, show_history_detail
from .jobs import JobRunner
from .restore_wizard import RestoreWizard
from .settings_dialog import SettingsDialog


def _size(n: int | None) -> str:
    n = n or 0
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _local(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M") if dt else "—"


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
        self.act_restore = action("Restore…", QStyle.SP_BrowserReload, "Ctrl+R", self.restore,
                                  "Restore the selected organization from the selected backup")
        self.act_verify = action("Verify", QStyle.SP_DialogApplyButton, "Ctrl+Shift+V", self.verify,
                                 "Re-read the selected backup against its checksums")
        tb.addSeparator()
        self.act_daily = action("Run daily now", QStyle.SP_MediaPlay, "Ctrl+D", self.run_daily,
                                "Back up every active organization, then apply retention")
        self.act_refresh = action("Refresh", QStyle.SP_BrowserReload, "F5",
                                  lambda: asyncio.ensure_future(self.refresh()), "Reload tenants, backups and history")
        self.act_settings = action("Settings", QStyle.SP_FileDialogDetailedView, "Ctrl+,", lambda: self.open_settings(),
                                   "Database, backup folder and retention")

        # Tenant picker
        left = QWidget()
        lv = QVBoxLayout(left)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search organizations by name or id…")
        self.search.setAccessibleName("search organizations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter_tenants)
        self.tenant_table = Table(["", "Organization", "Last backup", "Status", "ID"], "organizations")
        self.tenant_table.itemSelectionChanged.connect(self._tenant_selected)
        lv.addWidget(self.search)
        lv.addWidget(self.tenant_table)

        # Backups of the selected tenant
        right = QSplitter(Qt.Vertical)
        bw = QWidget()
        bv = QVBoxLayout(bw)
        self.backups_title = QLabel("Backups")
        self.backups_title.setObjectName("backupsTitle")
        f = self.backups_title.font()
        f.setBold(True)
        self.backups_title.setFont(f)
        self.backup_table = Table(["Date", "Time", "Type", "Records", "Size", "State", "ID"], "backups")
        self.backup_table.setContextMenuPolicy(Qt.CustomContextMenu)
        self.backup_table.customContextMenuRequested.connect(self._backup_menu)
        self.backup_table.itemSelectionChanged.connect(self._update_actions)
        self.backup_table.doubleClicked.connect(lambda _: self.restore())
        bv.addWidget(self.backups_title)
        bv.addWidget(self.backup_table)

        # History
        hw = QWidget()
        hv = QVBoxLayout(hw)
        hbar = QHBoxLayout()
        title = QLabel("History")
        title.setFont(f)
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

        # Status bar: where we are connected, where backups go, whether setup is done
        self.st_db = QLabel()
        self.st_store = QLabel()
        self.st_setup = QLabel()
        for w in (self.st_db, self.st_store, self.st_setup):
            w.setTextInteractionFlags(Qt.TextSelectableByMouse)
            self.statusBar().addPermanentWidget(w)
        self._update_actions()

    def _restore_geometry(self) -> None:
        s = QSettings("tenant-backup", "window")
        geo = s.value("geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1200, 760)

    def closeEvent(self, event) -> None:
        QSettings("tenant-backup", "window").setValue("geometry", self.saveGeometry())
        super().closeEvent(event)

    # ------------------------------------------------------------ settings
    def _first_start(self) -> None:
        self.st_db.setText("Database: not configured — open Settings")
        self.open_settings(first_start=True)

    def open_settings(self, first_start: bool = False) -> None:
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
        self.statusBar().showMessage("Starting the demo sandbox…")
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
        if not self.ctx.settings.configured:
            self.st_db.setText("Database: not configured — open Settings (Ctrl+,)")
            return
        self.st_store.setText(f"Store: {self.ctx.store.describe()}")
        fix = "run `tenant-backup setup`" if self.ctx.direct else "run `tenant-backup setup --print-sql` in the SQL editor"
        try:
            self.st_db.setText(f"Database: {await asyncio.to_thread(self.ctx.source_name)}")
            state = await asyncio.to_thread(inventory.setup_state, self.ctx)
            self.st_setup.setText("Setup: ok" if state["current"] else
                                  f"Setup: missing — {fix}" if not state["installed"] else
                                  f"Setup: version {state['version']} is outdated — {fix}")
            self.tenants = await asyncio.to_thread(inventory.tenant_overview, self.ctx)
            stale = await asyncio.to_thread(last_success, self.ctx)
            self.banner.setText(f"⚠ {stale[0].upper()}{stale[1:]}" if stale else "")
            self.banner.setVisible(bool(stale))
        except TenantBackupError as err:
            self.st_setup.setText("Setup: unknown")
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
            status = "deleted" if t["deleted"] else (t["why"] or (t["last_status"] or "never backed up"))
            rows.append([flag, t["name"] or "(no name)", _local(t["last_ok"]), status, t["id"]])
            payloads.append(t)
        self.tenant_table.fill(rows, payloads)
        self._filter_tenants(self.search.text())
        for r, t in enumerate(payloads):
            if t["id"] == keep:
                self.tenant_table.selectRow(r)
                break
        else:
            if payloads and self.tenant_table.currentRow() < 0:
                for r in range(len(payloads)):
                    if not self.tenant_table.isRowHidden(r):
                        self.tenant_table.selectRow(r)
                        break

    def _filter_tenants(self, text: str) -> None:
        text = text.strip().lower()
        for r in range(self.tenant_table.rowCount()):
            t = self.tenant_table.item(r, 0).data(Qt.UserRole)
            hay = f"{t['name'] or ''} {t['id']}".lower()
            self.tenant_table.setRowHidden(r, bool(text) and text not in hay)

    def _tenant_selected(self) -> None:
        self._update_actions()
        asyncio.ensure_future(self.load_backups())
        asyncio.ensure_future(self.load_history())

    async def load_backups(self) -> None:
        t = self.selected_tenant()
        if not t:
            self.backup_table.setRowCount(0)
            self.backups_title.setText("Backups")
            return
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
            state = ("unverifiable (old format)" if b.legacy else "checksummed") if b.complete else f"INCOMPLETE: {b.problem}"
            rows.append([local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S"), "legacy" if b.legacy else b.type,
                         f"{b.total_records:,}", _size(b.total_size), state, b.id])
            colors.append(None if b.complete else QColor("#b00020"))
        self.backup_table.fill(rows, items, colors)
        self._update_actions()

    async def load_history(self) -> None:
        t = self.selected_tenant()
        org = t["id"] if t and self.hist_tenant.isChecked() else None
        btype = self.hist_type.currentText() if self.hist_type.currentIndex() > 0 else None
        status = self.hist_status.currentText() if self.hist_status.currentIndex() > 0 else None
        try:
            items = await asyncio.to_thread(inventory.history, self.ctx, org, 300, btype, status)
        except TenantBackupError as err:
            self.history_table.setRowCount(0)
            self.statusBar().showMessage(str(err), 10000)
            return
        rows, colors = [], []
        for h in items:
            took = (h["completed_at"] - h["started_at"]).total_seconds() if h["completed_at"] and h["started_at"] else None
            errors = h["errors"] or []
            rows.append([_local(h["started_at"]), h["backup_type"], h["status"], f"{h['records_backed_up'] or 0:,}",
                         _size(h["backup_size"]), f"{took:.1f} s" if took is not None else "—",
                         f"{h['run_by'] or ''}@{h['run_host'] or ''}", errors[0] if errors else ""])
            colors.append(QColor("#b00020") if h["status"] in ("failed", "cancelled") else
                          QColor("#b26a00") if h["status"] == "completed_with_errors" else None)
        self.history_table.fill(rows, items, colors)

    def _update_actions(self) -> None:
        has_t = self.selected_tenant() is not None
        b = self.selected_backup()
        self.act_backup.setEnabled(has_t)
        self.act_verify.setEnabled(b is not None and b.complete)
        self.act_restore.setEnabled(has_t and b is not None and b.complete)

    # ------------------------------------------------------------ actions
    def create_backup(self) -> None:
        t = self.selected_tenant()
        if not t:
            return
        self.runner.submit(t["id"], f"Backup of {t['name']}",
                           lambda on_event: BackupJob(self.ctx, t["id"], "manual", on_event=on_event))

    def verify(self) -> None:
        t, b = self.selected_tenant(), self.selected_backup()
        if not t or b is None:
            return
        self.runner.submit(t["id"], f"Verify {b.id}",
                           lambda on_event: VerifyJob(self.ctx, t["id"], b.id, on_event=on_event))

    def run_daily(self) -> None:
        self.runner.submit("daily", "Daily run", lambda on_event: DailyJob(self.ctx, on_event=on_event))

    def restore(self, backup=None) -> None:
        t, b = self.selected_tenant(), backup or self.selected_backup()
        if not t or b is None or not b.complete:
            return
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
        self.statusBar().showMessage(f"{title}: done" + (f" — {msg}" if msg else ""), 15000)
        asyncio.ensure_future(self.refresh())
