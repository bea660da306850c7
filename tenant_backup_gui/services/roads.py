"""The road to the tenants' rows, chosen once per context: a direct PostgreSQL connection
(DirectRoad) or the Supabase REST API (RestRoad). Each gives the same things — a snapshot, the
tenant's lock, a restore session, the history, and where the rows come from — as the Protocols of
sources/interfaces.py, so no job asks which road it is on."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..platform.settings import Settings
from ..sources.direct.catalog import CatalogCache
from ..sources.direct.connect import Session, describe_url
from ..sources.interfaces import History, RestoreSession, Snapshot, TenantLock

if TYPE_CHECKING:  # httpx and supabase-py load only when a project is used: a direct backup never pays for them
    from ..sources.supabase_http import SupabaseProject


class ProjectHandle:
    """The Supabase project client, opened on first use and shared by the REST road, the store in
    Storage and a tenant's files (one session and retry policy). close() ends it; a later use opens
    it again."""

    def __init__(self, settings: Settings, project: "SupabaseProject | None" = None):
        self.settings = settings
        self._project = project
        self._lock = threading.Lock()

    def get(self) -> "SupabaseProject":
        with self._lock:
            if self._project is None:
                from ..sources.supabase_http import SupabaseProject
                url, key = self.settings.require_supabase()
                self._project = SupabaseProject(url, key)
            return self._project

    def close(self) -> None:
        with self._lock:
            if self._project is not None:
                self._project.close()
                self._project = None


@dataclass(frozen=True)
class DirectRoad:
    """Rows over a direct connection. Within a run of many tenants (`daily`): `session`, the job's
    one connection for history, lock and snapshot, and `catalog_cache`, the catalog read once."""

    settings: Settings
    session: Session | None = None
    catalog_cache: CatalogCache | None = None

    @property
    def url(self) -> str:
        return self.settings.require_database()

    def snapshot(self) -> Snapshot:
        """A REPEATABLE READ, READ ONLY transaction over the whole tenant (sources/direct/snapshot.py)."""
        from ..sources.direct.snapshot import Snapshot as DirectSnapshot
        return DirectSnapshot(self.url, self.settings.config, self.session, self.catalog_cache)

    def tenant_lock(self, org_id: str, wait_seconds: float) -> TenantLock:
        from ..sources.direct.lock import TenantLock as AdvisoryLock
        return AdvisoryLock(self.url, org_id, wait_seconds, self.session)

    def restore_session(self, org_id: str, cancelled=None, snapshot: bool = False) -> RestoreSession:
        """The restore engine inside one transaction of our own (sources/direct/restore.py)."""
        from ..sources.direct.restore import DirectRestore
        return DirectRestore(self.url, self.settings.config, org_id, cancelled, snapshot=snapshot)

    def history(self) -> History:
        from ..sources.direct.history import History as DirectHistory
        return DirectHistory(self.url, self.session)

    def source_info(self) -> dict:
        from ..sources.direct.setup import server_info
        return server_info(self.url)

    def source_name(self) -> str:
        """Where the rows come from, never a secret: user@host:port/db."""
        return describe_url(self.url)

    def for_run(self) -> "DirectRoad":
        """The road for one run over many tenants: the catalog is read once and re-checked per
        tenant by fingerprint (sources/direct/catalog.CatalogCache)."""
        return replace(self, catalog_cache=CatalogCache())

    def with_session(self, session: Session | None) -> "DirectRoad":
        return replace(self, session=session)


@dataclass(frozen=True)
class RestRoad:
    """Rows over the Supabase REST API, with the project's URL and service role key."""

    settings: Settings
    project: ProjectHandle = field(repr=False)
    session = None  # no connection to lend over REST
    catalog_cache = None  # each snapshot reads the catalog once (one RPC)

    def snapshot(self) -> Snapshot:
        """Keyset pages with cross-checked counts (sources/rest/snapshot.py)."""
        from ..sources.rest.snapshot import RestSnapshot
        return RestSnapshot(self.project.get(), self.settings.config)

    def tenant_lock(self, org_id: str, wait_seconds: float) -> TenantLock:
        from ..sources.rest.lock import RestTenantLock
        return RestTenantLock(self.project.get(), org_id, wait_seconds, self.settings.config.lock_lease_seconds)

    def restore_session(self, org_id: str, cancelled=None, snapshot: bool = False) -> RestoreSession:
        """The restore engine's RPCs (sources/rest/restore.py); each RPC is its own snapshot."""
        from ..sources.rest.restore import RestRestore
        url, key = self.settings.require_supabase()
        return RestRestore(self.project.get(), url, key, self.settings.config, org_id, cancelled)

    def history(self) -> History:
        from ..sources.rest.history import RestHistory
        return RestHistory(self.project.get())

    def source_info(self) -> dict:
        from ..sources.rest.setup import server_info
        return server_info(self.project.get())

    def source_name(self) -> str:
        return f"Supabase project {self.project.get().host}"

    def for_run(self) -> "RestRoad":
        """Opened here, once: the run's copies of the context share the project and close() ends it."""
        self.project.get()
        return self

    def with_session(self, session: Session | None) -> "RestRoad":
        return self


Road = DirectRoad | RestRoad


def choose_road(settings: Settings, project: ProjectHandle) -> Road:
    """The one place that decides between the roads (Settings.direct says which is configured)."""
    return DirectRoad(settings) if settings.direct else RestRoad(settings, project)
