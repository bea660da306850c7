"""The client's side of THE restore engine, the same on both roads.

The restore itself — trust checks, comparison, delete and insert, reference checks, sequences,
the history row — is SQL installed by `setup` (resources/sql/restore_engine.sql). A road only
moves the backup's lines to the server and calls those functions: `DirectRestore`
(sources/direct/restore.py) COPYs them into temporary tables of its own transaction and calls the
functions inside it; `RestRestore` (sources/rest/restore.py) stages them in batches and calls
them as RPCs. Both call the engine with the same named arguments (`EngineSession.params`), and
both read its refusals by SQLSTATE (`engine_refusal`). Everything else a restore session does is
here, once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from .. import __version__
from ..core.config import Config
from ..core.errors import Busy, Cancelled, LockBusy, TenantBackupError
from ..core.scope import Catalog, TableScope, TenantScope, scope_json
from .shared import BUSY, BUSY_SQLSTATES, who_runs

RESTORE_HELPERS_VERSION = 7  # tenant_backup_restore_version() in resources/sql/restore_engine.sql
# The engine's refusals, by the SQLSTATE of its private class TB (listed atop the phases in
# restore_engine.sql); each message is one line that says what to do.
REFUSALS: dict[str, type[TenantBackupError]] = {
    "TB001": LockBusy,           # another backup or restore holds the tenant
    "TB002": Busy,               # the tenant's tables stayed locked by the app (retried: services/contention.py)
    "TB003": TenantBackupError,  # the data changed since the dry run
    "TB004": TenantBackupError,  # staged rows lost on the way
    "TB005": TenantBackupError,  # a row of the backup belongs to another organization
    "TB006": TenantBackupError,  # references would dangle
    "TB007": TenantBackupError,  # the database refused a table's rows (its SQLSTATE in the hint)
    "TB008": TenantBackupError,  # a table or column changed since the dry run
    "TB009": TenantBackupError,  # outside what the helpers may touch
    "TB010": TenantBackupError,  # a malformed call
    "TB011": TenantBackupError,  # a column list leaves out a key, the tenant column or a scope column
    "TB012": TenantBackupError,  # a value past a sequence every tenant shares
    "TB013": TenantBackupError,  # a chosen row is not in the backup, or its table has no key
}
# What sources/supabase_http.py's error() still matches by prefix for calls outside the engine's own (those
# are mapped by SQLSTATE first, sources/rest/restore.py EngineProject): every engine refusal starts so.
ENGINE_MESSAGES = ("restoring table ", "the data changed", "the restore was refused", "the backup is refused",
                   "table ", "the role that installed", "the staged rows of ", "the API role ")


def engine_refusal(code: str | None, message: str, hint: str | None, doing: str) -> TenantBackupError | None:
    """The error for one of the engine's refusals (by SQLSTATE, over either road), or None when the
    code is not the engine's. A table's failure keeps the database's own SQLSTATE in its hint: the
    app's deadlock or serialization failure is retried like any other."""
    kind = REFUSALS.get(code or "")
    if kind is None:
        return None
    if code == "TB007" and hint in BUSY_SQLSTATES:
        return Busy(f"{BUSY} ({doing}: {message})")
    return kind(message)


def describe_table(scope: TableScope, *, rows: int, columns: Iterable[str] | None = None,
                   text_columns: Iterable[str] = (), skipped: Iterable[str] = (),
                   catalog: Catalog | None = None, known: dict | None = None, stage: str | None = None,
                   review: bool = False, list_rows: bool = False, label: str | None = None) -> dict:
    """One entry of the engine's `p_tables`: what to write and how the table reaches its tenant.
    rows: how many rows were staged for it. columns: the columns written back (default: every
    non-generated column of today's table). known: the dry run's counts of this table (an apply
    then skips comparing again; the fingerprint proves they still hold). stage: the direct road's
    temporary table holding the lines. review: the backup is unsigned, so the dry run lists what
    the structure cannot judge (unique values, changes to the organization's own row)."""
    t = scope.table
    key, kind = t.row_key
    return {
        "name": t.key_name, "schema": t.schema, "table": t.name, "rows": rows,
        "columns": list(columns) if columns is not None else [c.name for c in t.columns if not c.generated],
        "text_columns": sorted(text_columns), "skipped": sorted(skipped),
        "key": list(key), "key_kind": kind,
        "identity_always": any(c.identity == "always" for c in t.columns),
        "scope": scope_json(scope, catalog),
        **({"known": {k: known[k] for k in ("current_rows", "to_insert", "to_update", "to_delete", "unchanged")}}
           if known else {}),
        **({"stage": stage} if stage else {}),
        **({"review": True} if review else {}),
        **({"list_rows": True, "label": label} if list_rows else {}),  # the dry run's row list (restore_rows.sql)
    }


def fingerprint_tables(tables: list[dict]) -> list[dict]:
    """What a fingerprint needs of a table description."""
    return [{k: t[k] for k in ("name", "schema", "table", "scope") if k in t} for t in tables]


@dataclass
class Staged:
    """A table whose lines reached the server: what the job decides about its columns."""
    name: str
    scope: TableScope
    rows: int
    stage: str | None = None  # the direct road's temporary table
    columns: list[str] = field(default_factory=list)
    text_columns: set[str] = field(default_factory=set)
    unreadable: set[str] = field(default_factory=set)


class EngineSession:
    """One restore's session with the engine. A road provides `_open`, `_close`, `_stage`,
    `_call` (run one engine function with named arguments) and the engine's entry points."""

    road = ""

    def __init__(self, config: Config, org_id: str, cancelled=None):
        self.config, self.org = config, org_id
        self.cancelled = cancelled
        self.catalog: Catalog | None = None
        self.scope: TenantScope | None = None
        self.staged: dict[str, Staged] = {}
        self.run_id = ""
        self.review = False  # an unsigned backup: the dry run lists what the proofs cannot judge
        self.choice: dict | None = None  # the chosen rows and links back (RestoreOptions.choice)

    def __enter__(self):
        self._open()
        return self

    def __exit__(self, *exc) -> None:
        self._close()

    def cancel(self) -> None:
        """Stops staging at its next block; what the server already runs ends in one transaction."""

    def _check_cancel(self) -> None:
        if self.cancelled is not None and self.cancelled.is_set():
            raise Cancelled("restore cancelled; nothing was changed")

    # ------------------------------------------------------------ the road's part
    def _open(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _stage(self, name: str, blocks: Iterable[tuple[bytes, int]], on_rows: Callable[[int], None]
               ) -> tuple[int, str | None]:
        raise NotImplementedError

    def _call(self, fn: str, params: dict, doing: str):
        raise NotImplementedError

    def tenant_name(self) -> str | None:
        raise NotImplementedError

    def commit(self) -> None:
        """The direct road commits its transaction; over REST the apply RPC committed already."""

    def tidy(self, restored: dict[str, int]) -> None:
        """After a dry run: clean up what its rolled-back rehearsal left behind, where the road can."""

    # ------------------------------------------------------------ shared
    def stage(self, name: str, blocks: Iterable[tuple[bytes, int]], on_rows: Callable[[int], None]) -> Staged:
        def progress(n: int) -> None:
            on_rows(n)
            self._check_cancel()
        rows, stage = self._stage(name, blocks, progress)
        st = self.staged[name] = Staged(name, self.scope.get(name), rows, stage)
        return st

    def staged_info(self, st: Staged, non_null: Iterable[str] = (), types: dict[str, str] | None = None) -> dict:
        """{"keys": the lines' keys, "non_null": {column: rows holding a value}, "unconvertible":
        {column: values that no longer fit today's type, or None when the server cannot tell}}."""
        return self._call("tenant_backup_staged_info", {
            "p_run_id": self.run_id, "p_table": st.name, "p_non_null": list(non_null), "p_types": types or {},
            "p_stage": st.stage}, f"checking the staged rows of {st.name}")

    def all_tables(self) -> list[dict]:
        return [describe_table(s, rows=0, catalog=self.catalog) for s in self.scope.tables]

    def tables(self, names: list[str], known: dict | None = None, list_rows: bool = False) -> list[dict]:
        """The descriptions of the staged tables to restore, parents first. list_rows: the dry run
        lists each table's changed rows, each named by its label column (core/rowview.py)."""
        out = []
        for name in [n for n in self.scope.names() if n in names]:
            st = self.staged[name]
            out.append(describe_table(st.scope, rows=st.rows, columns=st.columns, text_columns=st.text_columns,
                                      skipped=st.unreadable, catalog=self.catalog,
                                      known=(known or {}).get(name), stage=st.stage, review=self.review,
                                      list_rows=list_rows, label=self.label_column(name) if list_rows else None))
        return out

    def label_column(self, name: str) -> str | None:
        """The column that names a table's rows: the config's [row_labels], else rowview's choice."""
        from ..core.rowview import choose_label
        t = self.staged[name].scope.table
        chosen = dict(self.config.row_labels).get(name)
        if chosen is not None and any(c.name == chosen for c in t.columns):
            return chosen
        return choose_label([{"name": c.name, "type": c.type} for c in t.columns], list(t.row_key[0]))

    def row_pages(self, name: str, page: int = 2000) -> Iterator[list[dict]]:
        """A dry run's list of one table's changed rows, a page at a time, in key order."""
        after = 0
        while True:
            rows = self._call("tenant_backup_row_page", {"p_run_id": self.run_id, "p_table": name,
                                                          "p_after": after, "p_limit": page},
                              f"reading the rows of {name}")
            if not rows:
                return
            yield rows
            after = rows[-1]["n"]
            if len(rows) < page:
                return

    def rows_done(self) -> None:
        """The row list was read: remove it from the server (the direct road's goes with its rollback)."""
        self._call("tenant_backup_row_list_done", {"p_run_id": self.run_id}, "removing the row list")

    def params(self, names: list[str], mode: str, *, apply: bool, known: dict | None = None,
               fingerprint: str | None = None, metadata: dict | None = None, backup_id: str | None = None,
               list_rows: bool = False) -> dict:
        """The engine's one call protocol: these named arguments, the same on both roads (the API's
        tenant_backup_restore / tenant_backup_check, and the direct road's tenant_backup__run)."""
        user, host = who_runs()
        tables = self.tables(names, known, list_rows)
        return {
            "p_run_id": self.run_id, "p_org": self.org, "p_tables": tables, "p_mode": mode,
            "p_apply": apply, "p_fingerprint": fingerprint,
            "p_log": {"backup_id": backup_id, "run_by": user, "run_host": host, "tool_version": __version__,
                      "metadata": {**(metadata or {}), "via": self.road}},
            # The tenant's every table: what the proofs take for its scope (a foreign key into any other
            # table is a shared lookup's) and what an apply locks. Chosen rows are pinned by their own
            # fingerprint (restore_choice.sql), computed under those locks.
            "p_fingerprint_tables": fingerprint_tables(self.all_tables()),
            "p_tenant_column": self.config.tenant_column,
            "p_choice": self.choice,
        }

    def dry_run(self, names: list[str], mode: str, list_rows: bool = False) -> dict:
        """The whole restore, rolled back: exact counts, reference problems, the fingerprint the
        apply must find. Refuses (raises) a backup holding rows of another organization.
        list_rows: also list the rows it changes, for row_pages (before the session ends)."""
        self._check_cancel()
        return self._call("tenant_backup_restore", self.params(names, mode, apply=False, list_rows=list_rows),
                          "the dry run")

    def check(self, names: list[str], mode: str, fingerprint: str) -> None:
        """Every refusal check of the apply (fingerprint, staged counts, every row the tenant's),
        before the job's safety backup. Raises on the first refusal."""
        raise NotImplementedError

    def apply(self, names: list[str], mode: str, *, known: dict, fingerprint: str, metadata: dict,
              backup_id: str) -> dict:
        raise NotImplementedError
