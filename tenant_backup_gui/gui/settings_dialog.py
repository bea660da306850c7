"""Settings: where the rows are (a database URL, or a Supabase project URL and its service role
key), where backups go (a folder, or Supabase Storage with an optional local mirror), how long they
stay. The password and the key go to the OS keyring, never to the config file; a first start with
nothing configured opens this, with a way into the demo sandbox."""

from __future__ import annotations

import asyncio
import os

from PySide6.QtCore import QTime, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QTimeEdit, QVBoxLayout, QWidget)
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..core.errors import TenantBackupError
from ..platform.settings import Settings, save_settings
from ..sources.direct.connect import connect, describe_url


def split_url(url: str | None) -> tuple[str, str]:
    """(URL without its password, password) — the dialog shows the first and masks the second."""
    if not url:
        return "", ""
    try:
        parts = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - show what we have
        return url, ""
    password = parts.pop("password", "") or ""
    return make_conninfo(**parts) if "://" not in url else _url_without_password(url), password


def _url_without_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    if "@" in rest.split("/", 1)[0]:
        creds, host = rest.split("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url


def join_url(url: str, password: str) -> str:
    url = url.strip()
    if not password:
        return url
    return make_conninfo(url, password=password)


SOURCE_WORDS = {"environment": "TENANT_BACKUP_DATABASE_URL", "config": "the config file", "keyring": "the OS keyring"}


def value_sources(settings: Settings) -> list[str]:
    """Where each value in effect comes from: the environment wins over the config file and the
    keyring, so a value typed here may change nothing (issue 24: the demo's URL was in the environment)."""
    env = os.environ
    config = str(settings.config_path) if settings.config_path else "the config file"
    url = {"environment": "the environment (TENANT_BACKUP_DATABASE_URL), which wins over this dialog",
           "config": config, "keyring": "the OS keyring"}.get(settings.url_source or "", "not set")
    lines = [f"Database URL: {url}"]
    if settings.supabase_url:
        lines.append("Supabase project: " + ("the environment (SUPABASE_URL)" if env.get("SUPABASE_URL") else config)
                     + "; key: " + ("the environment (SUPABASE_SERVICE_ROLE_KEY)" if env.get("SUPABASE_SERVICE_ROLE_KEY")
                                    else "the OS keyring" if settings.supabase_key else "not set"))
    store = env.get("TENANT_BACKUP_STORE")
    lines.append("Backups: " + (f"the environment (TENANT_BACKUP_STORE={store}), which wins over this dialog" if store
                                else config if settings.config_path and settings.config.store else "the default folder"))
    return lines


class SettingsDialog(QDialog):
    demo_requested = Signal()
    saved = Signal()

    def __init__(self, settings: Settings, first_start: bool = False, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Tenant Backup — Settings" if not first_start else "Welcome to Tenant Backup")
        self.setObjectName("settingsDialog")
        lay = QVBoxLayout(self)
        if first_start:
            intro = QLabel("Nothing is configured yet. Connect to your app's database, or try the demo sandbox "
                           "first: a real PostgreSQL with four demo organizations, on this machine only.")
            intro.setWordWrap(True)
            lay.addWidget(intro)
        form = QFormLayout()
        url, password = split_url(settings.database_url)
        from_env = settings.url_source == "environment"
        self.url = QLineEdit(url)
        self.url.setPlaceholderText("postgresql://postgres@db.<project>.supabase.co:5432/postgres")
        self.url.setAccessibleName("database URL without the password")
        self.password = QLineEdit("" if from_env else password)
        self.password.setEchoMode(QLineEdit.Password)
        self.password.setAccessibleName("database password")
        self.password.setPlaceholderText("stored in the OS keyring")
        if from_env:  # what is in effect, shown; saving here would change nothing while the variable is set
            self.url.setReadOnly(True)
            self.password.setReadOnly(True)
            self.password.setPlaceholderText("in TENANT_BACKUP_DATABASE_URL")
        self.supabase_url = QLineEdit(settings.supabase_url or "")
        self.supabase_url.setPlaceholderText("https://<project>.supabase.co (instead of, or with, the database URL)")
        self.supabase_url.setAccessibleName("Supabase project URL")
        self.supabase_key = QLineEdit()
        self.supabase_key.setEchoMode(QLineEdit.Password)
        self.supabase_key.setAccessibleName("Supabase service role key")
        self.supabase_key.setPlaceholderText("service_role key, stored in the OS keyring" +
                                             (" (one is saved)" if settings.supabase_key else ""))
        self.store_kind = QComboBox()
        self.store_kind.addItem("a folder on this computer", "folder")
        self.store_kind.addItem(f"Supabase Storage (private bucket '{settings.bucket}')", "supabase")
        self.store_kind.setCurrentIndex(1 if settings.store_kind == "supabase" else 0)
        self.store_kind.setAccessibleName("where backups are kept")
        self.store = QLineEdit(str(settings.store_path))
        self.store.setAccessibleName("backup folder")
        store_row = self._folder_row(self.store, "Backup folder")
        self.mirror = QLineEdit(str(settings.mirror_path or ""))
        self.mirror.setPlaceholderText("optional: a local folder that keeps a second copy (3-2-1)")
        self.mirror.setAccessibleName("mirror folder for Supabase Storage backups")
        mirror_row = self._folder_row(self.mirror, "Mirror folder")
        self.store_kind.currentIndexChanged.connect(self._store_kind_changed)
        self.days = QSpinBox()
        self.days.setRange(1, 3650)
        self.days.setValue(settings.config.retention.days)
        self.days.setSuffix(" days")
        self.days.setAccessibleName("retention in days")
        self.at = QTimeEdit(QTime(2, 0))
        self.at.setDisplayFormat("HH:mm 'UTC'")
        self.at.setAccessibleName("daily run time in UTC")
        self.schedule_state = QLabel("…")
        self.schedule_state.setObjectName("scheduleState")
        self.schedule_state.setWordWrap(True)
        self.install_button = QPushButton("Install")
        self.install_button.setAccessibleName("install the daily run")
        self.install_button.clicked.connect(lambda: asyncio.ensure_future(self.change_schedule(True)))
        self.remove_button = QPushButton("Remove")
        self.remove_button.setAccessibleName("remove the daily run")
        self.remove_button.clicked.connect(lambda: asyncio.ensure_future(self.change_schedule(False)))
        sched = QHBoxLayout()
        sched.setContentsMargins(0, 0, 0, 0)
        sched.addWidget(self.at)
        sched.addWidget(self.install_button)
        sched.addWidget(self.remove_button)
        sched.addWidget(self.schedule_state, 1)
        sched_row = QWidget()
        sched_row.setLayout(sched)
        form.addRow("Database URL", self.url)
        form.addRow("Password", self.password)
        form.addRow("Supabase project URL", self.supabase_url)
        form.addRow("Service role key", self.supabase_key)
        form.addRow("Keep backups in", self.store_kind)
        form.addRow("Backup folder", store_row)
        form.addRow("Mirror folder", mirror_row)
        form.addRow("Keep backups for", self.days)
        form.addRow("Daily run", sched_row)
        lay.addLayout(form)
        self.sources = QLabel("\n".join(value_sources(settings)))
        self.sources.setObjectName("settingsSources")
        self.sources.setWordWrap(True)
        self.sources.setStyleSheet("color: #555555")
        lay.addWidget(self.sources)
        self.status = QLabel("\n".join(settings.notes))
        self.status.setWordWrap(True)
        self.status.setObjectName("settingsStatus")
        lay.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        self.test_button = buttons.addButton("Test connection", QDialogButtonBox.ActionRole)
        self.test_button.clicked.connect(lambda: asyncio.ensure_future(self.test_connection()))
        self.demo_button = buttons.addButton("Try the demo", QDialogButtonBox.ActionRole)
        self.demo_button.clicked.connect(self._demo)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        lay.addWidget(buttons)
        self.resize(760, 420)
        self.settings = settings
        self._store_kind_changed()
        asyncio.ensure_future(self.show_schedule())

    def _folder_row(self, edit: QLineEdit, title: str) -> QWidget:
        browse = QPushButton("Browse…")
        browse.setAccessibleName(f"browse for the {title.lower()}")
        browse.clicked.connect(lambda: self._browse(edit, title))
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        row.addWidget(browse)
        w = QWidget()
        w.setLayout(row)
        return w

    def _store_kind_changed(self) -> None:
        supabase = self.store_kind.currentData() == "supabase"
        self.store.setEnabled(not supabase)
        self.mirror.setEnabled(supabase)

    def _context(self):
        from ..services.context import Context
        return Context.from_settings(self.settings)

    def _show(self, st: dict) -> None:
        if st.get("installed"):
            text = f"installed ({st['backend']}), next run {st['next_run']}"
        else:
            text = f"not installed ({st.get('backend', '?')})"
        last = st.get("last_result")
        if last:
            text += f"; last run {last['status']}"
        warnings = st.get("warnings") or []
        self.schedule_state.setText(text + ("\n" + warnings[0] if warnings else ""))
        self.remove_button.setEnabled(bool(st.get("installed")))

    async def show_schedule(self) -> None:
        from ..services import schedule
        try:
            self._show(await asyncio.to_thread(schedule.status, self._context()))
        except TenantBackupError as err:
            self.schedule_state.setText(str(err))
            self.install_button.setEnabled(False)
            self.remove_button.setEnabled(False)

    async def change_schedule(self, install: bool) -> None:
        from ..services import schedule
        ctx = self._context()
        try:
            if install:
                st = await asyncio.to_thread(schedule.install, ctx, self.at.time().toString("HH:mm"))
            else:
                st = await asyncio.to_thread(schedule.remove, ctx)
        except TenantBackupError as err:
            self.schedule_state.setText(str(err))
            return
        self._show(st)

    def _browse(self, edit: QLineEdit, title: str) -> None:
        d = QFileDialog.getExistingDirectory(self, title, edit.text())
        if d:
            edit.setText(d)

    def _demo(self) -> None:
        self.demo_requested.emit()
        self.accept()

    def full_url(self) -> str:
        return join_url(self.url.text(), self.password.text())

    def url_in_effect(self) -> tuple[str, str]:
        """(URL, where from): the environment wins over the dialog; else what is typed, else what is saved."""
        if self.settings.url_source == "environment":
            return self.settings.database_url or "", "TENANT_BACKUP_DATABASE_URL"
        typed = self.full_url()
        if typed:
            return typed, ""
        return self.settings.database_url or "", SOURCE_WORDS.get(self.settings.url_source, "")

    async def test_connection(self) -> bool:
        url, where = self.url_in_effect()
        if not url and self.supabase_url.text().strip():
            return await self.test_supabase()
        if not url:
            self.status.setText("Enter the database URL (or the Supabase project URL and key) first.")
            return False
        self.status.setText("Connecting…")

        def probe():
            with connect(url, autocommit=True) as conn:
                return conn.info.server_version
        try:
            version = await asyncio.to_thread(probe)
        except TenantBackupError as err:
            self.status.setText(str(err))
            return False
        self.status.setText(f"Connected: PostgreSQL {version // 10000}.{version % 10000} at {describe_url(url)}"
                            + (f" (the URL in {where})" if where else ""))
        return True

    async def test_supabase(self) -> bool:
        """The key must be the service role's and the project must answer to it."""
        from ..sources.supabase_http import SupabaseProject
        key = self.supabase_key.text().strip() or self.settings.supabase_key or ""
        self.status.setText("Asking the Supabase project…")

        def probe():
            with SupabaseProject(self.supabase_url.text().strip(), key) as project:
                project.check()
                return project.host
        try:
            host = await asyncio.to_thread(probe)
        except TenantBackupError as err:
            self.status.setText(str(err))
            return False
        self.status.setText(f"Connected: Supabase project {host} with its service role key")
        return True

    def save(self) -> None:
        kind = self.store_kind.currentData()
        try:
            from_env = self.settings.url_source == "environment"  # shown read-only, never saved over the keyring's
            save_settings(database_url=None if from_env else self.full_url() or None, store=self.store.text().strip() or None,
                          retention_days=self.days.value(), supabase_url=self.supabase_url.text().strip(),
                          supabase_key=self.supabase_key.text().strip() or None, store_kind=kind,
                          mirror=self.mirror.text().strip() if kind == "supabase" else None)
        except TenantBackupError as err:
            self.status.setText(str(err))
            return
        self.saved.emit()
        self.accept()
