-- A cheap fingerprint of every catalog row that resources/sql/catalog.sql reads (the one placeholder is
-- the list of schemas): any DDL that could change a backup's tables, columns, types, keys or foreign keys
-- writes one of these rows, so its new version has a new xmin and the fingerprint changes. `daily` reads
-- the catalog once per run and re-checks this per tenant, inside the tenant's own snapshot.
with rels as (
  select c.oid, c.xmin from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p') and n.nspname = any(%s)
)
select count(*) || ':' || md5(string_agg(k, ',' order by k)) from (
  select 'c' || r.oid || ':' || r.xmin from rels r
  union all
  select 'a' || a.attrelid || '.' || a.attnum || ':' || a.xmin || ':' || t.xmin
    from pg_attribute a join rels r on r.oid = a.attrelid join pg_type t on t.oid = a.atttypid where a.attnum > 0
  union all
  select 'i' || i.indexrelid || ':' || i.xmin from pg_index i join rels r on r.oid = i.indrelid
  union all
  select 'k' || con.oid || ':' || con.xmin from pg_constraint con join rels r on r.oid = con.conrelid
) x(k)
