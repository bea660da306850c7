-- Tenant Backup: the rows a restore's dry run would change, row by row (issue #21). Run just
-- before restore_engine.sql (services/inventory.py setup_sql), whose last block grants and revokes
-- these functions with its own: they read that engine's decoded backup rows
-- (tenant_backup__decoded) and its definition of the tenant's current rows
-- (tenant_backup__scope_query), so the list and the counts come from the same comparison.
--
-- Why a table: a dry run rolls its rehearsal back, and over REST every call is its own
-- transaction, so the list is written once, before the rehearsal, under the dry run's run id;
-- the client then reads it a page at a time (tenant_backup_row_page) and removes it
-- (tenant_backup_row_list_done). On the direct road the list lives in the dry run's own
-- transaction and goes with its rollback. Nothing of a whole table ever crosses to the client
-- at once.

create table if not exists public.tenant_backup_row_list (
  run_id uuid not null,
  tbl text not null,
  n bigint not null,
  kind text not null,        -- insert | update | delete | left (missing-only: differs, or only now, and is kept)
                             -- | relink (only its link comes back) | conflict (chosen, exists now and differs: kept)
  key jsonb not null,        -- the key's values, in the key's order (the whole row's text for a keyless table)
  label text,
  changes json,              -- update / left: {column: [now, backup]}, the columns that differ, in the table's order
  now_row json,              -- the whole row as it is now ({column: text}, in the table's order), where it exists now
  backup_row json,           -- the whole row in the backup, where the backup has it
  listed_at timestamptz not null default now(),
  primary key (run_id, tbl, n)
);
-- RLS on and no policies, no grants: only the owner's functions below read and write it.
alter table public.tenant_backup_row_list enable row level security;
revoke all on public.tenant_backup_row_list from public;
do $$
declare r text;
begin
  foreach r in array array['anon', 'authenticated', 'service_role'] loop
    continue when not exists (select from pg_roles where rolname = r);
    execute format('revoke all on public.tenant_backup_row_list from %I', r);
  end loop;
end $$;

-- Version 6's, before chosen rows.
drop function if exists public.tenant_backup__list_table(uuid, json, regclass, text, text);
drop function if exists public.tenant_backup__list_rows(uuid, text, json, text);
alter table public.tenant_backup_row_list add column if not exists why text;  -- chosen | dependent | parent (mode rows)

-- The list of one table (its description p_t, position p_i, the decoded backup rows p_decoded): every row the restore inserts, updates or deletes (replace), or inserts
-- and leaves different (missing-only), ordered by key; a row that only gets its link back is a
-- "relink" (restore_choice.sql). Chosen rows (mode rows) list only those rows: inserted, a
-- "conflict" (exists now and differs: left as it is) or, with --overwrite, updated; and the rows
-- that get a link back. Rows equal to the backup are not listed. Returns how many it listed.
create or replace function public.tenant_backup__list_table(p_run_id uuid, p_t json, p_i int, p_decoded regclass,
  p_org text, p_mode text) returns bigint
language plpgsql volatile as $$
declare
  key text[] := array(select json_array_elements_text(coalesce(p_t->'key', '[]'::json)));
  label text := p_t->>'label';
  cur_q text := public.tenant_backup__scope_query(p_t, p_org, format('%I.*', 'tb$row'));
  match text;
  keyval text;
  order_by text;
  label_expr text;
  kept text := case when p_mode = 'replace' then '' else 'left' end;
  changes text;
  n bigint;
begin
  if cardinality(key) = 0 then  -- a keyless table: rows compared whole, listed by their text
    if p_mode = 'rows' then
      return 0;  -- no row of it can be chosen
    end if;
    execute format($q$
      INSERT INTO public.tenant_backup_row_list (run_id, tbl, n, kind, key, label, changes)
      SELECT %L, %L, row_number() OVER (ORDER BY kind, t), kind, jsonb_build_array(t), null, null FROM (
        SELECT 'insert' AS kind, t FROM (SELECT p::text AS t FROM %s p EXCEPT ALL
                                         SELECT q::text FROM (%s) q) a
        UNION ALL
        SELECT %L, t FROM (SELECT q::text AS t FROM (%s) q EXCEPT ALL SELECT p::text FROM %s p) b) x$q$,
      p_run_id, public.tenant_backup__name(p_t), p_decoded, cur_q,
      coalesce(nullif(kept, ''), 'delete'), cur_q, p_decoded);
    get diagnostics n = row_count;
    return n;
  end if;
  match := (select string_agg(format('s.%I = c.%I', k, k), ' AND ') from unnest(key) k);
  keyval := (select format('jsonb_build_array(%s)', string_agg(format('coalesce(s.%I, c.%I)::text', k, k), ', '))
               from unnest(key) k);
  order_by := (select string_agg(format('coalesce(s.%I, c.%I)', k, k), ', ') from unnest(key) k);
  label_expr := case when label is null then 'null' else format('coalesce(s.%I, c.%I)::text', label, label) end;
  changes := format($c$CASE WHEN k.kind IN ('update', 'left', 'conflict', 'relink') AND s.%1$I IS NOT NULL AND c.%1$I IS NOT NULL THEN (
             SELECT json_object_agg(b.key, json_build_array(a.value #>> '{}', b.value #>> '{}'))
               FROM json_each(to_json(s)) b LEFT JOIN json_each(to_json(c)) a ON a.key = b.key
              WHERE a.value::text IS DISTINCT FROM b.value::text) END,
           CASE WHEN c.%1$I IS NOT NULL THEN (SELECT json_object_agg(e.key, e.value #>> '{}') FROM json_each(to_json(c)) e) END,
           CASE WHEN s.%1$I IS NOT NULL THEN (SELECT json_object_agg(e.key, e.value #>> '{}') FROM json_each(to_json(s)) e) END$c$,
           key[1]);
  if p_mode = 'rows' then
    execute format($q$
      INSERT INTO public.tenant_backup_row_list (run_id, tbl, n, kind, key, label, changes, now_row, backup_row, why)
      SELECT %2$L, %3$L, row_number() OVER (ORDER BY %4$s), k.kind, %5$s, %6$s, %7$s, w.why
        FROM %8$s s LEFT JOIN (%9$s) c ON %10$s
        LEFT JOIN pg_temp.tenant_backup_chosen w ON w.i = %11$s AND w.key = %12$s
       CROSS JOIN LATERAL (SELECT CASE
           WHEN w.why IS NULL THEN CASE WHEN c.%1$I IS NOT NULL AND EXISTS (SELECT 1 FROM pg_temp.tenant_backup_relink r
                                         WHERE r.i = %11$s AND r.key = %12$s) THEN 'relink' END
           WHEN c.%1$I IS NULL THEN CASE WHEN EXISTS (SELECT 1 FROM %13$s y WHERE %14$s) THEN 'conflict' ELSE 'insert' END
           WHEN %15$s THEN %16$L
           WHEN s::text IS DISTINCT FROM c::text THEN 'relink' END AS kind) k
       WHERE k.kind IS NOT NULL$q$,
      key[1], p_run_id, public.tenant_backup__name(p_t), order_by, keyval, label_expr, changes, p_decoded, cur_q, match,
      p_i, public.tenant_backup__key_array(p_t, 's'), public.tenant_backup__rel(p_t),
      public.tenant_backup__same_key(p_t, 'y', 's'), public.tenant_backup__differs(p_t, p_i, 's', 'c'),
      case when coalesce((p_t->>'overwrite')::boolean, false) then 'update' else 'conflict' end);
    get diagnostics n = row_count;
    return n;
  end if;
  execute format($q$
    INSERT INTO public.tenant_backup_row_list (run_id, tbl, n, kind, key, label, changes, now_row, backup_row)
    SELECT %2$L, %3$L, row_number() OVER (ORDER BY %4$s), kind, %5$s, %6$s, %11$s
      FROM (SELECT * FROM %7$s) s FULL JOIN (%8$s) c ON %9$s
      CROSS JOIN LATERAL (SELECT CASE WHEN c.%1$I IS NULL THEN 'insert'
                                      WHEN s.%1$I IS NULL THEN coalesce(nullif(%10$L, ''), 'delete')
                                      WHEN %12$s THEN coalesce(nullif(%10$L, ''), 'update')
                                      ELSE 'relink' END AS kind) k
     WHERE s.%1$I IS NULL OR c.%1$I IS NULL OR s::text IS DISTINCT FROM c::text$q$,
    key[1], p_run_id, public.tenant_backup__name(p_t), order_by, keyval, label_expr, p_decoded, cur_q, match, kept,
    changes, public.tenant_backup__differs(p_t, p_i, 's', 'c'));
  get diagnostics n = row_count;
  return n;
end $$;

-- Before a dry run's rehearsal: the list of every table whose description asks for it
-- ("list_rows"). It decodes (tenant_backup__decoded) and chooses (restore_choice.sql) the staged
-- rows the way the rehearsal does, which then finds them ready: the backup is parsed once. A
-- backup the rehearsal then refuses (a row of another organization) fails the whole call, this
-- list with it.
create or replace function public.tenant_backup__list_rows(p_run_id uuid, p_org text, p_tables json, p_mode text,
  p_choice json default null) returns void language plpgsql volatile as $$
declare
  tables json := public.tenant_backup__with_choice(p_tables, p_org, p_mode, p_choice);
  rels regclass[];
  decoded regclass[];
  picked regclass[];
  t json;
  msg text; detail text; state text;
begin
  if not exists (select 1 from json_array_elements(p_tables) e where (e->>'list_rows')::boolean) then
    return;
  end if;
  rels := public.tenant_backup__resolve(tables);
  perform set_config('search_path', public.tenant_backup__key_path(tables, rels), true);
  delete from public.tenant_backup_row_list where run_id = p_run_id;
  decoded := public.tenant_backup__decode(tables, rels, p_run_id);
  picked := public.tenant_backup__choose(tables, rels, decoded, p_org, p_mode, p_choice);
  perform public.tenant_backup__relinks(tables, rels, decoded, picked, p_org, p_mode, p_choice);
  for i in 1 .. cardinality(rels) loop
    t := tables->(i - 1);
    continue when not coalesce((t->>'list_rows')::boolean, false);
    begin
      perform public.tenant_backup__list_table(p_run_id, t, i, decoded[i], p_org, p_mode);
    exception when others then
      get stacked diagnostics msg = message_text, detail = pg_exception_detail, state = returned_sqlstate;
      perform public.tenant_backup__fail(public.tenant_backup__name(t), '', msg, detail, state);
    end;
  end loop;
end $$;

-- One page of a dry run's list for one table: rows after number p_after, at most p_limit, in key order.
create or replace function public.tenant_backup_row_page(p_run_id uuid, p_table text, p_after bigint default 0,
  p_limit integer default 1000) returns json
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select coalesce(json_agg(json_build_object('n', l.n, 'kind', l.kind, 'key', l.key, 'label', l.label,
                                             'changes', l.changes, 'now', l.now_row, 'backup', l.backup_row,
                                             'why', l.why)
                           order by l.n), '[]'::json)
    from (select * from public.tenant_backup_row_list
           where run_id = p_run_id and tbl = p_table and n > coalesce(p_after, 0)
           order by n limit least(greatest(coalesce(p_limit, 1000), 1), 10000)) l
$$;

-- The client read its list: remove it (and any list a dry run left behind over a day ago).
create or replace function public.tenant_backup_row_list_done(p_run_id uuid) returns integer
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare n integer;
begin
  delete from public.tenant_backup_row_list where run_id = p_run_id or listed_at < now() - interval '1 day';
  get diagnostics n = row_count;
  return n;
end $$;
