"""Tenant shapes for bench_daily (issue 23): the old 5-table tenant, and a grown Supabase app's.

A grown app's tenant is not five tables of a few hundred rows each: it is dozens of tables, a few
large (customers, assets, an audit log) and most holding a handful of rows or none (settings,
templates, integrations, one-off imports), some reached only through a parent (lines of an
invoice: no organization_id, a foreign key to a tenant table), a few without a primary key
(staging tables, logs). Measured on the 5-table shape the nightly run looked 5× faster than on
the seed app's; `grown(n)` builds n such tables so the per-table cost shows."""

from __future__ import annotations

from dataclasses import dataclass

SMALL_SCHEMA = """
create table organizations (id uuid primary key, name text not null, deleted_at timestamptz);
create table customers (id bigint generated always as identity primary key,
  organization_id uuid not null references organizations(id), name text, balance numeric(12,2), phone text);
create table invoices (id bigint generated always as identity primary key,
  organization_id uuid not null references organizations(id), customer_id bigint references customers(id),
  total numeric(12,2), issued_at timestamptz, tags text[]);
create table invoice_lines (id bigint generated always as identity primary key,
  invoice_id bigint not null references invoices(id), description text, quantity int, amount numeric(12,2));
create table audit_logs (id bigint generated always as identity primary key,
  organization_id uuid not null references organizations(id), action text, details jsonb);
create index on customers (organization_id);
create index on invoices (organization_id);
create index on invoice_lines (invoice_id);
create index on audit_logs (organization_id);
"""

ORGANIZATIONS = """
insert into organizations (id, name)
  select ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'Tenant ' || g from generate_series(1, %(n)s) g;
"""

# Per tenant: 1 organization + 80 customers + 100 invoices + 150 lines + 49 audit rows = 380 rows.
SMALL_FILL = ORGANIZATIONS + """
insert into customers (organization_id, name, balance, phone)
  select o.id, 'Customer ' || g, g * 1.25, '+1 306 555 ' || lpad(g::text, 4, '0') from organizations o, generate_series(1, 80) g;
insert into invoices (organization_id, customer_id, total, issued_at, tags)
  select o.id, (select min(c.id) from customers c where c.organization_id = o.id), 25.00,
         now() - (g || ' days')::interval, array['rent', 'gas']
  from organizations o, generate_series(1, 100) g;
insert into invoice_lines (invoice_id, description, quantity, amount)
  select i.id, 'Cylinder rental', g, 12.5 * g from invoices i, generate_series(1, 2) g where g = 1 or i.id %% 2 = 0;
insert into audit_logs (organization_id, action, details)
  select o.id, 'scan', jsonb_build_object('n', g) from organizations o, generate_series(1, 49) g;
"""


@dataclass(frozen=True)
class Shape:
    name: str
    schema: str   # DDL
    fill: str     # inserts, with %(n)s for the number of tenants
    tables: list[str]  # every table created, organizations first

    def describe(self) -> str:
        return f"{self.name} ({len(self.tables)} tables)"


SMALL = Shape("small", SMALL_SCHEMA, SMALL_FILL, ["organizations", "customers", "invoices", "invoice_lines",
                                                   "audit_logs"])

# The few large tables of a grown app, rows per tenant; the rest hold a handful or none.
LARGE = [("customers", 80), ("assets", 100), ("audit_logs", 40)]
# Rows per tenant of the small tables, in turn: most a few, a third none, now and then 12 or 20.
SMALL_ROWS = [0, 1, 0, 3, 2, 0, 5, 1, 0, 12, 2, 0, 20, 1, 4, 0, 7, 0, 2, 1]
# Rows per parent row of a child table (lines of an invoice, the steps of a checklist).
CHILD_ROWS = [1, 2, 0, 1]
WORDS = ["settings", "locations", "templates", "integrations", "price_lists", "invoices", "rentals", "orders",
         "deliveries", "routes", "drivers", "vehicles", "notifications", "imports", "reports", "tasks",
         "contacts", "documents", "payments", "subscriptions", "tickets", "inspections", "leases", "webhooks"]
EXTRA = ["notes text", "external_ref text", "due_on date", "rate numeric(10,2)", "email text", "code varchar(20)",
         "scanned_at timestamptz", "ip inet", "lat numeric(10,8)", "counts int4[]"]
EXTRA_VALUE = {"notes": "'Note ' || g || ' for the day''s route'", "external_ref": "'EXT-' || lpad(g::text, 6, '0')",
               "due_on": "current_date + g", "rate": "g * 0.75", "email": "'user' || g || '@example.com'",
               "code": "'C' || g", "scanned_at": "now() - g * interval '1 hour'", "ip": "'10.0.0.1'::inet",
               "lat": "52.1 + g / 1000.0", "counts": "array[g, g + 1]"}


def _table(k: int, n: int) -> tuple[str, str, int, str | None, bool]:
    """Table k (1..n-1) of a grown shape: (name, key kind, rows, parent or None, has a primary key)."""
    if k <= len(LARGE) and n >= 8:
        name, rows = LARGE[k - 1]
        return name, "bigint" if k == 3 else "uuid", rows, None, True
    name = f"{WORDS[k % len(WORDS)]}_{k:03d}"
    keyed = k % 13 != 7  # about one in 13 has no primary key (staging tables, logs)
    # about one in five is a child: no organization_id, reached through its parent's foreign key
    child = k % 5 == 0 and k > 5
    if child:
        return name, "uuid", CHILD_ROWS[(k // 5) % len(CHILD_ROWS)], "parent", keyed
    return name, "bigint" if k % 3 == 0 else "uuid", SMALL_ROWS[k % len(SMALL_ROWS)], None, keyed


def grown(n: int) -> Shape:
    """n tenant tables (organizations included) shaped like a grown Supabase app's."""
    if n < 2:
        raise SystemExit("--tables: at least 2 (organizations and one more)")
    ddl = ["create table organizations (id uuid primary key, name text not null, slug text, settings jsonb "
           "default '{}', created_at timestamptz not null default now(), deleted_at timestamptz);"]
    fill = [ORGANIZATIONS]
    names = ["organizations"]
    parents: list[str] = []  # uuid-keyed tables with rows a child can point at
    for k in range(1, n):
        name, kind, rows, parent, keyed = _table(k, n)
        if parent is not None and not parents:
            parent = None  # no parent yet: a tenant table like the others
            rows = SMALL_ROWS[k % len(SMALL_ROWS)]
        key = ("id uuid default gen_random_uuid()" if kind == "uuid" else "id bigint generated by default as identity") \
            + (" primary key" if keyed else " not null")
        extra = [EXTRA[(k + j) % len(EXTRA)] for j in range(k % 4)]
        if parent is not None:
            parent = parents[-1] if k % 10 else parents[len(parents) // 2]
            link, source, owner = (f"{parent}_id uuid not null references {parent}(id)", f"{parent} p",
                                   f"{parent}_id")
            linked = "p.id"
        else:
            link, source, owner = ("organization_id uuid not null references organizations(id)", "organizations o",
                                   "organization_id")
            linked = "o.id"
        cols = [key, link, "name text not null", "status text", "amount numeric(12,2)", "quantity integer",
                "active boolean default true", "created_at timestamptz not null default now()",
                "updated_at timestamptz", "metadata jsonb", "tags text[]", *extra]
        ddl.append(f"create table {name} ({', '.join(cols)});")
        ddl.append(f"create index on {name} ({owner});")
        extra_names = [e.split()[0] for e in extra]
        values = [linked, f"'{name} ' || g", "(array['active', 'pending', 'closed'])[1 + g %% 3]", "g * 1.25", "g",
                  "g %% 2 = 0", "now() - g * interval '1 day'",
                  "jsonb_build_object('n', g, 'source', 'app', 'flags', jsonb_build_array('a', 'b'))",
                  "array['rent', 'gas']", *[EXTRA_VALUE[e].replace("%", "%%") for e in extra_names]]
        target = [owner, "name", "status", "amount", "quantity", "active", "updated_at", "metadata", "tags",
                  *extra_names]
        if rows:
            fill.append(f"insert into {name} ({', '.join(target)}) select {', '.join(values)} "
                        f"from {source}, generate_series(1, {rows}) g;")
        if kind == "uuid" and keyed and rows:
            parents.append(name)
        names.append(name)
    return Shape(f"grown-{n}", "\n".join(ddl), "\n".join(fill), names)
