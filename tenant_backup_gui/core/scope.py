"""Which tables hold a tenant's rows, and how each one is reached.

Discovered from the catalog, then shaped by config: a table belongs to the tenant when it has the
tenant column, when it is the tenant table itself (matched by its key), or when a foreign key (or a
configured parent path) leads from it to a table that belongs, to any depth. The old system's
hard-coded list missed about a hundred such tables; here the database says what exists."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .config import OWN_TABLES, Config


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    generated: bool = False
    identity: str | None = None  # "always" | "by default" | None
    # json, jsonb and arrays (and domains of them): row_to_json writes SQL NULL and JSON null alike
    # and drops array lower bounds, so these travel as their text in a JSON string, cast back on restore.
    as_text: bool = False


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    declared: bool = True  # False for a parent path that only the config knows


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    partitioned: bool = False

    @property
    def key_name(self) -> str:
        """The name used in files and config: bare in `public`, schema-qualified elsewhere."""
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def row_key(self) -> tuple[tuple[str, ...], str]:
        """The columns that identify a row: primary key, else the first unique key whose columns
        are all NOT NULL, else none (whole-row comparison)."""
        if self.primary_key:
            return self.primary_key, "primary"
        for uk in self.unique_keys:
            if all((c := self.column(n)) is not None and not c.nullable for n in uk):
                return uk, "unique"
        return (), "none"

    @property
    def text_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.as_text)

    @property
    def generated_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.generated)


@dataclass(frozen=True)
class Catalog:
    tables: dict[str, Table]

    def get(self, name: str) -> Table | None:
        return self.tables.get(name)


@dataclass(frozen=True)
class Hop:
    """One step from a child table up to its parent: child.columns = parent.parent_columns."""

    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableScope:
    table: Table
    how: str  # "tenant-key" | "tenant-column" | "parent"
    anchor: str  # the column compared with the tenant id, in the last table of the path
    path: tuple[Hop, ...] = ()  # for "parent": hops up to a table reached by column or key

    def describe(self) -> str:
        if self.how == "tenant-key":
            return "the tenant table, by its key"
        if self.how == "tenant-column":
            return "by the tenant column"
        return "through " + " → ".join(f"{','.join(h.columns)} → {h.parent}" for h in self.path)


def scope_json(scope: TableScope, catalog: Catalog | None = None) -> dict:
    """How a table reaches its tenant, as the installed SQL reads it (resources/sql/rows.sql,
    tenant_backup_scope_condition) on every road: {anchor, path: [{columns, parent_schema,
    parent_table, parent_columns}]}, from the child up."""
    path = []
    for hop in scope.path:
        parent = catalog.get(hop.parent) if catalog is not None else None
        if parent is not None:
            ps, pt = parent.schema, parent.name
        else:
            schema, dot, table = hop.parent.partition(".")
            ps, pt = (schema, table) if dot else ("public", hop.parent)
        path.append({"columns": list(hop.columns), "parent_schema": ps, "parent_table": pt,
                     "parent_columns": list(hop.parent_columns)})
    return {"anchor": scope.anchor, "path": path}


@dataclass
class TenantScope:
    tables: list[TableScope]  # parents before children (foreign-key order)
    global_tables: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # table → why not backed up
    warnings: list[str] = field(default_factory=list)
    tenant_column: str = "organization_id"

    def names(self) -> list[str]:
        return [s.table.key_name for s in self.tables]

    def get(self, name: str) -> TableScope | None:
        return next((s for s in self.tables if s.table.key_name == name), None)


def table_named(tables: dict, name: str):
    """The table a [[files]] rule names: its key ("schema.table" outside public), else the one
    whose own name it is (a rule's column is written table.column, without the schema)."""
    return tables.get(name) or next((t for n, t in tables.items() if n.split(".")[-1] == name), None)


def discover_scope(catalog: Catalog, config: Config) -> TenantScope:
    tables = catalog.tables
    col = config.tenant_column
    warnings: list[str] = []
    skipped: dict[str, str] = {}

    def check_named(names, what):
        for n in names:
            if n not in tables:
                warnings.append(f"table '{n}' named in {what} does not exist: ignored")

    check_named(config.exclude, "exclude")
    check_named(config.include, "include")
    check_named(config.global_tables, "global_tables")
    for link in config.parent_links:
        if link.table not in tables or link.parent not in tables:
            missing = link.table if link.table not in tables else link.parent
            warnings.append(f"parent path {link.table} → {link.parent}: table '{missing}' does not exist: ignored")

    if config.tenant_table not in tables:
        warnings.append(f"tenant table '{config.tenant_table}' does not exist")

    candidates = {}
    for name, t in tables.items():
        if t.name in OWN_TABLES:
            continue
        if name in config.exclude:
            skipped[name] = "excluded in config"
        elif name in config.global_tables:
            skipped[name] = "global table (config)"
        else:
            candidates[name] = t

    links: dict[str, list[ForeignKey]] = {n: list(t.foreign_keys) for n, t in candidates.items()}
    for link in config.parent_links:
        if link.table in links and link.parent in tables:
            links[link.table].append(ForeignKey(link.columns, link.parent, link.parent_columns, declared=False))

    found: dict[str, TableScope] = {}
    if config.tenant_table in candidates:
        tt = candidates[config.tenant_table]
        if len(tt.primary_key) == 1:
            found[config.tenant_table] = TableScope(tt, "tenant-key", tt.primary_key[0])
        else:
            warnings.append(f"tenant table '{config.tenant_table}' has no single-column primary key")
    for name, t in sorted(candidates.items()):
        if name not in found and t.column(col) is not None:
            found[name] = TableScope(t, "tenant-column", col)

    # Breadth first, so each child takes its shortest path; among equals a link whose columns are
    # all NOT NULL wins, because rows with a NULL link belong to no tenant and would be missed.
    frontier = deque(found)
    while frontier:
        level = set(frontier)
        frontier.clear()
        for name, t in sorted(candidates.items()):
            if name in found:
                continue
            options = [fk for fk in links[name] if fk.ref_table in level and fk.ref_table != name]
            if not options:
                continue
            options.sort(key=lambda fk: (any(t.column(c) is None or t.column(c).nullable for c in fk.columns),
                                         not fk.declared, fk.ref_table, fk.columns))
            fk = options[0]
            parent = found[fk.ref_table]
            found[name] = TableScope(t, "parent", parent.anchor,
                                     (Hop(fk.columns, fk.ref_table, fk.ref_columns),) + parent.path)
            frontier.append(name)
            if any(t.column(c) is None or t.column(c).nullable for c in fk.columns):
                warnings.append(f"table '{name}' reaches its tenant through nullable {','.join(fk.columns)}: "
                                f"rows where it is NULL belong to no tenant and are not backed up")

    for name in candidates:
        if name not in found:
            skipped[name] = "global: no tenant column and no foreign key to a tenant table"

    if config.include:
        for name in list(found):
            if name not in config.include and name != config.tenant_table:
                skipped[name] = "not in include"
                del found[name]

    for name in config.expected_tables:
        if name not in tables:
            warnings.append(f"expected table '{name}' does not exist: skipped")
        elif name not in found and name in skipped and not skipped[name].startswith(("excluded", "not in include")):
            warnings.append(f"expected table '{name}' has no tenant column and no path to a tenant table: "
                            f"not backed up (add a parent path in config, or list it in global_tables)")

    for rule in config.files:  # a column that names nothing takes no object, silently: say so
        for table, column in rule.columns:
            where = f"[[files]] rule of bucket {rule.bucket}: {table}.{column}"
            named = table_named(found, table)
            if named is None:
                warnings.append(f"{where} names no tenant table: no object is taken through it")
            elif named.table.column(column) is None:
                warnings.append(f"{where}: the table has no column {column}: no object is taken through it")

    ordered = fk_order({n: s.table for n, s in found.items()})
    return TenantScope(
        tables=[found[n] for n in ordered],
        global_tables=sorted(n for n, why in skipped.items() if why.startswith("global")),
        skipped=skipped,
        warnings=warnings,
        tenant_column=col,
    )


def fk_order(tables: dict[str, Table]) -> list[str]:
    """Parents before children by declared foreign keys; cycles (and self references) are
    broken deterministically, since a restore disables FK checks for them anyway."""
    deps = {n: {fk.ref_table for fk in t.foreign_keys if fk.ref_table in tables and fk.ref_table != n}
            for n, t in tables.items()}
    out: list[str] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(n: str) -> None:
        if n in done or n in visiting:
            return
        visiting.add(n)
        for d in sorted(deps[n]):
            visit(d)
        visiting.discard(n)
        done.add(n)
        out.append(n)

    for n in sorted(tables):
        visit(n)
    return out
