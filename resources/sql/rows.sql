-- A tenant's rows, defined ONCE: which rows of a table belong to a tenant (the scope condition) and
-- the JSON a backup stores for each of them (the row JSON). Every road reads a tenant's rows through
-- these functions: the direct export (sources/direct/snapshot.py COPYs tenant_backup_export_query's text),
-- the REST export's pages, digests and counts (supabase.sql), and the restore engine's comparison
-- and fingerprint (restore_engine.sql). Change the row JSON here and every one of them follows.
-- Pure text builders: names go through %I, the organization id through %L, no SQL text is taken
-- from the caller, and nothing but the catalog is read. Installed by `tenant-backup setup` at the
-- top of supabase.sql (its line `--@rows.sql`, replaced by supabase_rest.setup_sql()).

-- A scope's path of parents as SQL text, from the top (the table the anchor column is in) down to
-- the row of alias p_alias. p_scope: {anchor, path: [{columns, parent_schema, parent_table,
-- parent_columns}]}, from the child up (core.scope.scope_json).
-- p_owner false: a WHERE condition, the row belongs to the tenant p_org (semi-joins: a child row
--   appears once however many parent rows match).
-- p_owner true: an expression, the organization the row reaches through today's rows (text, NULL
--   where it reaches none): what the restore's refusal names (tenant_backup__owner).
create or replace function public.tenant_backup_scope_path(p_alias text, p_scope json, p_org text, p_owner boolean)
returns text language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  hops json := coalesce(p_scope->'path', '[]'::json);
  n int := json_array_length(coalesce(p_scope->'path', '[]'::json));
  anchor text := p_scope->>'anchor';
  top text := case when n = 0 then p_alias else 'p' || (n - 1) end;
  expr text;
  hop json;
begin
  if anchor is null then
    raise exception 'a table scope has no "anchor"' using errcode = '22023';
  end if;
  expr := case when p_owner then format('%I.%I::text', top, anchor) else format('%I.%I = %L', top, anchor, p_org) end;
  for depth in reverse n - 1 .. 0 loop
    hop := hops->depth;
    expr := format(case when p_owner then '(SELECT %6$s FROM %3$I.%4$I AS %5$I WHERE (%2$s) = (%1$s) LIMIT 1)'
                        else '(%1$s) IN (SELECT %2$s FROM %3$I.%4$I AS %5$I WHERE %6$s)' end,
      (select string_agg(format('%I.%I', case when depth = 0 then p_alias else 'p' || (depth - 1) end, c), ', ' order by o)
         from json_array_elements_text(hop->'columns') with ordinality x(c, o)),
      (select string_agg(format('%I.%I', 'p' || depth, c), ', ' order by o)
         from json_array_elements_text(hop->'parent_columns') with ordinality x(c, o)),
      coalesce(hop->>'parent_schema', 'public'), hop->>'parent_table', 'p' || depth, expr);
  end loop;
  return expr;
end $$;

-- WHERE condition: the row of alias p_alias belongs to the tenant p_org.
create or replace function public.tenant_backup_scope_condition(p_alias text, p_scope json, p_org text) returns text
language sql stable set search_path = pg_catalog, pg_temp as $$
  select public.tenant_backup_scope_path(p_alias, p_scope, p_org, false)
$$;

-- The tenant's rows of table p_rel, and the JSON of each as a backup stores it:
--   source:   `FROM <table> AS "tb$row" … WHERE <the row belongs to p_org>` (ONLY unless partitioned);
--   row_json: an expression over it — PostgreSQL's row_to_json, except that json, jsonb and array
--             columns (as_text in p_columns: the catalog's word, catalog.sql, the same the manifest
--             records) are carried as their text, a JSON string: row_to_json writes SQL NULL and JSON
--             null alike and drops an array's lower bounds ('[0:2]={1,2,3}' → [1,2,3]).
-- Those columns are cast in a LATERAL sub-select that the planner flattens into the scan (one ROW()
-- per row, its fields named as the table's columns). It renders exactly the bytes of the per-row
-- scalar sub-select `row_to_json((SELECT x FROM (SELECT …, to_json(c::text) AS c) x))` that older
-- versions wrote (tests/test_row_json.py), without running a sub-plan for every row: the cost is
-- row_to_json of the table's own row plus the casts. A table with no such column is row_to_json
-- of its row as it is.
-- p_columns: [{name, as_text}] in the table's order (every column); NULL: source only.
create or replace function public.tenant_backup_rows(p_rel regclass, p_columns json, p_scope json, p_org text,
  out row_json text, out source text)
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  cast_cols boolean := exists (select from json_array_elements(p_columns) c where (c->>'as_text')::boolean);
begin
  source := format('FROM %s%s AS %I', case when (select relkind from pg_class where oid = p_rel) = 'p' then '' else 'ONLY ' end,
                   p_rel, 'tb$row');
  if p_columns is null then
    row_json := null;
  elsif cast_cols then
    source := source || format(' CROSS JOIN LATERAL (SELECT %s) AS %I',
      (select string_agg(case when (c->>'as_text')::boolean then format('%I.%I::text AS %I', 'tb$row', c->>'name', c->>'name')
                              else format('%I.%I', 'tb$row', c->>'name') end, ', ' order by o)
         from json_array_elements(p_columns) with ordinality x(c, o)), 'tb$json');
    row_json := format('row_to_json(%I.*)', 'tb$json');
  else
    row_json := format('row_to_json(%I.*)', 'tb$row');
  end if;
  source := source || ' WHERE ' || public.tenant_backup_scope_condition('tb$row', p_scope, p_org);
end $$;

-- count:sum of 64-bit hashes of the tenant's rows' backup text, order independent: equal twice
-- proves nothing moved in between (the REST export of a keyless table; the restore's fingerprint).
create or replace function public.tenant_backup_rows_digest(p_rel regclass, p_columns json, p_scope json, p_org text)
returns text language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  r record;
  d text;
begin
  r := public.tenant_backup_rows(p_rel, p_columns, p_scope, p_org);
  if r.row_json is null then
    raise exception 'table % has no columns in the catalog', p_rel using errcode = '22023';
  end if;
  execute format('SELECT count(*)::text || '':'' || coalesce(sum(hashtextextended((%s)::text, 0)::numeric), 0)::text %s',
                 r.row_json, r.source) into d;
  return d;
end $$;
