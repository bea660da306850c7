-- Tenant Backup: restoring chosen rows, their dependents and their links (issue #21). Run just
-- before restore_engine.sql (services/inventory.py setup_sql), whose phases call these functions
-- and whose last block grants and revokes them with its own (internal: only the owner may run them).
--
-- Mode 'rows' restores the rows the owner chose (`--rows TABLE=KEY`), and with
-- `--with-dependents` the rows of the backup that reach them through foreign keys, to any depth;
-- the parents a written row needs and that are missing now are added. The choice is made once per
-- transaction on the decoded backup rows (tenant_backup__decoded), and the engine then runs every
-- phase — the proofs included — over the chosen rows only, exactly as a missing-only restore of a
-- smaller backup: a chosen row whose key exists now is a conflict, left as it is unless
-- --overwrite. Missing-only and chosen rows also put links back: a row that exists now whose
-- foreign key is NULL, where the backup had it pointing at a row this restore brings back, gets
-- that link back (the 50 bottles whose customer was deleted, ON DELETE SET NULL).
--
-- p_choice: {"keys": {table: [[key values as text, in the key's order], …]}, "dependents": bool,
-- "overwrite": bool, "relink": bool}.

-- SQL text: ARRAY[alias.k1::text, …]: a row's key as text, the form the choice keeps.
create or replace function public.tenant_backup__key_array(p_t json, p_alias text) returns text
language sql immutable set search_path = pg_catalog, pg_temp as $$
  select format('ARRAY[%s]::text[]', (select string_agg(format('%I.%I::text', p_alias, k), ', ')
                                     from json_array_elements_text(coalesce(p_t->'key', '[]'::json)) k))
$$;

-- SQL condition: rows of aliases a and b have the same key.
create or replace function public.tenant_backup__same_key(p_t json, p_a text, p_b text) returns text
language sql immutable set search_path = pg_catalog, pg_temp as $$
  select string_agg(format('%I.%I = %I.%I', p_a, k, p_b, k), ' AND ')
    from json_array_elements_text(coalesce(p_t->'key', '[]'::json)) k
$$;

-- The foreign keys the database declares between two tables of this restore: child i → parent j
-- (positions in p_rels), the child's columns and the parent's.
create or replace function public.tenant_backup__links(p_rels regclass[])
returns table (i int, j int, cols text[], pcols text[])
language sql stable set search_path = pg_catalog, pg_temp as $$
  select array_position(p_rels, con.conrelid), array_position(p_rels, con.confrelid),
    (select array_agg(a.attname::text order by k.ord) from unnest(con.conkey) with ordinality k(num, ord)
       join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num),
    (select array_agg(a.attname::text order by k.ord) from unnest(con.confkey) with ordinality k(num, ord)
       join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num)
  from pg_constraint con
  where con.contype = 'f' and con.conparentid = 0 and con.conrelid = any(p_rels) and con.confrelid = any(p_rels)
  order by 1, 2, con.conname
$$;

-- SQL text: a link's values in row alias p_alias, as one jsonb array (what a relink proved, and writes).
create or replace function public.tenant_backup__link_vals(p_cols text[], p_alias text) returns text
language sql immutable set search_path = pg_catalog, pg_temp as $$
  select format('jsonb_build_array(%s)', string_agg(format('%I.%I', p_alias, c), ', ')) from unnest(p_cols) c
$$;

-- SQL condition: child alias p_c's columns match parent alias p_p's (a link of __links).
create or replace function public.tenant_backup__link_match(p_cols text[], p_pcols text[], p_c text, p_p text)
returns text language sql immutable set search_path = pg_catalog, pg_temp as $$
  select string_agg(format('%I.%I = %I.%I', p_p, pc, p_c, cc), ' AND ') from unnest(p_cols, p_pcols) u(cc, pc)
$$;

-- The table descriptions as the phases read them: with --overwrite each is marked "overwrite" and
-- names its "org", which tenant_backup__written needs to tell the organization's own rows apart.
create or replace function public.tenant_backup__with_choice(p_tables json, p_org text, p_mode text, p_choice json)
returns json language sql immutable set search_path = pg_catalog, pg_temp as $$
  select case when p_mode = 'rows' and coalesce((p_choice->>'overwrite')::boolean, false) then
    (select coalesce(json_agg((e::jsonb || jsonb_build_object('overwrite', true, 'org', p_org))::json order by n), '[]'::json)
       from json_array_elements(p_tables) with ordinality x(e, n))
  else p_tables end
$$;

-- The temporary table holding a table's chosen rows (the same columns as its decoded rows).
create or replace function public.tenant_backup__pick_name(p_decoded regclass) returns text
language sql stable set search_path = pg_catalog, pg_temp as $$
  select 'tenant_backup_pick_' || substr(md5(relname), 1, 16) from pg_class where oid = p_decoded
$$;

-- Grow the choice along the foreign keys between restored tables until nothing more is found
-- (a cycle ends: a row is chosen once). 'dependent': the backup's child rows (c) of a chosen row;
-- 'parent': the backup's parent row (p) a chosen row written by this restore needs and that is
-- missing now.
create or replace function public.tenant_backup__grow(p_tables json, p_rels regclass[], p_decoded regclass[],
  p_mode text, p_why text) returns void
language plpgsql volatile as $$
declare
  l record;
  t json;
  tj json;
  down boolean := p_why = 'dependent';
  n bigint;
  grew bigint;
begin
  loop
    grew := 0;
    for l in select * from public.tenant_backup__links(p_rels) loop
      t := p_tables->(l.i - 1); tj := p_tables->(l.j - 1);
      continue when json_array_length(coalesce(t->'key', '[]'::json)) = 0
                 or json_array_length(coalesce(tj->'key', '[]'::json)) = 0;
      execute format('INSERT INTO tenant_backup_chosen SELECT DISTINCT %s, %s, %L FROM %s c JOIN %s p ON %s '
                     'JOIN tenant_backup_chosen s ON s.i = %s AND s.key = %s WHERE %s ON CONFLICT DO NOTHING',
                     case when down then l.i else l.j end,
                     case when down then public.tenant_backup__key_array(t, 'c') else public.tenant_backup__key_array(tj, 'p') end,
                     p_why, p_decoded[l.i], p_decoded[l.j], public.tenant_backup__link_match(l.cols, l.pcols, 'c', 'p'),
                     case when down then l.j else l.i end,
                     case when down then public.tenant_backup__key_array(tj, 'p') else public.tenant_backup__key_array(t, 'c') end,
                     case when down then 'TRUE' else format('%s AND NOT EXISTS (SELECT 1 FROM %s x WHERE %s)',
                       public.tenant_backup__written('c', p_mode, p_rels[l.i], t), p_rels[l.j],
                       public.tenant_backup__link_match(l.cols, l.pcols, 'c', 'x')) end);
      get diagnostics n = row_count;
      grew := grew + n;
    end loop;
    exit when grew = 0;
  end loop;
end $$;

-- Choose (mode 'rows'): the chosen rows of every table, as temporary tables shaped like the
-- decoded ones, which the phases then read instead; any other mode reads every decoded row.
-- Idempotent within a transaction (the dry run's row list chooses first, its rehearsal finds it).
-- Each chosen key must be a row of the backup; dependents and missing parents are added until
-- nothing more is found (a cycle ends: a row is chosen once).
create or replace function public.tenant_backup__choose(p_tables json, p_rels regclass[], p_decoded regclass[],
  p_org text, p_mode text, p_choice json) returns regclass[]
language plpgsql volatile as $$
declare
  picked regclass[] := '{}';
  t json;
  name text;
  keys json;
  key text[];
  typed text;
  missing text;
  tmp text;
begin
  if p_mode <> 'rows' then
    return p_decoded;
  end if;
  if to_regclass('pg_temp.tenant_backup_chosen') is null then
    create temp table tenant_backup_chosen (i int not null, key text[] not null, why text not null,
                                            primary key (i, key)) on commit drop;
    for i in 1 .. cardinality(p_rels) loop
      t := p_tables->(i - 1);
      name := public.tenant_backup__name(t);
      keys := p_choice->'keys'->name;
      continue when keys is null or json_array_length(keys) = 0;
      key := array(select json_array_elements_text(coalesce(t->'key', '[]'::json)));
      if cardinality(key) = 0 then
        raise exception 'table % has no key: its rows cannot be chosen one by one; restore it whole with --tables %',
          name, name using errcode = 'TB013';
      end if;
      -- The owner's text, read as the key columns' own types (so 'ABC…' finds the uuid 'abc…').
      typed := (select string_agg(format('d.%I = (c.v->>%s)::%s', k, o - 1, format_type(a.atttypid, a.atttypmod)), ' AND ')
                  from unnest(key) with ordinality u(k, o)
                  join pg_attribute a on a.attrelid = p_rels[i] and a.attname = u.k and a.attnum > 0);
      begin
        execute format('SELECT c.v::text FROM json_array_elements($1) c(v) WHERE json_array_length(c.v) <> %s '
                       'OR NOT EXISTS (SELECT 1 FROM %s d WHERE %s) LIMIT 1', cardinality(key), p_decoded[i], typed)
          using keys into missing;
      exception when data_exception then
        get stacked diagnostics missing = message_text;
        raise exception 'a chosen key of table % is not a key of it (%); name rows by %', name, missing,
          array_to_string(key, ':') using errcode = 'TB013';
      end;
      if missing is not null then
        raise exception 'table % has no row % in this backup; nothing was changed (list its rows with: tenant-backup show)',
          name, missing using errcode = 'TB013';
      end if;
      execute format('INSERT INTO tenant_backup_chosen SELECT DISTINCT %s, %s, ''chosen'' FROM %s d '
                     'JOIN json_array_elements($1) c(v) ON %s ON CONFLICT DO NOTHING',
                     i, public.tenant_backup__key_array(t, 'd'), p_decoded[i], typed) using keys;
    end loop;
    if not exists (select from tenant_backup_chosen) then
      raise exception 'no row was chosen: name rows with --rows TABLE=KEY' using errcode = 'TB013';
    end if;
    -- Dependents: the backup's rows that point at a chosen row, to any depth.
    if coalesce((p_choice->>'dependents')::boolean, false) then
      perform public.tenant_backup__grow(p_tables, p_rels, p_decoded, p_mode, 'dependent');
    end if;
    -- Parents: a row this restore writes needs its parent; one missing now is added from the backup.
    perform public.tenant_backup__grow(p_tables, p_rels, p_decoded, p_mode, 'parent');
  end if;
  for i in 1 .. cardinality(p_rels) loop
    t := p_tables->(i - 1);
    tmp := public.tenant_backup__pick_name(p_decoded[i]);
    if to_regclass('pg_temp.' || tmp) is null then
      if json_array_length(coalesce(t->'key', '[]'::json)) = 0 then
        execute format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT * FROM %s WITH NO DATA', tmp, p_decoded[i]);
      else
        execute format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT d.* FROM %s d WHERE EXISTS '
                       '(SELECT 1 FROM tenant_backup_chosen s WHERE s.i = %s AND s.key = %s)',
                       tmp, p_decoded[i], i, public.tenant_backup__key_array(t, 'd'));
      end if;
      execute format('ANALYZE %I', tmp);
    end if;
    picked := picked || to_regclass('pg_temp.' || tmp);
  end loop;
  return picked;
end $$;

-- How many rows of table i were chosen, by why: {"chosen": n, "dependent": n, "parent": n}.
create or replace function public.tenant_backup__chosen_count(p_i int) returns jsonb
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  counts jsonb;
begin
  if to_regclass('pg_temp.tenant_backup_chosen') is null then
    return null;
  end if;
  execute 'SELECT coalesce(jsonb_object_agg(why, n), ''{}'') FROM (SELECT why, count(*) AS n FROM pg_temp.tenant_backup_chosen '
          'WHERE i = $1 GROUP BY why) x' using p_i into counts;
  return counts;
end $$;

-- Links back (missing-only and rows, unless p_choice says "relink": false): the rows that exist now,
-- belong to the organization, hold NULL in a foreign key where the backup's row held a value, and
-- that value names a row this restore brings back (chosen, or missing-only's, and missing now).
-- Kept as (table position, key, the link's columns). Idempotent within a transaction.
create or replace function public.tenant_backup__relinks(p_tables json, p_rels regclass[], p_decoded regclass[],
  p_picked regclass[], p_org text, p_mode text, p_choice json) returns void
language plpgsql volatile as $$
declare
  l record;
  t json;
  tj json;
begin
  if to_regclass('pg_temp.tenant_backup_relink') is not null then
    return;
  end if;
  -- vals: the link's values, as proven here; the update writes exactly those (an edited backup may
  -- hold two lines of one key: the other line's value was never proven and must never be written).
  create temp table tenant_backup_relink (i int not null, key text[] not null, cols text[] not null,
                                          vals jsonb not null, primary key (i, key, cols)) on commit drop;
  if p_mode = 'replace' or not coalesce((p_choice->>'relink')::boolean, true) then
    return;
  end if;
  for l in select * from public.tenant_backup__links(p_rels) loop
    t := p_tables->(l.i - 1); tj := p_tables->(l.j - 1);
    continue when json_array_length(coalesce(t->'key', '[]'::json)) = 0
               or json_array_length(coalesce(tj->'key', '[]'::json)) = 0
               or exists (select from unnest(l.cols) c where c not in (select json_array_elements_text(coalesce(t->'columns', '[]'::json))));
    execute format('INSERT INTO tenant_backup_relink SELECT DISTINCT %s, %s, %L::text[], %s FROM %s d JOIN %s x ON %s '
                   'WHERE %s AND %s AND %s AND EXISTS (SELECT 1 FROM %s p WHERE %s AND NOT EXISTS '
                   '(SELECT 1 FROM %s y WHERE %s)) ON CONFLICT DO NOTHING',
                   l.i, public.tenant_backup__key_array(t, 'd'), l.cols, public.tenant_backup__link_vals(l.cols, 'd'),
                   p_decoded[l.i], p_rels[l.i],
                   public.tenant_backup__same_key(t, 'x', 'd'),
                   (select string_agg(format('x.%I IS NULL', c), ' AND ') from unnest(l.cols) c),
                   (select string_agg(format('d.%I IS NOT NULL', c), ' AND ') from unnest(l.cols) c),
                   public.tenant_backup__path_condition('x', t->'scope', p_org),
                   p_picked[l.j], public.tenant_backup__link_match(l.cols, l.pcols, 'd', 'p'),
                   p_rels[l.j], public.tenant_backup__same_key(tj, 'y', 'p'));
  end loop;
end $$;

-- How many rows of table i get a link back.
create or replace function public.tenant_backup__relink_count(p_i int) returns bigint
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  n bigint := 0;
begin
  if to_regclass('pg_temp.tenant_backup_relink') is not null then
    execute 'SELECT count(DISTINCT key) FROM pg_temp.tenant_backup_relink WHERE i = $1' using p_i into n;
  end if;
  return n;
end $$;

-- SQL condition: backup row p_s differs from current row p_c, other than in the links this restore
-- puts back (a row whose only difference is its NULL link is not a conflict: it gets the link).
create or replace function public.tenant_backup__differs(p_t json, p_i int, p_s text, p_c text) returns text
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  any_ boolean := false;
  plain text := format('%I::text IS DISTINCT FROM %I::text', p_s, p_c);
begin
  if to_regclass('pg_temp.tenant_backup_relink') is not null then
    execute 'SELECT EXISTS (SELECT 1 FROM pg_temp.tenant_backup_relink WHERE i = $1)' using p_i into any_;
  end if;
  if not any_ then
    return plain;
  end if;
  return format('(%s AND NOT coalesce((SELECT (to_jsonb(%I) - array_agg(rc)) = (to_jsonb(%I) - array_agg(rc)) '
                'FROM pg_temp.tenant_backup_relink r, unnest(r.cols) rc WHERE r.i = %s AND r.key = %s), false))',
                plain, p_s, p_c, p_i, public.tenant_backup__key_array(p_t, p_s));
end $$;

-- Put the links back (after the insert: they point at rows it wrote). The report's "relinked".
create or replace function public.tenant_backup__relink(p_report jsonb, p_tables json, p_rels regclass[],
  p_decoded regclass[]) returns jsonb
language plpgsql volatile as $$
declare
  g record;
  t json;
  name text;
  n bigint;
  msg text; detail text; state text;
begin
  if to_regclass('pg_temp.tenant_backup_relink') is null then
    return p_report;
  end if;
  for g in select distinct r.i, r.cols from pg_temp.tenant_backup_relink r order by 1, 2 loop
    t := p_tables->(g.i - 1);
    name := public.tenant_backup__name(t);
    begin
      execute format('UPDATE %s x SET (%s) = ROW(%s) FROM %s d WHERE %s AND EXISTS (SELECT 1 FROM '
                     'pg_temp.tenant_backup_relink r WHERE r.i = %s AND r.cols = %L::text[] AND r.key = %s AND r.vals = %s)',
                     p_rels[g.i], (select string_agg(format('%I', c), ', ') from unnest(g.cols) c),
                     (select string_agg(format('d.%I', c), ', ') from unnest(g.cols) c), p_decoded[g.i],
                     public.tenant_backup__same_key(t, 'x', 'd'), g.i, g.cols,
                     public.tenant_backup__key_array(t, 'd'), public.tenant_backup__link_vals(g.cols, 'd'));
      get diagnostics n = row_count;
    exception when others then
      get stacked diagnostics msg = message_text, detail = pg_exception_detail, state = returned_sqlstate;
      perform public.tenant_backup__fail(name, '', msg, detail, state);
    end;
    p_report := jsonb_set(p_report, array['tables', name, 'relinked'], to_jsonb(public.tenant_backup__relink_count(g.i)));
  end loop;
  return p_report;
end $$;

-- --overwrite: the chosen rows the organization holds now and that differ from the backup become
-- the backup's (only the organization's own rows: __written never counts another's as written).
-- Identity columns GENERATED ALWAYS keep their value (an UPDATE may not set them; they are keys).
create or replace function public.tenant_backup__overwrite(p_report jsonb, p_t json, p_rel regclass,
  p_picked regclass, p_cols text[]) returns jsonb
language plpgsql volatile as $$
declare
  name text := public.tenant_backup__name(p_t);
  cols text[] := array(select c from unnest(p_cols) c where not exists (select 1 from pg_attribute a
    where a.attrelid = p_rel and a.attname = c and a.attidentity = 'a'));
  refd text[];
  n bigint := 0;
  msg text; detail text; state text;
begin
  if json_array_length(coalesce(p_t->'key', '[]'::json)) = 0 or cardinality(cols) = 0 then
    return p_report;
  end if;
  -- Values other rows' validated foreign keys point at, that the overwrite changes: kept aside as
  -- __delete keeps a replace's removed keys, so __dangling finds the rows left pointing at them.
  refd := array(select c from unnest(public.tenant_backup__referenced(p_rel)) c where c = any(cols));
  begin
    if cardinality(refd) > 0 then
      execute format('DROP TABLE IF EXISTS pg_temp.%I', public.tenant_backup__gone(p_rel));
      execute format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT %s FROM %s x WHERE %s AND EXISTS (SELECT 1 FROM %s p '
                     'WHERE %s AND (%s) IS DISTINCT FROM (%s))', public.tenant_backup__gone(p_rel),
                     (select string_agg(format('x.%I', c), ', ') from unnest(refd) c), p_rel,
                     public.tenant_backup__path_condition('x', p_t->'scope', p_t->>'org'), p_picked,
                     public.tenant_backup__same_key(p_t, 'x', 'p'),
                     (select string_agg(format('x.%I', c), ', ') from unnest(refd) c),
                     (select string_agg(format('p.%I', c), ', ') from unnest(refd) c));
    end if;
    execute format('UPDATE %s AS x SET (%s) = ROW(%s) FROM %s p WHERE %s AND %s AND x::text IS DISTINCT FROM p::text',
                   p_rel, (select string_agg(format('%I', c), ', ') from unnest(cols) c),
                   (select string_agg(format('p.%I', c), ', ') from unnest(cols) c), p_picked,
                   public.tenant_backup__same_key(p_t, 'x', 'p'),
                   public.tenant_backup__path_condition('x', p_t->'scope', p_t->>'org'));
    get diagnostics n = row_count;
  exception when others then
    get stacked diagnostics msg = message_text, detail = pg_exception_detail, state = returned_sqlstate;
    perform public.tenant_backup__fail(name, '', msg, detail, state);
  end;
  return jsonb_set(p_report, array['tables', name, 'overwritten'], to_jsonb(n));
end $$;

-- A chosen-rows restore's fingerprint: every staged row's key with the row that holds it now
-- (whoever's), table by table. It covers what the choice and the writes depend on — which keys are
-- missing, the conflicts, the links to put back — without reading the rest of the tenant.
create or replace function public.tenant_backup__fingerprint_rows(p_tables json, p_rels regclass[], p_decoded regclass[])
returns text language plpgsql volatile as $$
declare
  t json;
  part text;
  parts text[] := '{}';
begin
  for i in 1 .. cardinality(p_rels) loop
    t := p_tables->(i - 1);
    continue when json_array_length(coalesce(t->'key', '[]'::json)) = 0;
    execute format('SELECT string_agg(%s::text || ''='' || coalesce(x::text, ''-''), E''\n'' ORDER BY %s) '
                   'FROM %s d LEFT JOIN %s x ON %s', public.tenant_backup__key_array(t, 'd'),
                   public.tenant_backup__key_array(t, 'd'), p_decoded[i], p_rels[i],
                   public.tenant_backup__same_key(t, 'x', 'd')) into part;
    parts := parts || (public.tenant_backup__name(t) || ':' || coalesce(part, ''));
  end loop;
  return 'rows:' || encode(sha256(convert_to(array_to_string(parts, E'\n'), 'UTF8')), 'hex');
end $$;

-- The fingerprint a dry run hands its apply: the tenant's (tenant_backup__fingerprint), or for
-- chosen rows the rows' own (which needs the decoded rows: decoded here, found later).
create or replace function public.tenant_backup__fingerprint_now(p_run_id uuid, p_org text, p_tables json,
  p_fp_tables json, p_mode text) returns text
language plpgsql volatile as $$
declare
  rels regclass[];
  decoded regclass[];
begin
  if p_mode <> 'rows' then
    return public.tenant_backup__fingerprint(p_org, p_fp_tables);
  end if;
  rels := public.tenant_backup__resolve(p_tables);
  perform set_config('search_path', public.tenant_backup__key_path(p_tables, rels), true);
  -- Decoded first, in a statement of its own: a function reading the rows must see them.
  decoded := public.tenant_backup__decode(p_tables, rels, p_run_id);
  return public.tenant_backup__fingerprint_rows(p_tables, rels, decoded);
end $$;
