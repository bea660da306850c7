-- Tenant Backup: THE restore engine, on both roads: the functions `tenant-backup setup` installs.
-- `{{…}}` placeholders are filled from tenant_backup_gui/core/constants.py when setup composes its
-- script (services/inventory.py setup_sql): the lock class and the tool's own tables, defined once.
-- Idempotent: safe to run again; it replaces older versions of these functions in place.
-- Run it after setup.sql (backup_logs). In the Supabase SQL editor it runs as `postgres`, which
-- then owns these functions: that is what lets them do what the service role itself may not
-- (keep the app's triggers quiet with session_replication_role, lock tables).
--
-- Why SQL functions: a restore must be ONE transaction (delete, insert, check references, log —
-- or nothing), and the same code must run on both roads. Over REST every request is its own
-- transaction, so the backup's lines are first staged in batches into tenant_backup_staging, then
-- one RPC performs the whole restore. Over the direct connection the lines are COPYed into
-- temporary tables of the client's own transaction (each table description's "stage"), and the
-- client calls the same functions inside that transaction.
--
-- Trust nothing in the file: before any write, every row to be inserted is proven to belong to
-- the organization being restored (tenant_backup__trespass), or the whole restore is refused.
--
-- Safety rules kept throughout: every identifier goes through format('%I'), every value through
-- format('%L'); no SQL text is ever accepted from the caller. Only service_role may execute.

-- Rows of a backup waiting for their restore: the backup's own line text, exactly.
create table if not exists public.tenant_backup_staging (
  run_id uuid not null,
  tbl text not null,
  n bigint not null,
  r text not null,
  staged_at timestamptz not null default now(),
  primary key (run_id, tbl, n)
);
create index if not exists tenant_backup_staging_staged_at_idx on public.tenant_backup_staging (staged_at);
-- RLS on and no policies: only roles that bypass RLS (service_role) and the owner reach it.
alter table public.tenant_backup_staging enable row level security;
revoke all on public.tenant_backup_staging from public;
do $$ begin
  if exists (select from pg_roles where rolname = 'anon') then
    execute 'revoke all on public.tenant_backup_staging from anon';
  end if;
  if exists (select from pg_roles where rolname = 'authenticated') then
    execute 'revoke all on public.tenant_backup_staging from authenticated';
  end if;
  if exists (select from pg_roles where rolname = 'service_role') then
    execute 'grant select, insert, delete on public.tenant_backup_staging to service_role';
  end if;
end $$;

-- The version of these helpers: the client refuses to restore with missing or older ones.
create or replace function public.tenant_backup_restore_version() returns integer
language sql immutable as $$ select 7 $$;  -- 5: structural proofs; 6: the dry run lists its rows (restore_rows.sql);
                                           -- 7: chosen rows, dependents, links back (restore_choice.sql)

-- Version 1's signatures, replaced below (`create or replace` would keep them as overloads).
drop function if exists public.tenant_backup__run(uuid, text, json, text, boolean, text, json, json, text);
drop function if exists public.tenant_backup_staged_info(uuid, text, text[], json);
drop function if exists public.tenant_backup__null_row(json, regclass, uuid, text);

-- ------------------------------------------------------------------ internal helpers
-- (tenant_backup__*: called only by the functions below, which run as their owner)

-- The table a description names, refusing system schemas and the tool's own tables: the
-- service role may not use these helpers to write where the app's tenant data never lives.
create or replace function public.tenant_backup__rel(p_t json) returns regclass
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  s text := coalesce(p_t->>'schema', 'public');
  t text := p_t->>'table';
  rel regclass;
  caller text;
begin
  if t is null then
    raise exception 'a table description has no "table"' using errcode = 'TB010';
  end if;
  if s like 'pg\_%' or s in ('information_schema', 'auth', 'storage', 'vault', 'realtime', '_realtime',
      'supabase_functions', 'supabase_migrations', 'extensions', 'graphql', 'graphql_public', 'pgsodium',
      'pgsodium_masks', 'net', 'cron', 'pgbouncer') then
    raise exception 'table %.% is in a system schema: the restore helpers never write there', s, t
      using errcode = 'TB009';
  end if;
  if s = {{DEFAULT_SCHEMA}} and t = any({{OWN_TABLES}}) then
    raise exception 'table % is the tool''s own: a restore never rewrites it', t using errcode = 'TB009';
  end if;
  rel := to_regclass(format('%I.%I', s, t));
  if rel is null or (select relkind from pg_class where oid = rel) not in ('r', 'p') then
    raise exception 'table %.% does not exist in this database; run the dry run again', s, t
      using errcode = 'TB008';
  end if;
  -- These functions run as their owner; they must never reach a table the calling API role
  -- (PostgREST's `role`, e.g. service_role) could not read and write itself.
  caller := nullif(current_setting('role', true), 'none');
  if caller is not null and exists (select from pg_roles where rolname = caller)
     and not (has_table_privilege(caller, rel, 'SELECT') and has_table_privilege(caller, rel, 'INSERT')
              and has_table_privilege(caller, rel, 'DELETE')) then
    raise exception 'the API role % may not read and write table %.%: the restore helpers act only where it may',
      caller, s, t using errcode = 'TB009';
  end if;
  return rel;
end $$;

-- The name used in files, reports and staging: bare in public, schema-qualified elsewhere
-- (core/constants.py table_name).
create or replace function public.tenant_backup__qualified(p_schema text, p_table text) returns text
language sql immutable set search_path = pg_catalog, pg_temp as $$
  select case when coalesce(p_schema, {{DEFAULT_SCHEMA}}) = {{DEFAULT_SCHEMA}} then p_table else p_schema || '.' || p_table end
$$;

-- A table description's name.
create or replace function public.tenant_backup__name(p_t json) returns text
language sql immutable set search_path = pg_catalog, pg_temp as $$
  select coalesce(p_t->>'name', public.tenant_backup__qualified(p_t->>'schema', p_t->>'table'))
$$;

-- Every parent a scope's path reads, checked like any table the helpers touch (system schemas, the
-- tool's own, the API role's rights): these functions run as their owner.
create or replace function public.tenant_backup__check_path(p_scope json) returns void
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  hop json;
begin
  for hop in select h from json_array_elements(coalesce(p_scope->'path', '[]'::json)) h loop
    perform public.tenant_backup__rel(json_build_object('schema', coalesce(hop->>'parent_schema', 'public'),
                                                        'table', hop->>'parent_table'));
  end loop;
end $$;

-- WHERE condition: the row of alias p_alias belongs to the tenant (rows.sql's
-- tenant_backup_scope_condition, the one definition), once its parents have passed the checks.
create or replace function public.tenant_backup__path_condition(p_alias text, p_scope json, p_org text) returns text
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
begin
  perform public.tenant_backup__check_path(p_scope);
  return public.tenant_backup_scope_condition(p_alias, p_scope, p_org);
end $$;

-- Version 2's row JSON of its own, now rows.sql's tenant_backup_rows.
drop function if exists public.tenant_backup__export_expression(regclass);

-- SELECT p_select FROM the table WHERE the row belongs to the tenant (rows.sql).
create or replace function public.tenant_backup__scope_query(p_t json, p_org text, p_select text) returns text
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  rel regclass := public.tenant_backup__rel(p_t);
begin
  perform public.tenant_backup__check_path(p_t->'scope');
  return format('SELECT %s %s', p_select, (public.tenant_backup_rows(rel, null, p_t->'scope', p_org)).source);
end $$;

-- An order-independent digest of every current row of the tenant, table by table, over the rows'
-- backup JSON (rows.sql, which columns travel as text as the catalog says: catalog.sql).
create or replace function public.tenant_backup__fingerprint(p_org text, p_tables json) returns text
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  t json;
  rel regclass;
  cols json;
  parts text[] := '{}';
begin
  select json_object_agg(format('%I.%I', c.schema_name, c.table_name), c.columns_json) into cols
    from public.tenant_backup_catalog(array(select distinct coalesce(e->>'schema', 'public')
                                            from json_array_elements(p_tables) e)) c;
  for t in select e from json_array_elements(p_tables) e order by public.tenant_backup__name(e) collate "C" loop
    rel := public.tenant_backup__rel(t);
    perform public.tenant_backup__check_path(t->'scope');
    parts := parts || (public.tenant_backup__name(t) || '=' || public.tenant_backup_rows_digest(rel,
      cols->format('%I.%I', coalesce(t->>'schema', 'public'), t->>'table'), t->'scope', p_org));
  end loop;
  return encode(sha256(convert_to(array_to_string(parts, E'\n'), 'UTF8')), 'hex');
end $$;

-- FROM-able text: one table's staged lines as `r` (json). Over REST the rows staged under the run;
-- over the direct connection the description's "stage", which must be a temporary table of this
-- very session, or an unlogged tenant_backup_stage_* table created by this very transaction (that
-- one parallel workers can read, so the decoding runs on several cores; no other session sees it,
-- and a rollback removes it): nothing else can be read through it.
create or replace function public.tenant_backup__source(p_t json, p_run uuid) returns text
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  rel regclass;
begin
  if p_t->>'stage' is null then
    return format('(SELECT st.r::json AS r FROM public.tenant_backup_staging st WHERE st.run_id = %L AND st.tbl = %L)',
                  p_run, public.tenant_backup__name(p_t));
  end if;
  rel := to_regclass(p_t->>'stage');
  if rel is null or not exists (select from pg_class where oid = rel and (relnamespace = pg_my_temp_schema()
      or (relpersistence = 'u' and relkind = 'r' and relname like 'tenant\_backup\_stage\_%'
          and xmin = pg_current_xact_id()::xid))) then
    raise exception 'the staged rows of % must be in a temporary table of this session', public.tenant_backup__name(p_t)
      using errcode = 'TB009';
  end if;
  return format('(SELECT st.r::json AS r FROM %s st)', rel);
end $$;

-- SQL text: the organization a row of alias p_alias points to, following its scope's path over the
-- current rows of every tenant (NULL: it reaches none; rows.sql). Only used to name the culprit of a refusal.
create or replace function public.tenant_backup__owner(p_alias text, p_scope json) returns text
language sql stable set search_path = pg_catalog, pg_temp as $$
  select public.tenant_backup_scope_path(p_alias, p_scope, null, true)
$$;

-- SELECT the staged rows of one table as today's columns (sources/direct/restore.py):
-- json_populate_record converts PostgreSQL's own JSON back; text-encoded columns are cast from
-- their text; skipped columns (values that no longer fit) become NULL and are left out of the record.
create or replace function public.tenant_backup__rows(p_t json, p_rel regclass, p_run uuid, p_columns text[])
returns text language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  text_cols text[] := array(select json_array_elements_text(coalesce(p_t->'text_columns', '[]'::json)));
  skipped text[] := array(select json_array_elements_text(coalesce(p_t->'skipped', '[]'::json)));
  sel text;
  rec text := 's.r';
begin
  select string_agg(case
      when u.c = any(skipped) then format('NULL::%s AS %I', format_type(a.atttypid, a.atttypmod), u.c)
      when u.c = any(text_cols) then format('(s.r->>%L)::%s AS %I', u.c, format_type(a.atttypid, a.atttypmod), u.c)
      else format('p.%I AS %I', u.c, u.c) end, ', ' order by u.o)
    into sel
    from unnest(p_columns) with ordinality u(c, o)
    join pg_attribute a on a.attrelid = p_rel and a.attname = u.c and a.attnum > 0 and not a.attisdropped;
  if cardinality(skipped) > 0 then  -- leave those keys out, or json_populate_record would fail on them
    rec := format('(SELECT coalesce(json_object_agg(e.key, e.value), ''{}'') FROM json_each(s.r) e '
                  'WHERE e.key <> ALL(%L::text[]))', skipped);
  end if;
  return format('SELECT %s FROM %s s, json_populate_record(null::%s, %s) p',
                sel, public.tenant_backup__source(p_t, p_run), p_rel, rec);
end $$;

-- The staged rows of one table decoded once into a temporary table of today's columns (in their
-- order), dropped at commit; a second call in the same transaction finds it. Every check, the
-- comparison and the insert read it: the backup's JSON is parsed once. Decoding is most of a
-- restore's work on one core: where the stage is a table parallel workers may read (REST's staging
-- table, the direct road's unlogged stage) and every column's input function is parallel safe
-- (no domain checks, no composite types running user code), the planner is told that handing rows
-- between processes is cheap, so the decoding is spread over the server's cores. The number of
-- rows decoded is kept for the staged-count check (tenant_backup__decoded_rows). It is not
-- ANALYZEd (that sampled it once more per restore): the planner takes its row count from its pages,
-- which is what its plans need; the trust checks' joins over it are hashed (enable_nestloop off).
create or replace function public.tenant_backup__decoded(p_t json, p_rel regclass, p_run uuid) returns regclass
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  name text := public.tenant_backup__name(p_t);
  tmp text := 'tenant_backup_rows_' || substr(md5(p_run::text || '/' || public.tenant_backup__name(p_t)), 1, 16);
  all_cols text[];
  parallel boolean;
  setup_cost text := current_setting('parallel_setup_cost');
  tuple_cost text := current_setting('parallel_tuple_cost');
  n bigint;
  msg text; detail text; state text;
begin
  if to_regclass('pg_temp.' || tmp) is not null then
    return to_regclass('pg_temp.' || tmp);
  end if;
  all_cols := array(select attname::text from pg_attribute where attrelid = p_rel and attnum > 0
                    and not attisdropped order by attnum);
  parallel := not exists (
    select 1 from pg_attribute a
      join pg_type ty on ty.oid = a.atttypid
      left join pg_type el on el.oid = ty.typelem and ty.typcategory = 'A'
     where a.attrelid = p_rel and a.attnum > 0 and not a.attisdropped
       and (ty.typtype not in ('b', 'e') or coalesce(el.typtype, 'b') not in ('b', 'e')
            or exists (select 1 from pg_proc f where f.oid in (ty.typinput, el.typinput) and f.proparallel <> 's')));
  begin
    if parallel then
      perform set_config('parallel_setup_cost', '0', true);
      perform set_config('parallel_tuple_cost', '0', true);
    end if;
    execute format('CREATE TEMP TABLE %I ON COMMIT DROP AS %s', tmp,
                   public.tenant_backup__rows(p_t, p_rel, p_run, all_cols));
    get diagnostics n = row_count;
    perform set_config('parallel_setup_cost', setup_cost, true);
    perform set_config('parallel_tuple_cost', tuple_cost, true);
    perform set_config('tenant_backup.rows_' || tmp, n::text, true);
  exception when others then
    get stacked diagnostics msg = message_text, detail = pg_exception_detail, state = returned_sqlstate;
    perform public.tenant_backup__fail(name, '', msg, detail, state);
  end;
  return to_regclass('pg_temp.' || tmp);
end $$;

-- How many staged rows tenant_backup__decoded decoded into p_decoded in this transaction (each
-- staged line is one row: json_populate_record returns exactly one).
create or replace function public.tenant_backup__decoded_rows(p_decoded regclass) returns bigint
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  n bigint := nullif(current_setting('tenant_backup.rows_' || (select relname from pg_class where oid = p_decoded), true), '')::bigint;
begin
  if n is null then
    execute format('SELECT count(*) FROM %s', p_decoded) into n;
  end if;
  return n;
end $$;

-- Version 4's trespass, before it read the parents' descriptions (a decoy parent, issue 20).
drop function if exists public.tenant_backup__trespass(json, regclass, text, text, text[], regclass[]);

-- SQL text: a row of alias p_alias named by its key ('id=5', '(a, b)=(1, 2)') for a refusal's line.
create or replace function public.tenant_backup__key_text(p_t json, p_alias text) returns text
language sql immutable set search_path = pg_catalog, pg_temp as $$
  select case
    when cardinality(key) = 0 then quote_literal('(a row without a key)')
    when cardinality(key) = 1 then format('%L || coalesce(%I.%I::text, %L)', key[1] || '=', p_alias, key[1], 'NULL')
    else format('%L || concat_ws(%L, %s) || %L', '(' || array_to_string(key, ', ') || ')=(', ', ',
                (select string_agg(format('coalesce(%I.%I::text, %L)', p_alias, c, 'NULL'), ', ') from unnest(key) c), ')') end
  from (select array(select json_array_elements_text(coalesce(p_t->'key', '[]'::json))) as key) k
$$;

-- SQL condition: the decoded row of alias p_alias is one this restore really writes. Missing-only
-- and chosen rows skip a row whose key exists now (whoever owns that row): the proofs judge such a
-- key by the CURRENT row, never by the backup's (a decoy carrying another tenant's key, issue 20).
-- Chosen rows with --overwrite also write a row whose key the organization holds now
-- (tenant_backup__with_choice marks the descriptions "overwrite" and names the "org"); a key
-- another organization holds is never written.
create or replace function public.tenant_backup__written(p_alias text, p_mode text, p_rel regclass, p_t json)
returns text language sql stable set search_path = pg_catalog, pg_temp as $$
  select case when p_mode = 'replace' then 'TRUE'
              when json_array_length(coalesce(p_t->'key', '[]'::json)) = 0 then 'FALSE'
              else format('NOT EXISTS (SELECT 1 FROM %s x WHERE %s%s)', p_rel,
                          (select string_agg(format('x.%I = %I.%I', k, p_alias, k), ' AND ')
                             from json_array_elements_text(p_t->'key') k),
                          case when p_mode = 'rows' and coalesce((p_t->>'overwrite')::boolean, false) then
                            format(' AND NOT (%s)', public.tenant_backup_scope_condition('x', p_t->'scope', p_t->>'org'))
                          else '' end) end
$$;

-- SQL condition: no decoded parent row (alias p) that this restore really writes matches (p_match).
create or replace function public.tenant_backup__no_written_parent(p_decoded regclass, p_match text, p_mode text,
  p_rel regclass, p_t json) returns text
language sql stable set search_path = pg_catalog, pg_temp as $$
  select format('NOT EXISTS (SELECT 1 FROM %s p WHERE %s AND %s)', p_decoded, p_match,
                public.tenant_backup__written('p', p_mode, p_rel, p_t))
$$;

-- Trust nothing in the file: NULL when every decoded row of this table belongs to p_org, else one
-- line naming the first row that does not, by its key, and the organization it points to. A row of
-- the tenant-level table must carry p_org; a child row must reach its parent among the rows this
-- restore writes (proven already: parents are checked first) or — where the parent table is not
-- restored, or nothing is deleted (missing-only) — among the tenant's own current rows; never
-- through another tenant's row.
create or replace function public.tenant_backup__trespass(p_t json, p_decoded regclass, p_org text, p_mode text,
  p_names text[], p_decoded_all regclass[], p_tables json) returns text
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  name text := public.tenant_backup__name(p_t);
  hops json := coalesce(p_t->'scope'->'path', '[]'::json);
  anchor text := p_t->'scope'->>'anchor';
  key text[] := array(select json_array_elements_text(coalesce(p_t->'key', '[]'::json)));
  keyexpr text;
  hop json;
  parent text;
  k int;
  match text;
  cond text;
  row_key text;
  owner text;
  nestloop text;
begin
  keyexpr := public.tenant_backup__key_text(p_t, 'd');
  if json_array_length(hops) = 0 then
    execute format('SELECT %s, d.%I::text FROM %s d WHERE (d.%I = %L) IS NOT TRUE LIMIT 1',
                   keyexpr, anchor, p_decoded, anchor, p_org) into row_key, owner;
    if row_key is null then
      return null;
    end if;
    return format('table %s row %s belongs to %s, not to organization %s', name, row_key,
                  coalesce('organization ' || owner, 'no organization'), p_org);
  end if;
  hop := hops->0;
  parent := public.tenant_backup__qualified(hop->>'parent_schema', hop->>'parent_table');
  match := (select string_agg(format('p.%I = d.%I', pc, cc), ' AND ')
            from json_array_elements_text(hop->'columns') with ordinality a(cc, n)
            join json_array_elements_text(hop->'parent_columns') with ordinality b(pc, m) on m = n);
  k := array_position(p_names, parent);
  if k is not null then  -- the parent rows this restore really writes (missing-only: not those whose key exists)
    cond := public.tenant_backup__no_written_parent(p_decoded_all[k], match, p_mode,
      public.tenant_backup__rel(p_tables->(k - 1)), p_tables->(k - 1));
  end if;
  if k is null or p_mode <> 'replace' then  -- the tenant's own rows the restore leaves in place
    cond := concat_ws(' AND ', cond, format('NOT EXISTS (SELECT 1 FROM %I.%I AS p WHERE %s AND %s)',
      coalesce(hop->>'parent_schema', 'public'), hop->>'parent_table', match,
      public.tenant_backup__path_condition('p', json_build_object('anchor', anchor, 'path',
        (select coalesce(json_agg(h order by n), '[]'::json) from json_array_elements(hops) with ordinality x(h, n) where n > 1)),
        p_org)));
  end if;
  -- LIMIT 1 over an anti-join tempts the planner into a nested loop that rescans the parent for
  -- every row when (as it should be) no row is found: hash it.
  nestloop := current_setting('enable_nestloop');
  perform set_config('enable_nestloop', 'off', true);
  execute format('SELECT %s, %s FROM %s d WHERE %s LIMIT 1', keyexpr, public.tenant_backup__owner('d', p_t->'scope'),
                 p_decoded, cond) into row_key, owner;
  perform set_config('enable_nestloop', nestloop, true);
  if row_key is null then
    return null;
  end if;
  return format('table %s row %s points through %s to %s, not to organization %s', name, row_key, parent,
                coalesce('organization ' || owner, 'no organization'), p_org);
end $$;


-- One line naming the table, the row's key when known and the server's reason; never the row
-- itself ("Failing row contains (…)" would print every column, secrets included).
create or replace function public.tenant_backup__error(p_table text, p_row text, p_message text, p_detail text)
returns text language sql immutable set search_path = pg_catalog, pg_temp as $$
  select format('restoring table %s%s: %s%s; nothing was changed', p_table, coalesce(p_row, ''),
                split_part(p_message, E'\n', 1),
                case when coalesce(p_detail, '') = '' or p_detail like 'Failing row contains%' then ''
                     else format(' (%s)', split_part(p_detail, E'\n', 1)) end)
$$;

-- Raise a failure met while reading or writing a table: the engine's own refusals (TB…) as they
-- are, anything else as TB007 in one line (tenant_backup__error), the database's own SQLSTATE in
-- the HINT (a deadlock with the app stays a deadlock: the client retries it).
create or replace function public.tenant_backup__fail(p_table text, p_row text, p_message text, p_detail text,
  p_state text) returns void
language plpgsql immutable set search_path = pg_catalog, pg_temp as $$
begin
  if p_state like 'TB%' then
    raise exception '%', p_message using errcode = p_state;
  end if;
  raise exception '%', public.tenant_backup__error(p_table, p_row, p_message, p_detail) using errcode = 'TB007',
    hint = p_state;
end $$;

-- ' row id=5' for the first staged row whose `p_column` is NULL (a NOT NULL violation is the only
-- kind whose row the database does not name by its key), or ''.
create or replace function public.tenant_backup__null_row(p_t json, p_decoded regclass, p_column text)
returns text language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  key text[] := array(select json_array_elements_text(coalesce(p_t->'key', '[]'::json)));
  vals text[];
begin
  if cardinality(key) = 0 or p_column is null then
    return '';
  end if;
  execute format('SELECT ARRAY[%s] FROM %s x WHERE x.%I IS NULL LIMIT 1',
                 (select string_agg(format('x.%I::text', k), ', ') from unnest(key) k), p_decoded, p_column) into vals;
  if vals is null then
    return '';
  elsif cardinality(key) = 1 then
    return format(' row %s=%s', key[1], vals[1]);
  end if;
  return format(' row (%s)=(%s)', array_to_string(key, ', '), array_to_string(vals, ', ', 'NULL'));
end $$;


-- Version 3's engine took p_run / p_fp_tables and signalled "checked" by a NULL fingerprint.
drop function if exists public.tenant_backup__run(uuid, text, json, text, boolean, text, json, json, text, boolean, boolean);
-- Version 6's, before chosen rows (p_choice).
drop function if exists public.tenant_backup__run(uuid, text, json, text, boolean, text, json, json, text, boolean, boolean, boolean);
drop function if exists public.tenant_backup__lock(text, regclass[], json, boolean, text, boolean, text);
drop function if exists public.tenant_backup__compare(json, regclass[], regclass[], text, boolean);
drop function if exists public.tenant_backup_restore(uuid, text, json, text, boolean, text, json, json, text);
drop function if exists public.tenant_backup_check(uuid, text, json, text, text, json, text);

-- ------------------------------------------------------------------ the restore, phase by phase
-- tenant_backup__run tells the story; each phase below is one chapter of it. The phases have no
-- `set search_path` of their own: they run in __run's, which __key_path widens just enough for
-- the key columns' own `=` (citext's lives in its extension's schema). Only the owner may call them.
--
-- Refusals carry SQLSTATEs of the private class TB (sources/restore_engine.py REFUSALS maps them):
--   TB001 another backup or restore holds the tenant   TB002 the tenant's tables stay locked by others
--   TB003 the data changed since the dry run            TB004 staged rows lost on the way
--   TB005 a row belongs to another organization         TB006 references would dangle
--   TB007 the database refused a table's rows (its own SQLSTATE in the HINT)
--   TB008 a table or column changed since the dry run   TB009 outside what the helpers may touch
--   TB010 the call itself is malformed                  TB011 a column list leaves out a key/tenant/scope column
--   TB012 a value past a shared sequence                TB013 a chosen row is not in the backup (restore_choice.sql)
--   TBDRY the dry run's own rollback (internal)

-- A table's entry of the report, built here only: the comparison's counts, then what was written.
create or replace function public.tenant_backup__counts(p_t json, p_current bigint, p_insert bigint,
  p_update bigint, p_delete bigint) returns jsonb
language sql immutable set search_path = pg_catalog, pg_temp as $$
  select jsonb_build_object('record_count', (p_t->>'rows')::bigint, 'current_rows', p_current,
    'to_insert', p_insert, 'to_update', p_update, 'to_delete', p_delete,
    'unchanged', (p_t->>'rows')::bigint - p_insert - p_update, 'restored', 0, 'deleted', 0,
    'key', coalesce(p_t->'key', '[]')::jsonb,
    'key_kind', coalesce(p_t->>'key_kind', case when json_array_length(coalesce(p_t->'key', '[]')) > 0
                                                 then 'primary' else 'none' end))
$$;

-- Resolve: every table of the call, in its order; a missing one fails before anything is touched.
create or replace function public.tenant_backup__resolve(p_tables json) returns regclass[]
language sql stable set search_path = pg_catalog, pg_temp as $$
  select coalesce(array_agg(public.tenant_backup__rel(e) order by n), '{}')
    from json_array_elements(p_tables) with ordinality x(e, n)
$$;

-- The search path under which keys are compared: pg_catalog first, pg_temp last (nothing can
-- shadow a built-in operator), and between them only the schemas of the key columns' types.
create or replace function public.tenant_backup__key_path(p_tables json, p_rels regclass[]) returns text
language sql stable set search_path = pg_catalog, pg_temp as $$
  select concat_ws(', ', 'pg_catalog', (
    select string_agg(distinct quote_ident(n.nspname), ', ')
      from generate_subscripts(p_rels, 1) g
      join pg_attribute a on a.attrelid = p_rels[g] and a.attnum > 0 and not a.attisdropped
       and a.attname in (select json_array_elements_text(coalesce(p_tables->(g - 1)->'key', '[]'::json)))
      join pg_type ty on ty.oid = a.atttypid join pg_namespace n on n.oid = ty.typnamespace
     where n.nspname <> 'pg_catalog' and n.nspname not like 'pg\_temp%'), 'pg_temp')
$$;

-- Lock (an apply only): the tenant's advisory lock, every table the fingerprint covers, and the
-- fingerprint itself unless this transaction checked it already (p_checked).
create or replace function public.tenant_backup__lock(p_org text, p_rels regclass[], p_fingerprint_tables json,
  p_take_lock boolean, p_fingerprint text, p_checked boolean) returns void
language plpgsql volatile as $$
declare
  lock_rels regclass[] := array(select distinct x from unnest(p_rels || public.tenant_backup__resolve(p_fingerprint_tables)) x);
begin
  -- One backup or restore per tenant at a time: the advisory lock the direct-connection jobs hold.
  if p_take_lock and not pg_try_advisory_xact_lock({{LOCK_CLASS}}, hashtext(p_org)) then
    raise exception 'another backup or restore of organization % is running; try again when it has finished', p_org
      using errcode = 'TB001';
  end if;
  -- Writers to these tables wait until we commit or roll back (readers do not): nothing written
  -- between the fingerprint check and the commit can be lost.
  perform set_config('lock_timeout', '30s', true);
  begin
    execute format('LOCK TABLE %s IN EXCLUSIVE MODE', (select string_agg(x::text, ', ') from unnest(lock_rels) x));
  exception when lock_not_available then
    raise exception 'the tenant''s tables are busy (locked for over 30 s); try again shortly' using errcode = 'TB002';
  end;
  if not p_checked and public.tenant_backup__fingerprint(p_org, p_fingerprint_tables) is distinct from p_fingerprint then
    raise exception 'the data changed since the dry run; run it again' using errcode = 'TB003';
  end if;
end $$;

-- Decode each table's staged rows once (tenant_backup__decoded).
create or replace function public.tenant_backup__decode(p_tables json, p_rels regclass[], p_run_id uuid)
returns regclass[] language plpgsql volatile as $$
declare
  decoded regclass[] := '{}';
begin
  for i in 1 .. cardinality(p_rels) loop
    decoded := decoded || public.tenant_backup__decoded(p_tables->(i - 1), p_rels[i], p_run_id);
  end loop;
  return decoded;
end $$;

-- Arrived: every staged row arrived (a lost batch must never become a silently smaller restore:
-- every staged row was decoded, so the decoded count is the staged one).
create or replace function public.tenant_backup__arrived(p_tables json, p_decoded regclass[])
returns void language plpgsql stable as $$
declare
  staged bigint;
begin
  for i in 1 .. cardinality(p_decoded) loop
    staged := public.tenant_backup__decoded_rows(p_decoded[i]);
    if staged is distinct from (p_tables->(i - 1)->>'rows')::bigint then
      raise exception 'table %: % rows were sent but % are staged; run it again', public.tenant_backup__name(p_tables->(i - 1)),
        coalesce(p_tables->(i - 1)->>'rows', '?'), staged using errcode = 'TB004';
    end if;
  end loop;
end $$;

-- Verify, before any write: every row written belongs to p_org, parents first so a child may lean
-- on its proven parents. One refusal refuses all.
create or replace function public.tenant_backup__verify(p_tables json, p_decoded regclass[], p_org text, p_mode text)
returns void language plpgsql stable as $$
declare
  names text[] := array(select public.tenant_backup__name(e) from json_array_elements(p_tables) e);
  msg text;
begin
  for i in 1 .. cardinality(p_decoded) loop
    msg := public.tenant_backup__trespass(p_tables->(i - 1), p_decoded[i], p_org, p_mode, names, p_decoded, p_tables);
    if msg is not null then
      raise exception 'the backup is refused and nothing was changed: %', msg using errcode = 'TB005';
    end if;
  end loop;
end $$;

-- The column list is what is written, so it is what is checked (issue 20): a list that leaves out
-- a table's key, the tenant column or its scope's column is refused, never warned. Otherwise the
-- checks would read the backup's values of those columns while the insert writes their defaults
-- (new keys from a shared sequence, rows of nobody, a child under another parent).
create or replace function public.tenant_backup__columns(p_tables json, p_rels regclass[], p_tenant_column text)
returns void language plpgsql stable as $$
declare
  t json;
  cols text[];
  need text;
  why text;
begin
  for i in 1 .. cardinality(p_rels) loop
    t := p_tables->(i - 1);
    continue when coalesce((t->>'rows')::bigint, 0) = 0;
    cols := array(select json_array_elements_text(coalesce(t->'columns', '[]'::json)));
    select x.c, x.w into need, why from (
      select c, 'its key' as w, 1 as o from json_array_elements_text(coalesce(t->'key', '[]'::json)) c
      union all
      select p_tenant_column, 'the tenant column', 2 where exists (select from pg_attribute where attrelid = p_rels[i]
        and attname = p_tenant_column and attnum > 0 and not attisdropped)
      union all
      select t->'scope'->>'anchor', 'the column that ties it to its organization', 3
       where json_array_length(coalesce(t->'scope'->'path', '[]'::json)) = 0
      union all
      select c, 'the column that ties it to its parent', 4
        from json_array_elements_text(coalesce(t->'scope'->'path'->0->'columns', '[]'::json)) c
    ) x where x.c is not null and x.c <> all(cols) order by x.o limit 1;
    if need is not null then
      raise exception 'the backup is refused and nothing was changed: the column list of table % leaves out % (%), so its rows would be written other than they are checked',
        public.tenant_backup__name(t), need, why using errcode = 'TB011';
    end if;
  end loop;
end $$;

-- Serial and identity sequences are shared by every tenant: a restore writes only values a
-- sequence has drawn already (at or below its current value; nothing when it never drew), so it
-- never moves one (issue 20). A value past it — 9223372036854775807 would leave every other
-- tenant's next insert failing — is refused, naming the row and the sequence.
create or replace function public.tenant_backup__sequence_room(p_tables json, p_rels regclass[], p_decoded regclass[],
  p_mode text) returns void
language plpgsql stable as $$
declare
  t json;
  col text;
  seq regclass;
  cur bigint;
  row_key text;
  val text;
begin
  for i in 1 .. cardinality(p_rels) loop
    t := p_tables->(i - 1);
    continue when coalesce((t->>'rows')::bigint, 0) = 0;
    for col, seq, cur in
      select a.attname::text, s.seq, coalesce(pg_sequence_last_value(s.seq), ps.seqstart - ps.seqincrement)
        from pg_attribute a
        cross join lateral (
          select pg_get_serial_sequence(p_rels[i]::text, a.attname)::regclass as seq where a.attidentity <> ''
          union
          select d.refobjid::regclass from pg_attrdef ad
            join pg_depend d on d.classid = 'pg_attrdef'::regclass and d.objid = ad.oid and d.refclassid = 'pg_class'::regclass
            join pg_class sc on sc.oid = d.refobjid and sc.relkind = 'S'
           where ad.adrelid = p_rels[i] and ad.adnum = a.attnum) s
        join pg_sequence ps on ps.seqrelid = s.seq
       where a.attrelid = p_rels[i] and a.attnum > 0 and not a.attisdropped and s.seq is not null
         and a.atttypid in ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) and ps.seqincrement > 0
         and a.attname::text in (select json_array_elements_text(coalesce(t->'columns', '[]'::json)))
    loop
      execute format('SELECT %s, d.%I::text FROM %s d WHERE d.%I > $1 AND %s LIMIT 1',
                     public.tenant_backup__key_text(t, 'd'), col, p_decoded[i], col,
                     public.tenant_backup__written('d', p_mode, p_rels[i], t)) using cur into row_key, val;
      if row_key is not null then
        raise exception 'the backup is refused and nothing was changed: table % row % holds %=%, past sequence % (now at %), which every organization draws from; a restore writes only values the sequence has drawn (if this database is new, move the sequence past the backup''s values first)',
          public.tenant_backup__name(t), row_key, col, val, seq, cur using errcode = 'TB012';
      end if;
    end loop;
  end loop;
end $$;

-- Every foreign key of every row written, not only its scope's path (issue 20): it points at a row
-- this restore really writes, at one of the organization's own rows now, or into a table outside
-- the tenant's scope (a global lookup such as countries). A row pointing at another organization's
-- row (or at nobody's) is refused, on tables without the tenant column too. A value matching no row
-- at all is __dangling's to report. The scope's own key was proven by __trespass already.
create or replace function public.tenant_backup__foreign(p_tables json, p_rels regclass[], p_decoded regclass[],
  p_org text, p_mode text, p_scope_tables json) returns void
language plpgsql stable as $$
declare
  scope_rels regclass[] := public.tenant_backup__resolve(p_scope_tables);
  fk record;
  t json;
  pt json;
  hop json;
  i int; j int; k int;
  match text;
  cond text;
  row_key text;
  owner text;
  nestloop text := current_setting('enable_nestloop');
begin
  for fk in
    select con.conrelid, con.confrelid,
      (select array_agg(a.attname::text order by k.ord) from unnest(con.conkey) with ordinality k(num, ord)
         join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num) as cols,
      (select array_agg(a.attname::text order by k.ord) from unnest(con.confkey) with ordinality k(num, ord)
         join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num) as pcols
    from pg_constraint con
    where con.contype = 'f' and con.conrelid = any(p_rels) and con.conparentid = 0
    order by con.conrelid, con.conname
  loop
    i := array_position(p_rels, fk.conrelid);
    t := p_tables->(i - 1);
    continue when coalesce((t->>'rows')::bigint, 0) = 0
      or exists (select from unnest(fk.cols) c where c not in (select json_array_elements_text(coalesce(t->'columns', '[]'::json))));
    j := array_position(scope_rels, fk.confrelid);
    continue when j is null;  -- outside the tenant's scope: a table every organization shares
    pt := p_scope_tables->(j - 1);
    hop := t->'scope'->'path'->0;
    continue when (hop is null and fk.cols = array[t->'scope'->>'anchor'])
      or (hop is not null and fk.cols = array(select json_array_elements_text(hop->'columns'))
          and fk.confrelid = public.tenant_backup__rel(json_build_object('schema', coalesce(hop->>'parent_schema', 'public'),
                                                                         'table', hop->>'parent_table')));
    match := (select string_agg(format('p.%I = d.%I', pc, cc), ' AND ') from unnest(fk.cols, fk.pcols) u(cc, pc));
    k := array_position(p_rels, fk.confrelid);
    cond := case when k is null then 'TRUE'
                 else public.tenant_backup__no_written_parent(p_decoded[k], match, p_mode, p_rels[k], p_tables->(k - 1)) end;
    perform set_config('enable_nestloop', 'off', true);
    execute format('SELECT %s, (%s)::text FROM %s d JOIN %s p ON %s WHERE %s AND %s AND (%s) IS NOT TRUE LIMIT 1',
                   public.tenant_backup__key_text(t, 'd'), public.tenant_backup__owner('p', pt->'scope'),
                   p_decoded[i], fk.confrelid::regclass, match, public.tenant_backup__written('d', p_mode, p_rels[i], t), cond,
                   public.tenant_backup__path_condition('p', pt->'scope', p_org)) into row_key, owner;
    perform set_config('enable_nestloop', nestloop, true);
    if row_key is not null then
      raise exception 'the backup is refused and nothing was changed: table % row % points through % to a row of % that belongs to %, not to organization %',
        public.tenant_backup__name(t), row_key, array_to_string(fk.cols, ','), public.tenant_backup__name(pt),
        coalesce('organization ' || owner, 'no organization'), p_org using errcode = 'TB005';
    end if;
  end loop;
end $$;

-- What the structure cannot judge, listed for a backup this installation did not sign (its tables
-- carry "review"): the owner consented to it already (--trust-unsigned, the wizard's tick), and
-- sees here what it would claim. Values of unique keys (other than the primary key and those that
-- include the tenant column) the organization does not hold now — another tenant or a new sign-up
-- may need them — and changes to the organization's own row. Never the values themselves.
create or replace function public.tenant_backup__review(p_report jsonb, p_tables json, p_rels regclass[],
  p_decoded regclass[], p_org text, p_mode text, p_tenant_column text) returns jsonb
language plpgsql volatile as $$
declare
  t json;
  cols text[];
  key text[];
  ix record;
  n bigint;
  row_key text;
  changed text;
  line text;
begin
  for i in 1 .. cardinality(p_rels) loop
    t := p_tables->(i - 1);
    continue when not coalesce((t->>'review')::boolean, false) or coalesce((t->>'rows')::bigint, 0) = 0;
    cols := array(select json_array_elements_text(coalesce(t->'columns', '[]'::json)));
    key := array(select json_array_elements_text(coalesce(t->'key', '[]'::json)));
    for ix in
      select array_agg(a.attname::text order by k.ord) as ucols
        from pg_index x cross join lateral unnest(x.indkey) with ordinality k(num, ord)
        join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.num
       where x.indrelid = p_rels[i] and x.indisunique and not x.indisprimary and x.indexprs is null
       group by x.indexrelid
      having bool_and(a.attname::text <> p_tenant_column) and bool_and(a.attname::text = any(cols))
         and array_agg(a.attname::text order by k.ord) <> key
    loop
      execute format('SELECT count(*), min(%s) FROM %s d WHERE %s AND %s AND NOT EXISTS (SELECT 1 FROM (%s) c WHERE %s)',
        public.tenant_backup__key_text(t, 'd'), p_decoded[i],
        (select string_agg(format('d.%I IS NOT NULL', c), ' AND ') from unnest(ix.ucols) c),
        public.tenant_backup__written('d', p_mode, p_rels[i], t),
        public.tenant_backup__scope_query(t, p_org, format('%I.*', 'tb$row')),
        (select string_agg(format('c.%I = d.%I', c, c), ' AND ') from unnest(ix.ucols) c)) into n, row_key;
      if n > 0 then
        line := format('unsigned backup: %s row(s) of %s (first: row %s) would claim values of %s that organization %s does not hold now',
                       n, public.tenant_backup__name(t), row_key, array_to_string(ix.ucols, ', '), p_org);
        p_report := jsonb_set(p_report, '{warnings}', (p_report->'warnings') || to_jsonb(line));
      end if;
    end loop;
    -- The organization's own row: the tenant-level table, keyed by the column that names the tenant.
    if json_array_length(coalesce(t->'scope'->'path', '[]'::json)) = 0 and key = array[t->'scope'->>'anchor'] then
      execute format('SELECT string_agg(DISTINCT col, '', '') FROM %s d JOIN %s c ON c.%I = d.%I, unnest($1) col '
                     'WHERE d.%I::text = $2 AND to_jsonb(d)->col IS DISTINCT FROM to_jsonb(c)->col',
                     p_decoded[i], p_rels[i], key[1], key[1], key[1]) using cols, p_org into changed;
      if changed is not null then
        p_report := jsonb_set(p_report, '{warnings}', (p_report->'warnings') || to_jsonb(format(
          'unsigned backup: the organization''s own row in %s would change: %s', public.tenant_backup__name(t), changed)));
      end if;
    end if;
  end loop;
  return p_report;
end $$;

-- Compare the staged rows with today's: the report's per-table counts. An apply may pass the dry
-- run's counts instead ("known"): the fingerprint proved the data is the one they were counted on.
-- A row a link-back (tenant_backup__relinks) makes equal to the backup is no longer counted as
-- different. Chosen rows (p_mode 'rows', p_decoded the chosen ones) compare only those: each is
-- inserted when its key is missing, and otherwise is equal, or different (a conflict: left as it
-- is, or updated with --overwrite). Nothing else of the tenant is read.
create or replace function public.tenant_backup__compare(p_tables json, p_rels regclass[], p_decoded regclass[],
  p_org text, p_apply boolean, p_mode text default 'replace') returns jsonb
language plpgsql volatile as $$
declare
  t json;
  key text[];
  cur_q text;
  match text;
  differs text;
  n bigint; ins bigint; dele bigint; upd bigint;
  msg text; detail text; state text;
  plans jsonb := '{}';
  entry jsonb;
begin
  for i in 1 .. cardinality(p_rels) loop
    t := p_tables->(i - 1);
    if p_apply and json_typeof(t->'known') = 'object' then
      plans := plans || jsonb_build_object(public.tenant_backup__name(t), public.tenant_backup__counts(t,
        (t->'known'->>'current_rows')::bigint, (t->'known'->>'to_insert')::bigint,
        (t->'known'->>'to_update')::bigint, (t->'known'->>'to_delete')::bigint));
      continue;
    end if;
    key := array(select json_array_elements_text(coalesce(t->'key', '[]'::json)));
    begin
      cur_q := public.tenant_backup__scope_query(t, p_org, format('%I.*', 'tb$row'));
      match := (select string_agg(format('s.%I = c.%I', k, k), ' AND ') from unnest(key) k);
      differs := public.tenant_backup__differs(t, i, 's', 'c');
      if p_mode = 'rows' then
        if cardinality(key) = 0 then
          n := 0; ins := 0; upd := 0; dele := 0;
        else  -- dele: here the chosen rows equal to the backup now
          execute format($q$
            SELECT (SELECT count(*) FROM %1$s s WHERE NOT EXISTS (SELECT 1 FROM %2$s x WHERE %3$s)),
                   count(c.*), count(*) FILTER (WHERE %4$s), count(*) FILTER (WHERE s::text = c::text)
              FROM %1$s s JOIN (%5$s) c ON %6$s$q$,
            p_decoded[i], p_rels[i], public.tenant_backup__same_key(t, 's', 'x'), differs, cur_q, match) into ins, n, upd, dele;
        end if;
        entry := public.tenant_backup__counts(t, n, ins, 0, 0) || jsonb_build_object(
          'record_count', public.tenant_backup__decoded_rows(p_decoded[i]), 'unchanged', dele,
          'conflicts', upd, 'chosen', public.tenant_backup__chosen_count(i));
        if coalesce((t->>'overwrite')::boolean, false) then
          entry := entry || jsonb_build_object('to_update', upd);
        else
          entry := entry || jsonb_build_object('left_different', upd);
        end if;
        plans := plans || jsonb_build_object(public.tenant_backup__name(t), entry
          || jsonb_build_object('relinked', public.tenant_backup__relink_count(i)));
        continue;
      end if;
      execute format('SELECT count(*) FROM (%s) c', cur_q) into n;
      if cardinality(key) > 0 then
        -- Anti-joins (NOT EXISTS), never NOT IN: NOT IN over a large unhashable set is quadratic.
        execute format($q$
          WITH s AS NOT MATERIALIZED (SELECT * FROM %s), c AS MATERIALIZED (%s)
          SELECT (SELECT count(*) FROM s WHERE NOT EXISTS (SELECT 1 FROM c WHERE %s)),
                 (SELECT count(*) FROM c WHERE NOT EXISTS (SELECT 1 FROM s WHERE %s)),
                 (SELECT count(*) FROM s JOIN c ON %s WHERE %s)$q$,
          p_decoded[i], cur_q, match, match, match, differs) into ins, dele, upd;
      else
        execute format($q$
          WITH s AS (SELECT p::text AS t FROM (SELECT * FROM %s) p), c AS (SELECT q::text AS t FROM (%s) q)
          SELECT (SELECT count(*) FROM (SELECT t FROM s EXCEPT ALL SELECT t FROM c) a),
                 (SELECT count(*) FROM (SELECT t FROM c EXCEPT ALL SELECT t FROM s) b)$q$,
          p_decoded[i], cur_q) into ins, dele;
        upd := 0;
      end if;
    exception when others then
      get stacked diagnostics msg = message_text, detail = pg_exception_detail, state = returned_sqlstate;
      perform public.tenant_backup__fail(public.tenant_backup__name(t), '', msg, detail, state);
    end;
    plans := plans || jsonb_build_object(public.tenant_backup__name(t), public.tenant_backup__counts(t, n, ins, upd, dele)
      || jsonb_build_object('relinked', public.tenant_backup__relink_count(i)));
  end loop;
  return jsonb_build_object('tables', plans, 'warnings', '[]'::jsonb, 'problems', '[]'::jsonb, 'dangling', '[]'::jsonb);
end $$;

-- Keep the app's triggers (audit rows, e-mails) and the FK triggers quiet; the references the
-- database skips are checked by __dangling. Only a superuser-like role may set this: these
-- functions are SECURITY DEFINER for that reason (service_role may not).
create or replace function public.tenant_backup__quiet() returns void
language plpgsql volatile as $$
begin
  perform set_config('session_replication_role', 'replica', true);
exception when insufficient_privilege then
  raise exception 'the role that installed the restore helpers (%) may not set session_replication_role, which keeps the app''s triggers from firing; run the SQL from `tenant-backup setup --print-sql` as the postgres role',
    current_user using errcode = 'TB009';
end $$;

-- The temporary table that keeps the keys __delete removed from p_rel, which validated foreign
-- keys of other rows point at (__dangling checks those rows, and only those).
create or replace function public.tenant_backup__gone(p_rel regclass) returns text
language sql stable set search_path = pg_catalog, pg_temp as $$
  select 'tenant_backup_gone_' || p_rel::oid
$$;

-- The columns of p_rel that other rows' validated foreign keys point at (partitions' copies of a
-- key aside): the values a delete (__delete) or an overwrite (__overwrite) keeps aside for __dangling.
create or replace function public.tenant_backup__referenced(p_rel regclass) returns text[]
language sql stable set search_path = pg_catalog, pg_temp as $$
  select coalesce(array_agg(distinct a.attname::text), '{}')
    from pg_constraint con join pg_class c on c.oid = con.conrelid
    join pg_attribute a on a.attrelid = con.confrelid and a.attnum = any(con.confkey)
   where con.contype = 'f' and con.convalidated and con.confrelid = p_rel and not c.relispartition
$$;

-- Delete the tenant's current rows (replace), children before parents (a child's scope goes
-- through its parents, so they must still be there). Keys other rows reference are kept aside.
create or replace function public.tenant_backup__delete(p_report jsonb, p_tables json, p_rels regclass[], p_org text)
returns jsonb language plpgsql volatile as $$
declare
  name text;
  cond text;
  refd text;
  n bigint;
  msg text; detail text; state text;
begin
  for i in reverse cardinality(p_rels) .. 1 loop
    name := public.tenant_backup__name(p_tables->(i - 1));
    refd := (select string_agg(format('%I', c), ', ') from unnest(public.tenant_backup__referenced(p_rels[i])) c);
    begin
      cond := public.tenant_backup__path_condition('tb$row', p_tables->(i - 1)->'scope', p_org);
      if refd is null then
        execute format('DELETE FROM %s AS %I WHERE %s', p_rels[i], 'tb$row', cond);
        get diagnostics n = row_count;
      else
        execute format('DROP TABLE IF EXISTS pg_temp.%I', public.tenant_backup__gone(p_rels[i]));
        execute format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA',
                       public.tenant_backup__gone(p_rels[i]), refd, p_rels[i]);
        execute format('WITH d AS (DELETE FROM %s AS %I WHERE %s RETURNING %s) INSERT INTO pg_temp.%I SELECT * FROM d',
                       p_rels[i], 'tb$row', cond, refd, public.tenant_backup__gone(p_rels[i]));
        get diagnostics n = row_count;
        -- Nothing removed, nothing to check; else its true size, so the check probes by index.
        execute format(case when n = 0 then 'DROP TABLE pg_temp.%I' else 'ANALYZE pg_temp.%I' end,
                       public.tenant_backup__gone(p_rels[i]));
      end if;
    exception when others then
      get stacked diagnostics msg = message_text, detail = pg_exception_detail, state = returned_sqlstate;
      perform public.tenant_backup__fail(name, '', msg, detail, state);
    end;
    p_report := jsonb_set(p_report, array['tables', name, 'deleted'], to_jsonb(n));
  end loop;
  return p_report;
end $$;

-- Version 4's insert, which rehearsed every table's insert in a dry run.
drop function if exists public.tenant_backup__insert(jsonb, json, regclass[], regclass[], text);

-- Insert the staged rows, parents first; missing-only writes only rows whose key is absent.
-- A dry run draws no sequence value (a rollback never returns them, and every tenant shares the
-- sequence: issue 20): where a column left out of the list takes its default from a sequence
-- (a serial or identity column new since the backup), it only counts the rows it would write;
-- the table is listed in the report's "not_rehearsed" (__dangling reads its decoded rows instead).
create or replace function public.tenant_backup__insert(p_report jsonb, p_tables json, p_rels regclass[],
  p_decoded regclass[], p_mode text, p_apply boolean) returns jsonb
language plpgsql volatile as $$
declare
  t json;
  name text;
  cols text[];
  key text[];
  col text;
  overriding text;
  where_ text := '';
  written bigint;
  msg text; detail text; state text;
begin
  for i in 1 .. cardinality(p_rels) loop
    t := p_tables->(i - 1); name := public.tenant_backup__name(t);
    cols := array(select json_array_elements_text(coalesce(t->'columns', '[]'::json)));
    key := array(select json_array_elements_text(coalesce(t->'key', '[]'::json)));
    select c into col from unnest(cols) c
      where not exists (select 1 from pg_attribute a where a.attrelid = p_rels[i] and a.attname = c and a.attnum > 0
                        and not a.attisdropped and a.attgenerated = '');
    if col is not null then
      raise exception 'restoring table %: column % does not exist or is generated; run the dry run again', name, col
        using errcode = 'TB008';
    end if;
    written := 0;
    if p_mode = 'missing-only' and cardinality(key) = 0 then
      p_report := jsonb_set(p_report, '{warnings}', (p_report->'warnings') || to_jsonb(format(
        'table %s has no key: missing-only cannot tell which rows are missing; left as is', name)));
    elsif p_mode = 'rows' and cardinality(key) = 0 then
      null;  -- a row without a key cannot be chosen (tenant_backup__choose picks none)
    elsif cardinality(cols) > 0 then
      overriding := case when coalesce((t->>'identity_always')::boolean, false) or exists (
          select 1 from pg_attribute where attrelid = p_rels[i] and attnum > 0 and not attisdropped and attidentity = 'a')
        then ' OVERRIDING SYSTEM VALUE' else '' end;
      if p_mode <> 'replace' then
        where_ := format(' WHERE NOT EXISTS (SELECT 1 FROM %s x WHERE %s)', p_rels[i],
                         (select string_agg(format('x.%I = p.%I', k, k), ' AND ') from unnest(key) k));
      end if;
      if p_mode = 'rows' and coalesce((t->>'overwrite')::boolean, false) then  -- conflicts: made equal to the backup
        p_report := public.tenant_backup__overwrite(p_report, t, p_rels[i], p_decoded[i], cols);
      end if;
      if not p_apply and exists (select 1 from pg_attribute a where a.attrelid = p_rels[i] and a.attnum > 0
          and not a.attisdropped and a.attgenerated = '' and a.attname::text <> all(cols)
          and (a.attidentity <> '' or exists (select 1 from pg_attrdef ad
                 join pg_depend d on d.classid = 'pg_attrdef'::regclass and d.objid = ad.oid and d.refclassid = 'pg_class'::regclass
                 join pg_class sc on sc.oid = d.refobjid and sc.relkind = 'S'
                where ad.adrelid = a.attrelid and ad.adnum = a.attnum))) then
        execute format('SELECT count(*) FROM %s p%s', p_decoded[i], where_) into written;
        p_report := jsonb_set(p_report, '{not_rehearsed}', coalesce(p_report->'not_rehearsed', '[]') || to_jsonb(name));
      else
      begin
        execute format('INSERT INTO %s (%s)%s SELECT %s FROM %s p%s', p_rels[i],
                       (select string_agg(format('%I', c), ', ' order by o) from unnest(cols) with ordinality u(c, o)),
                       overriding,
                       (select string_agg(format('p.%I', c), ', ' order by o) from unnest(cols) with ordinality u(c, o)),
                       p_decoded[i], where_);
        get diagnostics written = row_count;
      exception when others then
        get stacked diagnostics msg = message_text, detail = pg_exception_detail, state = returned_sqlstate,
                                col = column_name;
        perform public.tenant_backup__fail(name,
          case when state = '23502' then public.tenant_backup__null_row(t, p_decoded[i], col) else '' end, msg, detail, state);
      end;
      end if;
    end if;
    if p_mode = 'missing-only' then  -- what it wrote is what was missing
      p_report := jsonb_set(p_report, array['tables', name], public.tenant_backup__counts(t,
        (p_report->'tables'->name->>'current_rows')::bigint, written, 0, 0) || jsonb_build_object(  -- kept as they are:
        'left_different', coalesce((p_report->'tables'->name->>'to_update')::bigint + (p_report->'tables'->name->>'to_delete')::bigint, 0),
        'unchanged', (t->>'rows')::bigint - written - coalesce((p_report->'tables'->name->>'to_update')::bigint, 0)
                     - coalesce((p_report->'tables'->name->>'relinked')::bigint, 0),  -- equal once relinked, not yet
        'relinked', coalesce(p_report->'tables'->name->'relinked', '0')));
    end if;
    if p_mode = 'rows' then  -- what it inserted, and (--overwrite) the conflicts it updated
      p_report := jsonb_set(p_report, array['tables', name, 'to_insert'], to_jsonb(written));
      written := written + coalesce((p_report->'tables'->name->>'overwritten')::bigint, 0);
    end if;
    p_report := jsonb_set(p_report, array['tables', name, 'restored'], to_jsonb(written));
  end loop;
  return p_report;
end $$;

-- References that no longer resolve (the database did not check them under replica mode), over
-- validated foreign keys into or out of the restored tables, whatever schema the other end is in,
-- and only where this restore made them: the rows it wrote (their parents must exist), and rows
-- anywhere that pointed at a key it removed (__delete kept those keys). Another tenant's orphan,
-- or a NOT VALID key's old rows, are not this restore's doing and never refuse it. (Rows pointing
-- into another tenant never get this far: __foreign refuses them before anything is written.)
create or replace function public.tenant_backup__dangling(p_report jsonb, p_tables json, p_rels regclass[],
  p_decoded regclass[], p_org text, p_mode text, p_tenant_column text) returns jsonb
language plpgsql volatile as $$
declare
  fk record;
  i int;
  key text[];
  match text;
  nn_cond text;
  written_cond text;
  child text;
  parent text;
  gone regclass;
  gone_match text;
  n bigint;
  m bigint;
  written bigint;
  j int;
  unrehearsed text;
begin
  for fk in
    select cn.nspname as cs, c.relname as cn, pn.nspname as ps, p.relname as pn, con.conrelid, con.confrelid,
      (select array_agg(a.attname::text order by k.ord) from unnest(con.conkey) with ordinality k(num, ord)
         join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num) as cols,
      (select array_agg(a.attname::text order by k.ord) from unnest(con.confkey) with ordinality k(num, ord)
         join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num) as pcols
    from pg_constraint con
    join pg_class c on c.oid = con.conrelid join pg_namespace cn on cn.oid = c.relnamespace
    join pg_class p on p.oid = con.confrelid join pg_namespace pn on pn.oid = p.relnamespace
    where con.contype = 'f' and con.convalidated and not c.relispartition
      and (con.conrelid = any(p_rels) or con.confrelid = any(p_rels))
    order by 1, 2, con.conname
  loop
    match := (select string_agg(format('p.%I = c.%I', pc, cc), ' AND ') from unnest(fk.cols, fk.pcols) u(cc, pc));
    gone_match := (select string_agg(format('g.%I = c.%I', pc, cc), ' AND ') from unnest(fk.cols, fk.pcols) u(cc, pc));
    nn_cond := (select string_agg(format('c.%I IS NOT NULL', cc), ' AND ') from unnest(fk.cols) cc);
    child := public.tenant_backup__qualified(fk.cs, fk.cn);
    parent := public.tenant_backup__qualified(fk.ps, fk.pn);
    j := array_position(p_rels, fk.confrelid);  -- a parent a dry run only counted: its decoded rows stand in
    unrehearsed := case when j is not null and coalesce(p_report->'not_rehearsed', '[]') ? parent then
      format(' AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s)', p_decoded[j], match) else '' end;
    i := array_position(p_rels, fk.conrelid);
    written := case when i is null then 0 else coalesce((p_report->'tables'->child->>'restored')::bigint, 0) end;
    key := case when i is null then '{}' else
      array(select json_array_elements_text(coalesce(p_tables->(i - 1)->'key', '[]'::json))) end;
    n := 0;
    if written > 0 then  -- the rows written: all of the decoded ones, or (missing-only) those now in the table
      written_cond := '';
      if p_mode <> 'replace' then
        written_cond := format(' AND EXISTS (SELECT 1 FROM %s x WHERE %s AND %s)', p_rels[i],
          (select string_agg(format('x.%I = c.%I', k, k), ' AND ') from unnest(key) k),
          (select string_agg(format('x.%I IS NOT DISTINCT FROM c.%I', cc, cc), ' AND ') from unnest(fk.cols) cc));
      end if;
      execute format('SELECT count(*) FROM %s c WHERE %s%s AND NOT EXISTS (SELECT 1 FROM %I.%I p WHERE %s)%s',
                     p_decoded[i], nn_cond, written_cond, fk.ps, fk.pn, match, unrehearsed) into n;
    end if;
    gone := case when p_mode in ('replace', 'rows') then to_regclass('pg_temp.' || public.tenant_backup__gone(fk.confrelid)) end;
    if gone is not null then  -- rows left pointing at a key this restore removed (not counted twice)
      execute format('SELECT count(*) FROM %I.%I c WHERE EXISTS (SELECT 1 FROM %s g WHERE %s) '
                     'AND NOT EXISTS (SELECT 1 FROM %I.%I p WHERE %s)%s%s', fk.cs, fk.cn, gone,
                     gone_match, fk.ps, fk.pn, match, unrehearsed,
                     case when written > 0 and cardinality(key) > 0 then format(
                       ' AND NOT EXISTS (SELECT 1 FROM %s d WHERE %s)', p_decoded[i],
                       (select string_agg(format('d.%I = c.%I', k, k), ' AND ') from unnest(key) k)) else '' end)
        into m;
      n := n + m;
    end if;
    if n > 0 then
      p_report := jsonb_set(p_report, '{dangling}', (p_report->'dangling') || jsonb_build_object(
        'table', child, 'columns', to_jsonb(fk.cols), 'parent', parent, 'rows', n, 'other_tenant', false));
      p_report := jsonb_set(p_report, '{problems}', (p_report->'problems') || to_jsonb(format(
        '%s row(s) of %s would reference missing %s rows through %s; put those %s rows back first, or restore '
        'without %s (--tables)', n, child, parent, array_to_string(fk.cols, ','), parent, child)));
    end if;
  end loop;
  return p_report;
end $$;

-- Serial and identity sequences past the restored ids, never backwards.
create or replace function public.tenant_backup__sequences(p_rels regclass[]) returns jsonb
language plpgsql volatile as $$
declare
  col text;
  seq text;
  n bigint;
  moved jsonb := '[]';
begin
  for i in 1 .. cardinality(p_rels) loop
    for col in select attname::text from pg_attribute where attrelid = p_rels[i] and attnum > 0 and not attisdropped
                 and atttypid in ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) order by attnum loop
      seq := pg_get_serial_sequence(p_rels[i]::text, col);
      continue when seq is null;
      execute format('SELECT max(%I)::bigint FROM %s', col, p_rels[i]) into n;
      if n is not null and n > coalesce(pg_sequence_last_value(seq::regclass), 0) then
        perform setval(seq::regclass, n);
        moved := moved || to_jsonb(seq);
      end if;
    end loop;
  end loop;
  return moved;
end $$;

-- The restore's history row, in the restore's own transaction: it exists iff the restore does.
-- A missing backup_logs must not undo the restore: that becomes a warning.
create or replace function public.tenant_backup__log(p_report jsonb, p_org text, p_log json) returns jsonb
language plpgsql volatile as $$
declare
  per_table jsonb := (select coalesce(jsonb_object_agg(key, value->'restored'), '{}') from jsonb_each(p_report->'tables'));
  msg text;
begin
  insert into public.backup_logs (backup_type, status, started_at, completed_at, organization_id, backup_id,
    records_backed_up, tables_count, metadata, run_by, run_host, tool_version)
  values ('restore', 'completed', statement_timestamp(), clock_timestamp(), p_org::uuid, p_log->>'backup_id',
    -- What changed (the job's plan counts it: core/report.py change_words), not the tenant's size.
    coalesce((p_log->'metadata'->>'records_changed')::bigint, (p_report->>'total_records_restored')::bigint),
    coalesce((p_log->'metadata'->>'tables_changed')::bigint, (select count(*) from jsonb_object_keys(per_table))),
    coalesce((p_log->'metadata')::jsonb, '{}'::jsonb)
      || jsonb_build_object('sequences_moved', p_report->'sequences_moved', 'tables', per_table),
    p_log->>'run_by', p_log->>'run_host', p_log->>'tool_version');
  return p_report;
exception when others then
  get stacked diagnostics msg = message_text;
  return jsonb_set(p_report, '{warnings}', (p_report->'warnings') || to_jsonb('history not written: ' || msg));
end $$;

-- The whole restore, in the caller's transaction (see tenant_backup_restore), as its phases.
-- p_lock: take the tenant's advisory lock (the direct road holds it already, on its own connection).
-- p_check_only: lock and verify, nothing else (before the caller's safety backup). p_checked: this
-- transaction ran p_check_only on these very staged rows and has held the locks since, so the
-- fingerprint, the staged counts and the rows' ownership stand proven (the direct road's apply;
-- only the owner may call __run, never the API). p_choice (restore_choice.sql): the chosen rows
-- of mode 'rows', and whether links come back (missing-only and rows).
create or replace function public.tenant_backup__run(p_run_id uuid, p_org text, p_tables json, p_mode text,
  p_apply boolean, p_fingerprint text, p_log json, p_fingerprint_tables json, p_tenant_column text,
  p_lock boolean default true, p_check_only boolean default false, p_checked boolean default false,
  p_choice json default null)
returns jsonb language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  tables json := public.tenant_backup__with_choice(p_tables, p_org, p_mode, p_choice);
  rels regclass[] := public.tenant_backup__resolve(p_tables);
  decoded regclass[];
  picked regclass[];
  report jsonb;
begin
  perform set_config('search_path', public.tenant_backup__key_path(tables, rels), true);
  decoded := public.tenant_backup__decode(tables, rels, p_run_id);  -- the backup's rows: no lock needed yet
  if not p_checked then
    perform public.tenant_backup__arrived(tables, decoded);
  end if;
  if p_apply then  -- chosen rows: their own fingerprint, read once the locks are held (below)
    perform public.tenant_backup__lock(p_org, rels, p_fingerprint_tables, p_lock, p_fingerprint,
                                       p_checked or p_mode = 'rows');
    if p_mode = 'rows' and not p_checked
       and public.tenant_backup__fingerprint_rows(tables, rels, decoded) is distinct from p_fingerprint then
      raise exception 'the data changed since the dry run; run it again' using errcode = 'TB003';
    end if;
  end if;
  -- The choice reads today's rows (which parents are missing): under the locks, in an apply.
  picked := public.tenant_backup__choose(tables, rels, decoded, p_org, p_mode, p_choice);
  if not p_checked then
    perform public.tenant_backup__columns(tables, rels, p_tenant_column);
    perform public.tenant_backup__verify(tables, picked, p_org, p_mode);
    perform public.tenant_backup__foreign(tables, rels, picked, p_org, p_mode, p_fingerprint_tables);
    perform public.tenant_backup__sequence_room(tables, rels, picked, p_mode);
  end if;
  if p_check_only then
    return jsonb_build_object('checked', true, 'tables', '{}'::jsonb, 'warnings', '[]'::jsonb, 'problems', '[]'::jsonb);
  end if;
  perform public.tenant_backup__relinks(tables, rels, decoded, picked, p_org, p_mode, p_choice);
  report := public.tenant_backup__compare(tables, rels, picked, p_org, p_apply, p_mode);
  if not p_apply then
    report := public.tenant_backup__review(report, tables, rels, picked, p_org, p_mode, p_tenant_column);
  end if;
  perform public.tenant_backup__quiet();
  if p_mode = 'replace' then
    report := public.tenant_backup__delete(report, tables, rels, p_org);
  end if;
  report := public.tenant_backup__insert(report, tables, rels, picked, p_mode, p_apply);
  report := public.tenant_backup__relink(report, tables, rels, decoded);
  report := report || jsonb_build_object('total_records_restored',
    (select coalesce(sum((value->>'restored')::bigint), 0) from jsonb_each(report->'tables')), 'sequences_moved', '[]'::jsonb);
  report := public.tenant_backup__dangling(report, tables, rels, picked, p_org, p_mode, p_tenant_column);
  if p_apply then
    if jsonb_array_length(report->'problems') > 0 then
      raise exception 'the restore was refused and nothing was changed: %', report->'problems'->>0 using errcode = 'TB006';
    end if;
    report := report || jsonb_build_object('sequences_moved', public.tenant_backup__sequences(rels));
    report := public.tenant_backup__log(report, p_org, p_log);
  end if;
  return report || jsonb_build_object('applied', p_apply, 'mode', p_mode);
end $$;

-- ------------------------------------------------------------------ the API (service_role only)

-- The tenant's current fingerprint. p_tables: [{name?, schema, table, scope: {anchor, path}}].
create or replace function public.tenant_backup_fingerprint(p_org text, p_tables json) returns text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select public.tenant_backup__fingerprint(p_org, p_tables)
$$;

-- What the client checks on staged rows before it plans: the keys the lines hold (a legacy backup
-- has no column list), how many rows hold a value for each of p_non_null (columns dropped since), and
-- how many values of each column of p_types ({column: today's type}) no longer fit it (null where the
-- server cannot tell: before 16). p_stage: the direct road's temporary table (tenant_backup__source).
create or replace function public.tenant_backup_staged_info(p_run_id uuid, p_table text,
  p_non_null text[] default '{}', p_types json default '{}', p_stage text default null) returns json
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  src text := public.tenant_backup__source(json_build_object('name', p_table, 'stage', p_stage), p_run_id);
  keys jsonb;
  non_null jsonb := '{}';
  unfit jsonb := '{}';
  c text;
  ty text;
  n bigint;
begin
  execute format('SELECT coalesce(jsonb_agg(k ORDER BY k), ''[]'') FROM (SELECT DISTINCT json_object_keys(s.r) AS k '
                 'FROM %s s WHERE json_typeof(s.r) = ''object'') x', src) into keys;
  foreach c in array coalesce(p_non_null, '{}') loop
    execute format('SELECT count(*) FROM %s s WHERE json_typeof(s.r->$1) IS DISTINCT FROM ''null'' '
                   'AND s.r->$1 IS NOT NULL', src) into n using c;
    non_null := non_null || jsonb_build_object(c, n);
  end loop;
  for c, ty in select key, value from json_each_text(coalesce(p_types, '{}')) loop
    if current_setting('server_version_num')::int < 160000 then
      unfit := unfit || jsonb_build_object(c, null);
      continue;
    end if;
    begin
      execute format('SELECT count(*) FROM %s s WHERE json_typeof(s.r->$1) IS DISTINCT FROM ''null'' '
                     'AND s.r->$1 IS NOT NULL AND NOT pg_input_is_valid(s.r->>$1, $2)', src) into n using c, ty;
    exception when others then
      n := null;  -- not a type name the server knows: the insert will say it, naming the table
    end;
    unfit := unfit || jsonb_build_object(c, n);
  end loop;
  return json_build_object('keys', keys, 'non_null', non_null, 'unconvertible', unfit);
end $$;

-- Staged rows older than a day belong to restores that never finished: remove them.
create or replace function public.tenant_backup_purge_staging() returns integer
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare n integer;
begin
  delete from public.tenant_backup_staging where staged_at < now() - interval '1 day';
  get diagnostics n = row_count;
  return n;
end $$;

-- Every refusal check of an apply, and nothing else, in its own transaction: the fingerprint, the
-- staged counts, and that every staged row belongs to p_org. The client runs it before its safety
-- backup (a refused restore must not have taken one); the apply then checks all of it again,
-- atomically with its writes. Leaves the staged rows in place for the apply.
create or replace function public.tenant_backup_check(p_run_id uuid, p_org text, p_tables json,
  p_mode text default 'replace', p_fingerprint text default null, p_fingerprint_tables json default null,
  p_tenant_column text default 'organization_id', p_choice json default null)
returns json language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
set statement_timeout = '15min' as $$
begin
  if p_fingerprint is null then
    raise exception 'an apply needs the fingerprint of its dry run; run the dry run first' using errcode = 'TB010';
  end if;
  return public.tenant_backup__run(p_run_id, p_org, p_tables, p_mode, true, p_fingerprint, '{}',
    coalesce(p_fingerprint_tables, p_tables), p_tenant_column, p_lock => true, p_check_only => true,
    p_choice => p_choice)::json;
end $$;

-- The restore of one tenant from the rows staged under p_run_id, in the RPC's one transaction.
-- Dry run (p_apply false): the same work, inside a block that is then rolled back (a custom
-- SQLSTATE raised at its end undoes its effects; the report survives in a variable), so its counts
-- and its list of dangling references are exact and it changes nothing. It also returns the
-- fingerprint the apply must find. Apply: tables locked, fingerprint re-checked, restore, sequences
-- moved, history row, commit. Either way this run's staged rows are removed; any error rolls back
-- everything.
-- SECURITY DEFINER, owned by the installing role (on Supabase `postgres`), with a fixed
-- search_path: service_role may not set session_replication_role nor lock every table.
create or replace function public.tenant_backup_restore(p_run_id uuid, p_org text, p_tables json,
  p_mode text default 'replace', p_apply boolean default false, p_fingerprint text default null,
  p_log json default '{}', p_fingerprint_tables json default null, p_tenant_column text default 'organization_id',
  p_choice json default null)
returns json language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
-- The whole restore is one API call: longer than the API roles' statement timeouts (service_role
-- falls back to the authenticator's 8 s on Supabase). PostgREST 12.2+ hoists this setting into the
-- request's transaction; past the API's own request limit, restore over the direct connection.
set statement_timeout = '15min' as $$
declare
  report jsonb;
  fp_tables json := coalesce(p_fingerprint_tables, p_tables);
  before text;
begin
  if p_mode is null or p_mode not in ('replace', 'missing-only', 'rows') then
    raise exception 'unknown mode % (use replace, missing-only or rows)', coalesce(p_mode, 'null') using errcode = 'TB010';
  end if;
  if p_tables is null or json_typeof(p_tables) <> 'array' then
    raise exception 'p_tables must be a JSON array of table descriptions' using errcode = 'TB010';
  end if;
  if p_org is null then
    raise exception 'no organization id given' using errcode = 'TB010';
  end if;
  if p_apply then
    if p_fingerprint is null then
      raise exception 'an apply needs the fingerprint of its dry run; run the dry run first' using errcode = 'TB010';
    end if;
    report := public.tenant_backup__run(p_run_id, p_org, p_tables, p_mode, true, p_fingerprint, p_log, fp_tables,
                                        p_tenant_column, p_lock => true, p_choice => p_choice);
    report := report || jsonb_build_object('fingerprint', p_fingerprint);
  else
    before := public.tenant_backup__fingerprint_now(p_run_id, p_org, p_tables, fp_tables, p_mode);
    perform public.tenant_backup__list_rows(p_run_id, p_org, p_tables, p_mode, p_choice);  -- restore_rows.sql
    begin
      report := public.tenant_backup__run(p_run_id, p_org, p_tables, p_mode, false, null, p_log, fp_tables,
                                          p_tenant_column, p_lock => false, p_choice => p_choice);
      raise exception using errcode = 'TBDRY', message = 'dry run: rolled back';
    exception when sqlstate 'TBDRY' then
      null;  -- everything the block did is undone; `report` keeps what it found
    end;
    if public.tenant_backup__fingerprint_now(p_run_id, p_org, p_tables, fp_tables, p_mode) is distinct from before then
      report := jsonb_set(report, '{problems}', (report->'problems')
                || to_jsonb('the tenant''s data changed during the dry run; run it again'::text));
      before := null;
    end if;
    report := report || jsonb_build_object('fingerprint', before);
  end if;
  delete from public.tenant_backup_staging where run_id = p_run_id;
  return (report || jsonb_build_object('helpers_version', public.tenant_backup_restore_version()))::json;
end $$;

-- Only the service role (and the owner) may execute any of this; the internal helpers, only the owner.
do $$
declare f record;
begin
  for f in select p.oid::regprocedure as sig, p.proname like 'tenant\_backup\_\_%' as internal
           from pg_proc p join pg_namespace n on n.oid = p.pronamespace
           where n.nspname = 'public' and (p.proname like 'tenant\_backup\_\_%' or p.proname in
             ('tenant_backup_restore_version', 'tenant_backup_fingerprint', 'tenant_backup_purge_staging',
              'tenant_backup_restore', 'tenant_backup_staged_info', 'tenant_backup_check',
              'tenant_backup_row_page', 'tenant_backup_row_list_done')) loop  -- the last two: restore_rows.sql
    execute format('revoke all on function %s from public', f.sig);
    if exists (select from pg_roles where rolname = 'anon') then
      execute format('revoke all on function %s from anon', f.sig);
    end if;
    if exists (select from pg_roles where rolname = 'authenticated') then
      execute format('revoke all on function %s from authenticated', f.sig);
    end if;
    if exists (select from pg_roles where rolname = 'service_role') then
      execute format(case when f.internal then 'revoke all on function %s from service_role'
                          else 'grant execute on function %s to service_role' end, f.sig);
    end if;
  end loop;
end $$;

-- Tell PostgREST (Supabase's REST API) to see the new functions now.
notify pgrst, 'reload schema';
