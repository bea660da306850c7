"""Chosen rows benchmark (issue 21): put back 10 deleted customers of the ≈1.7 M-row tenant with
their dependents (their invoices and line items come back, their bottles get their link back),
against a whole-tenant replace of the same state. Each is its dry run plus its apply (the apply's
safety backup included), one run each, printed as a ratio. Target: ≤ 0.25.

    .venv/bin/python -m tests.benchmarks.bench_chosen
"""

from __future__ import annotations

import json
import os

import psycopg

from .bigtenant import big_tenant_workspace
from .server import run_measured

# The bad day at scale: 10 customers deleted with their invoices (and line items); their bottles
# lose their customer (ON DELETE SET NULL).
DELETE = """
set session_replication_role = replica;
create temp table gone as select id from customers where organization_id = %(org)s order by id limit 10;
delete from invoice_line_items where invoice_id in (select id from rental_invoices where customer_id in (select id from gone));
delete from rental_invoices where customer_id in (select id from gone);
delete from rentals where customer_id in (select id from gone);
delete from deliveries where customer_id in (select id from gone);
update bottles set assigned_customer = null where assigned_customer in (select id from gone);
delete from customers where id in (select id from gone);
"""


def main() -> int:
    with big_tenant_workspace("tb-bench-chosen-") as (url, org, env):
        run_measured(env, "setup")
        backup = json.loads(run_measured(env, "backup", "--org", org)[3])["backup"]
        with psycopg.connect(url) as c:
            gone = [r[0] for r in c.execute("select id::text from customers where organization_id = %s "
                                            "order by id limit 10", [org])]

        def bad_day() -> None:
            with psycopg.connect(url, autocommit=True) as c:
                c.execute(DELETE.replace("%(org)s", f"'{org}'"))
                c.execute("vacuum analyze")

        def restore(*options: str) -> tuple[float, float, dict]:
            base = ("restore", "--org", org, "--backup", backup["id"])
            s1, mb1, _, out = run_measured(env, *base, "--dry-run", *options)
            dry = json.loads(out)
            s2, mb2, _, out = run_measured(env, *base, "--apply", "--plan", dry["plan_id"], "--yes")
            return s1 + s2, max(mb1, mb2), {"dry": s1, "apply": s2, "summary": json.loads(out)["summary"]}

        bad_day()
        chosen, chosen_mb, c_parts = restore("--rows", "customers=" + ",".join(gone), "--with-dependents",
                                             "--no-files")
        bad_day()
        whole, whole_mb, w_parts = restore("--no-files")
        cs = c_parts["summary"]
        print(f"chosen rows: {cs['inserted']:,} inserted, {cs['relinked']:,} relinked; "
              f"dry run {c_parts['dry']:.2f} s + apply {c_parts['apply']:.2f} s = {chosen:.2f} s ({chosen_mb:.0f} MB peak)")
        print(f"whole replace: dry run {w_parts['dry']:.2f} s + apply {w_parts['apply']:.2f} s = {whole:.2f} s "
              f"({whole_mb:.0f} MB peak)")
        ratio = chosen / whole
        print(f"ratio (chosen rows / whole replace): {ratio:.2f}  target ≤ 0.25  {'PASS' if ratio <= 0.25 else 'FAIL'}")
        print(f"load average: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
