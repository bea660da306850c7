-- The catalog of the tenant tables, read by the direct connection (psycopg; the one placeholder is the
-- list of schemas) and, as the body of public.tenant_backup_catalog(schemas), over REST (resources/sql/supabase.sql).
-- One copy for both, so both paths build the same core.scope.Catalog.
select n.nspname, c.relname, c.relkind = 'p',
  (select coalesce(json_agg(json_build_object(
      'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'nullable', not a.attnotnull,
      'generated', a.attgenerated <> '', 'identity', a.attidentity, 'has_default', a.atthasdef,
      'as_text', (select coalesce(bt.typname, ty.typname) in ('json', 'jsonb')
                         or coalesce(bt.typcategory, ty.typcategory) = 'A'
                  from pg_type ty left join pg_type bt on bt.oid = ty.typbasetype where ty.oid = a.atttypid))
      order by a.attnum), '[]')
   from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped),
  (select coalesce(json_agg(cols order by isprimary desc, cols::text), '[]') from (
     select i.indisprimary as isprimary,
            (select json_agg(a.attname order by k.ord) from unnest(i.indkey::int2[]) with ordinality k(num, ord)
               join pg_attribute a on a.attrelid = c.oid and a.attnum = k.num) as cols
     from pg_index i where i.indrelid = c.oid and i.indisunique and i.indpred is null
       and i.indexprs is null and i.indisvalid) u),
  (select coalesce(json_agg(json_build_object(
      'cols', (select json_agg(a.attname order by k.ord) from unnest(con.conkey) with ordinality k(num, ord)
                 join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num),
      'ref_schema', rn.nspname, 'ref_table', rc.relname,
      'ref_cols', (select json_agg(a.attname order by k.ord) from unnest(con.confkey) with ordinality k(num, ord)
                 join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num))
      order by con.conname), '[]')
   from pg_constraint con join pg_class rc on rc.oid = con.confrelid
   join pg_namespace rn on rn.oid = rc.relnamespace
   where con.conrelid = c.oid and con.contype = 'f'),
  (select array_agg(a.attname::text order by a.attnum) from pg_index i
     join pg_attribute a on a.attrelid = c.oid and a.attnum = any(i.indkey)
     where i.indrelid = c.oid and i.indisprimary)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and not c.relispartition and n.nspname = any(%s)
order by 1, 2
