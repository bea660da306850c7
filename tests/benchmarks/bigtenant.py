"""A tenant of about 1.7 million rows for the benchmarks, generated inside PostgreSQL.

`create_big_tenant(url)` builds the demo schema (resources/demo) and fills one organization with
≈1.7 M rows spread over its tables, FK-only children included, plus the small demo tenants."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tenant_backup_gui.services.inventory import setup_sql

ROOT = Path(__file__).resolve().parents[2]
BIG_ORG = "b1600000-0000-4000-8000-000000000001"

FILL = """
insert into organizations (id, name, slug, currency_code) values (%(org)s, 'Big Tenant Inc.', 'big', 'CAD');
insert into gas_types (organization_id, name) select %(org)s, 'GAS ' || g from generate_series(1, 8) g;
insert into locations (organization_id, name) select %(org)s, 'Depot ' || g from generate_series(1, 20) g;
insert into profiles (organization_id, email, full_name, role)
  select %(org)s, 'user' || g || '@big.example', 'User ' || g, 'user' from generate_series(1, 200) g;
alter table customers disable trigger customers_audit;
insert into customers (organization_id, name, "CustomerListID", balance, phone)
  select %(org)s, 'Customer ' || g || case when g %% 7 = 0 then ' Côté "&" Fils' else '' end,
         (80000000 + g)::text, round((g %% 10000) * 1.37, 2), '+1 306 555 ' || lpad((g %% 10000)::text, 4, '0')
  from generate_series(1, 100000) g;
alter table customers enable trigger customers_audit;
insert into bottles (organization_id, barcode_number, assigned_customer, status)
  select %(org)s, lpad(g::text, 9, '0'), c.id, 'rented'
  from generate_series(1, 300000) g
  join (select id, row_number() over (order by id) as rn from customers where organization_id = %(org)s) c
    on c.rn = 1 + g %% 100000;
insert into rental_invoices (organization_id, customer_id, total, issued_at)
  select organization_id, id, 25.00, now() - (random() * interval '400 days') from customers where organization_id = %(org)s;
insert into rental_invoices (organization_id, customer_id, total, issued_at)
  select organization_id, id, 40.00, now() - (random() * interval '400 days') from customers where organization_id = %(org)s;
insert into invoice_line_items (invoice_id, description, quantity, amount)
  select i.id, 'Cylinder rental ' || g, g, 12.5 * g
  from rental_invoices i, generate_series(1, 2) g where i.organization_id = %(org)s;
insert into audit_logs (organization_id, action, details)
  select %(org)s, 'bottle.scanned', jsonb_build_object('n', g, 'at', now(), 'tags', jsonb_build_array('a', 'b'))
  from generate_series(1, 300000) g;
insert into bottle_scans (organization_id, scanned_at)
  select %(org)s, now() - (g || ' seconds')::interval from generate_series(1, 200000) g;
insert into notifications (organization_id, message) select %(org)s, 'Message ' || g from generate_series(1, 200000) g;
"""


def create_big_tenant(url: str) -> str:
    """Create the schema and the big tenant; returns its organization id."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute((ROOT / "resources" / "demo" / "schema.sql").read_text())
        c.execute((ROOT / "resources" / "demo" / "data.sql").read_text())
        c.execute(setup_sql())
        t = time.monotonic()
        c.execute(FILL.replace("%(org)s", f"'{BIG_ORG}'").replace("%%", "%"))
        c.execute("vacuum analyze")
        rows = c.execute("""select
            (select count(*) from customers where organization_id = %(o)s) + (select count(*) from bottles where organization_id = %(o)s)
          + (select count(*) from rental_invoices where organization_id = %(o)s)
          + (select count(*) from invoice_line_items l join rental_invoices i on i.id = l.invoice_id where i.organization_id = %(o)s)
          + (select count(*) from audit_logs where organization_id = %(o)s) + (select count(*) from bottle_scans where organization_id = %(o)s)
          + (select count(*) from notifications where organization_id = %(o)s)""", {"o": BIG_ORG}).fetchone()[0]
        print(f"big tenant: {rows:,} rows in its main tables, generated in {time.monotonic() - t:.1f} s")
    return BIG_ORG


@contextmanager
def big_tenant_workspace(prefix: str):
    """An embedded server holding the big tenant, and the environment that points the CLI at it and
    at a throw-away store: (url, org, env)."""
    import os
    import shutil
    import tempfile
    from .server import embedded_server
    with embedded_server() as (server, _bindir):
        url = server.get_uri()
        org = create_big_tenant(url)
        work = Path(tempfile.mkdtemp(prefix=prefix))
        env = dict(os.environ, TENANT_BACKUP_DATABASE_URL=url, TENANT_BACKUP_STORE=str(work / "store"),
                   XDG_STATE_HOME=str(work / "state"))
        try:
            yield url, org, env
        finally:
            shutil.rmtree(work, ignore_errors=True)
