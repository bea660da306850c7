"""The seed app's real schema in the embedded PostgreSQL, filled with synthetic tenants (bench_daily --schema).

The file is a Supabase dump (Evanevoo/scanified, supabase/schema/remote_schema_baseline.sql), kept
out of this repository: the benchmark takes its path. A dump refers to what a Supabase database
has and ours lacks (roles, the auth schema, extensions, sequences created elsewhere); the loader
creates stand-ins for those, drops the statements that only matter to a live project (policies,
grants, RLS, triggers, comments, owners) and runs the rest one statement at a time, so one that
still fails costs that statement, not the run (the count is reported). The column-level baseline
omits primary keys; production has them on `id`, so each table with an `id` column gets one.

Then each table is filled from the catalog: per tenant a few rows of values made from each column's
type (varchar lengths, arrays, jsonb, enums' first label), tables in foreign-key order, a parent's
rows before its children's; a table whose insert still fails is skipped and counted."""

from __future__ import annotations

import re

import psycopg

PRELUDE = """
do $$ begin
  create role anon nologin; exception when duplicate_object then null; end $$;
do $$ begin
  create role authenticated nologin; exception when duplicate_object then null; end $$;
do $$ begin
  create role service_role nologin; exception when duplicate_object then null; end $$;
create schema if not exists auth;
create schema if not exists extensions;
create schema if not exists storage;
create table if not exists auth.users (id uuid primary key, email text, raw_user_meta_data jsonb);
create or replace function public.uuid_generate_v4() returns uuid language sql as 'select gen_random_uuid()';
create or replace function extensions.uuid_generate_v4() returns uuid language sql as 'select gen_random_uuid()';
create sequence if not exists public.bench_ids;
create or replace function auth.uid() returns uuid language sql stable as 'select null::uuid';
create or replace function auth.role() returns text language sql stable as 'select null::text';
create or replace function auth.jwt() returns jsonb language sql stable as 'select null::jsonb';
"""

SKIP = re.compile(r"^\s*(create\s+policy|alter\s+policy|grant|revoke|comment\s+on|create\s+(or\s+replace\s+)?trigger|"
                  r"create\s+extension|alter\s+.*\s+owner\s+to|alter\s+table\s+.*\s+(enable|disable|force)\s+row|"
                  r"alter\s+default\s+privileges|create\s+publication|alter\s+publication|select\s+pg_catalog|"
                  r"set\s+|reset\s+)", re.I | re.S)


def statements(text: str) -> list[str]:
    """The dump's statements, split at semicolons outside quotes, dollar quotes and comments."""
    out, cur, i, n = [], [], 0, len(text)
    quote: str | None = None
    while i < n:
        c = text[i]
        if quote is None:
            if text.startswith("--", i):
                j = text.find("\n", i)
                i = n if j < 0 else j + 1
                continue
            if text.startswith("/*", i):
                j = text.find("*/", i)
                i = n if j < 0 else j + 2
                continue
            if c == "'":
                quote = "'"
            elif c == "$" and (m := re.match(r"\$[A-Za-z_]*\$", text[i:])):
                quote = m.group(0)
                cur.append(quote)
                i += len(quote)
                continue
            elif c == ";":
                if "".join(cur).strip():
                    out.append("".join(cur).strip())
                cur, i = [], i + 1
                continue
        elif quote == "'" and c == "'":
            quote = None
        elif quote != "'" and text.startswith(quote, i):
            cur.append(quote)
            i += len(quote)
            quote = None
            continue
        cur.append(c)
        i += 1
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def load(conn: psycopg.Connection, text: str) -> dict:
    """Run the dump's statements that matter here; returns counts of run, skipped and failed ones."""
    conn.execute(PRELUDE)
    for seq in sorted(set(re.findall(r"nextval\('(?:public\.)?([A-Za-z_0-9]+)'", text))):
        conn.execute(f'create sequence if not exists public."{seq}"')
    done = skipped = 0
    failed: list[str] = []
    for stmt in statements(text):
        if SKIP.match(stmt):
            skipped += 1
            continue
        try:
            with conn.transaction():
                conn.execute(stmt)
            done += 1
        except psycopg.Error as err:
            failed.append(f"{stmt[:60]!r}: {str(err).splitlines()[0]}")
    keyed = 0
    for (table,) in conn.execute(
            """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = 'public' and c.relkind = 'r'
                 and exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'id' and not a.attisdropped)
                 and not exists (select from pg_constraint k where k.conrelid = c.oid and k.contype = 'p')""").fetchall():
        try:
            with conn.transaction():
                conn.execute(f'alter table public."{table}" add primary key (id)')
            keyed += 1
        except psycopg.Error:
            pass
    return {"run": done, "skipped": skipped, "failed": failed, "keys_added": keyed}


COLUMNS = """
select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), t.typtype, a.attnotnull,
       a.atthasdef or a.attidentity <> '' or a.attgenerated <> '',
       a.attgenerated <> '', (select e.enumlabel from pg_enum e where e.enumtypid = a.atttypid order by e.enumsortorder limit 1)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
join pg_type t on t.oid = a.atttypid
where n.nspname = 'public' and c.relkind = 'r'
order by c.relname, a.attnum
"""

FOREIGN = """
select c.relname, r.relname, a.attname, ra.attname
from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_class r on r.oid = k.confrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[1]
join pg_attribute ra on ra.attrelid = k.confrelid and ra.attnum = k.confkey[1]
where k.contype = 'f' and n.nspname = 'public' and cardinality(k.conkey) = 1
"""


def value(col: str, typ: str, enum_first: str | None) -> str:
    """An SQL expression of `typ` for row g of a tenant (g: 1.., the series column)."""
    base = typ.split("(")[0].strip()
    if typ.endswith("[]"):
        inner = value(col, typ[:-2], enum_first)
        return f"array[{inner}]::{typ}"
    if enum_first is not None:
        return f"'{enum_first}'::{typ}"
    if m := re.match(r"character varying\((\d+)\)", typ):
        return f"left('{col} ' || g, {m.group(1)})"
    if m := re.match(r"numeric\((\d+),(\d+)\)", typ):
        p, s = int(m.group(1)), int(m.group(2))
        return f"round(((g * 1.37) % {10 ** max(0, p - s - 1)})::numeric, {s})"
    return {"uuid": "gen_random_uuid()", "text": f"'{col} ' || g", "character varying": f"'{col} ' || g",
            "integer": "g", "bigint": "g", "smallint": "g", "boolean": "g % 2 = 0", "numeric": "g * 1.25",
            "double precision": "g * 0.5", "real": "g * 0.5", "date": "current_date - g",
            "timestamp with time zone": "now() - g * interval '1 hour'",
            "timestamp without time zone": "localtimestamp - g * interval '1 hour'",
            "time without time zone": "time '08:00' + g * interval '1 minute'",
            "jsonb": "jsonb_build_object('n', g, 'source', 'seed')", "json": "json_build_object('n', g)",
            "inet": "'10.0.0.1'::inet", "bytea": "'\\x00'::bytea", "interval": "g * interval '1 day'",
            }.get(base, "NULL")


def fill(conn: psycopg.Connection, tenants: int, rows_for) -> dict:
    """Tenants in organizations, then every table with rows_for(table) rows per tenant, a
    parent's rows before its children's. Tables with organization_id take the tenant's id; a
    foreign key column takes one of its parent's rows (the tenant's, when the parent has
    organization_id). Returns {"filled": [...], "failed": {table: reason}}."""
    cols: dict[str, list] = {}
    for table, *rest in conn.execute(COLUMNS).fetchall():
        cols.setdefault(table, []).append(rest)
    fks: dict[str, dict[str, tuple[str, str]]] = {}
    for table, parent, col, pcol in conn.execute(FOREIGN).fetchall():
        fks.setdefault(table, {})[col] = (parent, pcol)
    org_cols = {c[0] for c in cols["organizations"]}
    conn.execute(_insert("organizations", cols["organizations"], {}, tenants, org_cols, None))
    order, seen = [], {"organizations"}

    def visit(t: str) -> None:
        if t in seen:
            return
        seen.add(t)
        for parent, _ in fks.get(t, {}).values():
            if parent in cols:
                visit(parent)
        order.append(t)
    for t in sorted(cols):
        if not t.startswith("tenant_backup") and t not in ("backup_logs", "bench_ids"):
            visit(t)
    filled, failed = [], {}
    for t in order:
        n = rows_for(t)
        if not n:
            continue
        has_org = any(c[0] == "organization_id" for c in cols[t])
        if not has_org and not fks.get(t):
            continue  # a global table: not a tenant's, not backed up
        try:
            with conn.transaction():
                conn.execute(_insert(t, cols[t], fks.get(t, {}), n, org_cols, has_org))
            filled.append(t)
        except psycopg.Error as err:
            failed[t] = str(err).splitlines()[0]
    return {"filled": filled, "failed": failed}


def _insert(table: str, columns: list, fks: dict, n: int, org_cols: set, has_org: bool | None) -> str:
    """INSERT … SELECT of n rows per tenant (for organizations: n tenants)."""
    names, exprs = [], []
    for name, typ, _typtype, notnull, hasdef, generated, enum_first in columns:
        if table == "organizations" and name == "id":
            expr = "('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid"
        elif generated or (hasdef and name == "id"):
            continue
        elif name == "id" and typ in ("integer", "bigint"):
            expr = "nextval('public.bench_ids')"  # a key without a default: unique across tenants
        elif table == "organizations" and name in ("deleted_at", "deleted"):
            continue  # every tenant active
        elif name == "organization_id" and has_org:
            expr = "o.id"
        elif name in fks:
            parent, pcol = fks[name]
            own = " where p.organization_id = o.id" if has_org and parent != "organizations" else ""
            expr = f'(select p."{pcol}" from public."{parent}" p{own} limit 1)'
        else:
            expr = value(name, typ, enum_first)
        if expr == "NULL" and not notnull:
            continue
        names.append(f'"{name}"')
        exprs.append(expr)
    if table == "organizations":
        source = f"generate_series(1, {n}) g"
    elif has_org:
        source = f"public.organizations o, generate_series(1, {n}) g"
    else:  # a child reached through its parent: n rows for each of the first parent's rows
        col, (parent, pcol) = next(iter(fks.items()))
        exprs[names.index(f'"{col}"')] = f'p."{pcol}"'
        source = f'public."{parent}" p, generate_series(1, {n}) g'
    return f'insert into public."{table}" ({", ".join(names)}) select {", ".join(exprs)} from {source}'
