"""A tenant's rows over the Supabase REST API (PostgREST), with the project URL and the service
role key — the way most owners connect. The same interface as the direct road's Snapshot (sources/interfaces.py), so the jobs do not
care which path the rows took, and the same bytes: a page of rows is built by an installed SQL
function (resources/sql/supabase.sql) with the row JSON of resources/sql/rows.sql — the one
definition the direct export and the restore use too — and travels as `text/plain`, so nothing
re-encodes it.

What REST cannot give, and what stands in for it: no single snapshot across requests (each table's
row count is read before and after its export and must agree with the rows read), no session lock
(a lease row, renewed while the run works), no cap-free responses (PostgREST's max-rows truncates
silently, so tables are read by keyset pages until a page comes back empty)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from typing import Callable

from ...core.config import Config
from ...core.errors import Cancelled, TenantBackupError
from ...core.scope import Catalog, TableScope
from ..shared import EXPORT_VERSION, Tenant
from ..supabase_http import SETUP_HINT, SetupMissing, SupabaseProject
from .catalog import embedded_filter, read_catalog, rows_args, table_query
from .tenants import get_tenant


class RestSnapshot:
    """One backup's view of a Supabase project: the Snapshot protocol (sources/interfaces.py) over REST."""

    lendable = False  # no snapshot to share: a lent connection of `daily`'s pool cannot join as a lane

    def __init__(self, project: SupabaseProject, config: Config, page_rows: int = 5000):
        self.project = project
        self.config = config
        self.page_rows = page_rows
        self.catalog: Catalog | None = None
        self.server_version: int | None = None
        self.helpers_version: str | None = None
        self._pending: Future | None = None
        self._cancelled = threading.Event()
        self._workers: list[RestSnapshot] = []

    def __enter__(self) -> "RestSnapshot":
        info = self.project.check()
        self.server_version = info.get("server_version")
        self.helpers_version = info.get("supabase_version")
        self.catalog = read_catalog(self.project, self.config.schemas)
        return self

    def __exit__(self, *exc) -> None:
        self.cancel_pending()

    def lock_tables(self, scopes: list[TableScope]) -> None:
        """Nothing to hold over REST (no session spans the requests); the per-table counts before
        and after each export catch a table that changed instead."""

    def prepare_export(self, scopes: list[TableScope], org_id: str) -> None:
        """Nothing to prepare over REST: each page's request names its table's rows itself."""

    def tenant(self, org_id: str) -> Tenant | None:
        return get_tenant(self.project, self.catalog, self.config, org_id)

    def cancel(self) -> None:
        self._cancelled.set()
        for snap in [self, *self._workers]:
            snap.cancel_pending()

    def cancel_pending(self) -> None:
        if self._pending is not None:
            self._pending.cancel()

    def table_sizes(self, scopes: list[TableScope]) -> dict[str, int]:
        """Not known over REST without more requests: parallel lanes take the tables in scope order."""
        return {}

    def tenant_shares(self, scopes: list[TableScope]) -> None:
        """Not known over REST (see table_sizes): every table is exported on its own."""
        return None

    def export_packed(self, scopes: list[TableScope], org_id: str, batch_bytes: int,
                      sink: Callable[[int, bytes, int], None], cancelled: threading.Event) -> list[int]:
        """The tables one after another, each checked by its own counts (REST has no one request
        for several tables); table j's lines go to `sink(j, lines, count)`."""
        return [self.export(s, org_id, batch_bytes, lambda lines, n, j=j: sink(j, lines, n), cancelled)
                for j, s in enumerate(scopes)]

    def storage_listing(self, prefixes: list[tuple[str, str]]) -> None:
        """Not readable over REST: the files step lists through Storage's HTTP API."""
        return None

    def share(self) -> None:
        """Nothing to share over REST (see worker): a lane needs no snapshot id."""

    def worker(self, scopes: list[TableScope], session=None) -> "RestSnapshot":
        """Another lane for tables in parallel (`--jobs`): REST has no snapshot to share — every
        table is checked by its own counts before and after — so a lane is this view with its own
        request in flight (at most a page, the next page and a count per lane). No connection is
        lent over REST: `session` is always None here."""
        w = RestSnapshot(self.project, self.config, self.page_rows)
        w.catalog, w.server_version, w._cancelled = self.catalog, self.server_version, self._cancelled
        w.helpers_version = self.helpers_version
        self._workers.append(w)
        return w

    def release(self, worker: "RestSnapshot") -> None:
        """A lane done before this view ends: its request in flight, if any, is dropped."""
        if worker in self._workers:
            self._workers.remove(worker)
        worker.__exit__()

    def count(self, scope: TableScope, org_id: str) -> int:
        """The table's tenant rows now, as the server counts them: PostgREST's count=exact through
        its own filters where it can express the path, else the installed count function."""
        return self._count_later(scope, org_id).result()

    def _count_later(self, scope: TableScope, org_id: str) -> Future:
        name = scope.table.key_name
        embedded = embedded_filter(scope, self.catalog)
        doing = f"counting the rows of table {name}"

        async def go() -> int:
            if embedded is not None:
                select, column = embedded
                q = table_query(self.project, scope.table).select(select, count="exact", head=True).eq(column, org_id)
                try:
                    r = await self.project.send(q, doing)
                    total = r.headers.get("content-range", "").rpartition("/")[2]
                    if total.isdigit():
                        return int(total)
                except TenantBackupError as err:
                    if "PGRST2" not in str(err):  # a relationship PostgREST does not see: ask the server
                        raise
            r = await self.project.rpc("tenant_backup_count", rows_args(scope, self.catalog, org_id), doing)
            return int(r.json())
        return self.project.submit(go())

    def _digest_later(self, scope: TableScope, org_id: str) -> Future:
        """count:hash-sum of the table's tenant rows now (tenant_backup_digest)."""
        return self.project.submit(self.project.rpc(
            "tenant_backup_digest", rows_args(scope, self.catalog, org_id),
            f"checking table {scope.table.key_name} for changes"))

    def export(self, scope: TableScope, org_id: str, batch_bytes: int,
               sink: Callable[[bytes, int], None], cancelled: threading.Event) -> int:
        """Stream one table's tenant rows to `sink` in batches of whole lines, page by keyset page
        until a page is empty (a short page proves nothing under max-rows). The next page is fetched
        while `sink` handles this one. Returns the row count, checked against the server's count
        before (read alongside the first page) and after."""
        name = scope.table.key_name
        if str(self.helpers_version) != str(EXPORT_VERSION):  # older export functions would read other rows
            raise SetupMissing(f"exporting table {name}: the Tenant Backup functions are missing or outdated in the "
                               f"Supabase project {self.project.host}; {SETUP_HINT}")
        counted = self._count_later(scope, org_id)  # read while the first page is on its way
        # A table without a key is paged by its rows' physical position: an update moves a row, which
        # may then be read twice or never while the count stays the same. Its digest must not move.
        keyless = not scope.table.row_key[0]
        digested = self._digest_later(scope, org_id) if keyless else None
        params = {**rows_args(scope, self.catalog, org_id), "page_rows": self.page_rows}
        doing = f"exporting table {name}"

        def fetch(after: dict | None) -> Future:
            # text/plain: PostgREST hands the function's text over as it is (application/json would
            # quote it as a JSON string); supabase-py's rpc() has no way to ask, so we set the header.
            self._pending = self.project.submit(
                self.project.rpc("tenant_backup_export_page", {**params, "after": after}, doing, accept="text/plain"))
            return self._pending

        rows, buf = 0, bytearray()
        pending = fetch(None)
        try:
            while True:
                try:
                    body = pending.result()
                except Exception:
                    if cancelled.is_set() or self._cancelled.is_set():
                        raise Cancelled("backup cancelled") from None
                    raise
                body = body.content
                if not body:
                    break
                nl = body.index(b"\n")
                after = json.loads(body[:nl])
                pending = fetch(after)
                page = memoryview(body)[nl + 1:]
                n = body.count(b"\n") - 1
                if n < 1 or n > self.page_rows:
                    raise TenantBackupError(f"{doing}: a page of {n} rows came back for {self.page_rows} asked; "
                                            f"run the backup again")
                buf += page
                rows += n
                if len(buf) >= batch_bytes:
                    sink(bytes(buf), buf.count(b"\n"))
                    buf.clear()
                if cancelled.is_set() or self._cancelled.is_set():
                    raise Cancelled("backup cancelled")
            if buf:
                sink(bytes(buf), buf.count(b"\n"))
        finally:
            if not pending.done():
                pending.cancel()
            self._pending = None
        if digested is not None:
            before_digest, after_digest = digested.result().json(), self._digest_later(scope, org_id).result().json()
            if before_digest != after_digest:
                raise TenantBackupError(f"table {name} changed during the backup (it has no key, so a changed row "
                                        f"could be read twice or missed); run the backup again")
        before = counted.result()
        after_count = self.count(scope, org_id)
        if not before == after_count == rows:
            again = self.count(scope, org_id)  # once more, in case a count was read mid-change
            if not before == again == rows:
                if before != again or before != after_count:
                    raise TenantBackupError(f"table {name} changed during the backup ({before} rows before, "
                                            f"{again} after); run the backup again")
                raise TenantBackupError(f"table {name}: the server counts {before} rows but {rows} were read; "
                                        f"run the backup again")
        return rows
