"""The direct road: a tenant's rows over a PostgreSQL connection (psycopg 3), one module a concern —
connect (and errors), catalog (and the export queries), tenants, snapshot (and copy_out), lock,
history, setup."""
