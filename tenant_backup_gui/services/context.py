"""What every job needs: settings, the road to the rows and the store. Built once per command or
window, so jobs never read the environment themselves — and the one place that decides between a
folder and Supabase Storage; the road (a direct PostgreSQL connection or the Supabase REST API) is
chosen once too, in services/roads.py."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.config import Config
from ..core.encryption import key_id
from ..core.errors import ConfigError, CredentialsUnavailable, TenantBackupError
from ..core.manifest import BackupInfo
from ..platform import credentials
from ..platform.settings import Settings
from ..stores.base import ObjectStore
from ..stores.folder import FolderStore
from .roads import ProjectHandle, Road, choose_road


class UnavailableStore:
    """Stands in for a store that cannot be built (a missing key): every job's prepare() lists the
    reason, and anything that reaches it anyway gets the same one line."""

    def __init__(self, problem: TenantBackupError):
        self.problem = problem

    def describe(self) -> str:
        return "Supabase Storage (not configured)"

    def problems(self) -> list[str]:
        return [str(self.problem)]

    def __getattr__(self, name: str) -> Any:
        raise self.problem


def build_store(settings: Settings) -> ObjectStore:
    if settings.store_kind != "supabase":
        return FolderStore(settings.store_path)
    from ..stores.supabase_storage import MirroredStore, SupabaseStorageStore
    try:
        url, key = settings.require_supabase()
        store = SupabaseStorageStore(url, key, settings.bucket)
    except TenantBackupError as err:
        return UnavailableStore(err)
    if settings.mirror_path is not None:
        return MirroredStore(store, FolderStore(settings.mirror_path))
    return store


@dataclass
class Context:
    settings: Settings
    store: ObjectStore
    road: Road | None = None  # chosen from the settings when not given
    _project: ProjectHandle | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _scope: Any = field(default=None, repr=False)
    # The signing key once looked up, [(key or None, why not)]: shared by this context's copies, so
    # a run over many tenants asks the keyring once.
    _signing: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self._project is None:
            self._project = ProjectHandle(self.settings)
        if self.road is None:
            self.road = choose_road(self.settings, self._project)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Context":
        """The store in Supabase Storage and the jobs share the one project client (its session
        and retry policy)."""
        store = build_store(settings)
        if isinstance(store, UnavailableStore):
            return cls(settings, store)
        primary = getattr(store, "primary", store)
        return cls(settings, store, _project=ProjectHandle(settings, getattr(primary, "project", None)))

    @property
    def config(self) -> Config:
        return self.settings.config

    @property
    def direct(self) -> bool:
        return self.settings.direct

    @property
    def url(self) -> str:
        return self.settings.require_database()

    @property
    def session(self):
        """Within a run of many tenants (`daily`), the job's one connection (the direct road's)."""
        return self.road.session

    @property
    def catalog_cache(self):
        """Within a run of many tenants, the catalog read once (the direct road's), else None."""
        return self.road.catalog_cache

    def project(self):
        """The Supabase project (REST and Storage), opened once and shared by every job of this context."""
        return self._project.get()

    def files_problem(self) -> str | None:
        """Side-effect free: why the tenant's files ([[files]] rules) cannot be reached, or None."""
        if not self.config.files:
            return None
        try:
            self.settings.require_supabase()
        except TenantBackupError as err:
            return f"[[files]] rules are set, so the Supabase project's Storage is needed on either road: {err}"
        return None

    def files(self, org_id: str, secret: bytes | None, cancelled=lambda: False):
        """The tenant's files in Storage and their copies in the store (stores/tenant_files.py), or
        None when no [[files]] rule is set. Needs the project URL and service role key even when the
        rows travel over the direct connection."""
        if not self.config.files:
            return None
        if (problem := self.files_problem()) is not None:
            raise ConfigError(problem)
        from ..stores.tenant_files import TenantFiles
        return TenantFiles(self.project(), self.store, org_id, self.config.files, secret, cancelled)

    def for_run(self) -> "Context":
        """A context for one run over many tenants: the catalog and scope are read once and
        re-checked per tenant by fingerprint (see sources/direct/catalog.CatalogCache)."""
        if self.config.files and self.files_problem() is None:
            self.project()  # opened once here, so the run's copies share it and close() ends it
        return replace(self, road=self.road.for_run(), _scope=[None, None])

    def with_session(self, session) -> "Context":
        """The same context, with every connection of a tenant job (history, lock, snapshot) on `session`."""
        return replace(self, road=self.road.with_session(session))

    def scope(self, catalog):
        """The tenant tables of `catalog`; within a run, discovered once per catalog read."""
        from ..core.scope import discover_scope
        if self._scope is None:
            return discover_scope(catalog, self.config)
        with self._lock:
            if self._scope[0] is not catalog:
                self._scope[:] = [catalog, discover_scope(catalog, self.config)]
            return self._scope[1]

    def close(self) -> None:
        self._project.close()
        close = getattr(self.store, "close", None)
        if callable(close) and not isinstance(self.store, UnavailableStore):
            close()

    # ------------------------------------------------------------ the road (services/roads.py)
    def snapshot(self):
        """One view of the tenant's rows, by this context's road."""
        return self.road.snapshot()

    def tenant_lock(self, org_id: str, wait_seconds: float | None = None):
        """The tenant's lock; once taken, what killed jobs left on the tenant is put right first."""
        from .leftovers import ReconcilingLock
        wait = self.config.lock_wait_seconds if wait_seconds is None else wait_seconds
        return ReconcilingLock(self, org_id, self.road.tenant_lock(org_id, wait))

    def restore_session(self, org_id: str, cancelled=None, snapshot: bool = False):
        """The road into the restore engine (one interface: sources/interfaces.RestoreSession)."""
        return self.road.restore_session(org_id, cancelled, snapshot=snapshot)

    def history(self):
        return self.road.history()

    def source_info(self) -> dict:
        return self.road.source_info()

    def source_name(self) -> str:
        """Where the rows come from, for the status bar and messages (never a secret)."""
        return self.road.source_name()

    def part_bytes(self) -> int:
        """Parts are cut below the store's upload limit (Supabase: the bucket's or project's)."""
        limit = getattr(self.store, "max_object_bytes", None)
        if callable(limit) and not isinstance(self.store, UnavailableStore):
            # Room for gzip's and the cipher's framing past the cut.
            return max(1 << 20, min(self.config.part_bytes, limit() - (256 << 10)))
        return self.config.part_bytes

    # ------------------------------------------------------------ encryption
    def encryption_key(self) -> bytes | None:
        """The key new backups are encrypted with, or None when encryption is off."""
        if not self.config.encrypt:
            return None
        key = credentials.backup_key()
        if key is None:
            raise ConfigError("encryption is on ([backup] encrypt = true) but there is no backup key: neither "
                              f"{credentials.KEY_ENV} nor the keyring holds one; create one with: tenant-backup "
                              "credentials new-key (and keep the copy it prints)")
        return key

    def signing_key(self) -> tuple[bytes | None, str | None]:
        """The key new backups are signed with — the backup key, created in the keyring on first use
        — or (None, why) when none is reachable: the backup is then written unsigned and says so,
        never refused for it (a nightly run without its key must still back up)."""
        with self._lock:
            if not self._signing:
                try:
                    key, _ = credentials.backup_key_or_new()
                    self._signing.append((key, None))
                except TenantBackupError as err:
                    self._signing.append((None, str(err)))
            return self._signing[0]

    def trust(self, accept_unsigned: bool = False):
        """How backups read now are judged: this installation's key (never created by reading) and
        whether the owner accepts one it did not sign (--trust-unsigned)."""
        from ..core.signing import Trust
        try:
            return Trust(credentials.backup_key(), accept_unsigned)
        except TenantBackupError as err:
            return Trust(None, accept_unsigned, str(err))

    def key_for(self, info: BackupInfo) -> bytes | None:
        """The key an encrypted backup needs, checked by its id before any byte is read."""
        if not info.key_id:
            return None
        try:
            key = credentials.backup_key()
        except CredentialsUnavailable as err:
            raise CredentialsUnavailable(f"backup {info.id} is encrypted (key {info.key_id}): {err}") from None
        if key is None or key_id(key) != info.key_id:
            have = f"the key found here is {key_id(key)}" if key else "no backup key was found here"
            raise CredentialsUnavailable(f"backup {info.id} is encrypted with key {info.key_id}; {have}: import that "
                                         f"key with: tenant-backup credentials import-key (or set "
                                         f"{credentials.KEY_ENV} to its recovery copy)")
        return key
