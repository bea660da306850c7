-- Tenant Backup's export side: the Supabase REST API's (PostgREST) functions, and the one definition
-- of a tenant's rows and their JSON (rows.sql) that the direct connection's export and the restore
-- engine use as well. Run after setup.sql. Idempotent. Every function here may be executed by service_role only: with the anon key row level
-- security would answer `200 []` and a backup would be silently empty, so an anon caller must get an
-- error instead. No function takes SQL text: tables and columns arrive as names (quoted with %I),
-- the organization id as a value (quoted with %L), types are read from the catalog here.
-- The lines `--@catalog.sql`, `--@last_backups.sql` and `--@rows.sql` below are replaced by those files
-- of resources/sql when this file is printed or installed (tenant_backup_gui.sources.supabase_rest
-- .setup_sql()): one copy of each, which the direct connection uses as well.

-- The catalog, exactly as the direct connection reads it. No `set search_path`: format_type names
-- types as the caller's search path sees them, the same as over a direct connection.
create or replace function public.tenant_backup_catalog(schemas text[])
returns table (schema_name name, table_name name, partitioned boolean, columns_json json, unique_keys json,
               foreign_keys json, primary_key text[])
language sql stable security invoker as $catalog$
--@catalog.sql
$catalog$;

-- Per tenant: its last successful backup and how its last backup ended (the tenant picker's warnings),
-- its last successful daily backup (the staleness warning). Dropped first: its columns grew.
drop function if exists public.tenant_backup_last_backups();
create or replace function public.tenant_backup_last_backups()
returns table (organization_id text, last_ok timestamptz, last_status text, last_started timestamptz,
               last_daily timestamptz)
language sql stable security invoker set search_path = pg_catalog as $last$
--@last_backups.sql
$last$;

--@rows.sql

-- Version 1's text builders, now rows.sql's tenant_backup_rows and tenant_backup_scope_condition.
drop function if exists public.tenant_backup_scope_from(json, json, text);
drop function if exists public.tenant_backup_row_expr(json);

-- The table a description names (tbl: {schema, name, …}); a missing one is 42P01, as PostgREST's own.
create or replace function public.tenant_backup_table_rel(tbl json) returns regclass
language plpgsql stable security invoker set search_path = pg_catalog as $$
declare
  rel regclass := to_regclass(format('%I.%I', tbl ->> 'schema', tbl ->> 'name'));
begin
  if rel is null then
    raise exception 'table %.% does not exist', tbl ->> 'schema', tbl ->> 'name' using errcode = '42P01';
  end if;
  return rel;
end $$;

-- The direct connection's export of one table: the query it COPYs to its client, one row JSON a
-- line (rows.sql). tbl: {schema, name, columns: [{name, as_text}]} (postgres.table_json); scope as
-- rows.sql reads it (core.scope.scope_json).
create or replace function public.tenant_backup_export_query(tbl json, scope json, org text) returns text
language sql stable security invoker set search_path = pg_catalog as $$
  select format('SELECT %s %s', r.row_json, r.source)
  from public.tenant_backup_rows(public.tenant_backup_table_rel(tbl), tbl -> 'columns', scope, org) r
$$;

-- PostgREST (12 and later) hands a function's result over untouched when the function returns a domain
-- named after the media type asked for: `Accept: text/plain` then gives the bytes of the text.
do $$ begin
  if not exists (select from pg_type where typname = 'text/plain' and typnamespace = 'public'::regnamespace) then
    create domain public."text/plain" as text;
  end if;
end $$;

-- One page of a tenant table: the rows strictly after `after` in key order (keyset, never OFFSET),
-- at most page_rows of them. Returned as one text/plain, so PostgREST sends its bytes as they are
-- (no JSON quoting, no max-rows: it is one value): the first line is the cursor for the next page (the last row's key as JSON
-- text values), then one row a line, each the row JSON of rows.sql (the bytes the direct export
-- writes). An empty string is an empty page: the end.
-- tbl: {schema, name, columns: [{name, as_text}], key: [column names]}; with no key the table is
-- paged by ctid (a TID range scan since PostgreSQL 14), which needs a plain table.
create or replace function public.tenant_backup_export_page(tbl json, scope json, org text,
                                                            after json default null, page_rows int default 5000)
returns public."text/plain" language plpgsql stable security invoker set search_path = pg_catalog set statement_timeout = '5min' as $$
declare
  rel regclass := public.tenant_backup_table_rel(tbl);
  keys text[] := array(select json_array_elements_text(coalesce(tbl -> 'key', '[]'::json)));
  tenant_rows record := public.tenant_backup_rows(rel, tbl -> 'columns', scope, org);
  keyexpr text;
  cursorexpr text;
  aftercond text := 'true';
  result text;
  last_key text;
  nkeys int;
begin
  -- Compare keys with their own types' operators: citext's `>` lives in its extension's schema, and
  -- with pg_catalog alone the comparison would fall back to text's, which disagrees with the ORDER BY
  -- (citext's own order) and skips rows. Local to this call (the function's SET restores it).
  perform set_config('search_path', concat_ws(',', 'pg_catalog', (
    select string_agg(distinct quote_ident(n.nspname), ',') from pg_attribute a
      join pg_type ty on ty.oid = a.atttypid join pg_namespace n on n.oid = ty.typnamespace
     where a.attrelid = rel and a.attname = any(keys) and n.nspname <> 'pg_catalog')), true);
  nkeys := greatest(cardinality(keys), 1);
  if cardinality(keys) = 0 then
    if (select relkind from pg_class where oid = rel) = 'p' then
      raise exception 'partitioned table %.% has no primary or unique key to page by', tbl ->> 'schema', tbl ->> 'name';
    end if;
    keyexpr := format('%I.ctid', 'tb$row');
    cursorexpr := format('json_build_object(''ctid'', %I.ctid::text)', 'tb$row');
    if after is not null then
      aftercond := format('%I.ctid > %L::tid', 'tb$row', after ->> 'ctid');
    end if;
  else
    keyexpr := (select string_agg(format('%I.%I', 'tb$row', k), ', ' order by o) from unnest(keys) with ordinality u(k, o));
    cursorexpr := format('json_build_object(%s)', (select string_agg(format('%L, %I.%I::text', k, 'tb$row', k), ', ' order by o)
                                                   from unnest(keys) with ordinality u(k, o)));
    if after is not null then
      -- The key's values come back as text and are cast to the column's own type, read here.
      aftercond := format('(%s) > (%s)', keyexpr,
        (select string_agg(format('%L::%s', after ->> k,
                  (select format_type(a.atttypid, a.atttypmod) from pg_attribute a
                    where a.attrelid = rel and a.attname = k and not a.attisdropped)), ', ' order by o)
           from unnest(keys) with ordinality u(k, o)));
    end if;
  end if;
  -- The page's rows in key order, and the last one's key as the cursor (orders spelled out in the
  -- aggregates: a subquery's order is not promised to survive into them).
  execute format('SELECT string_agg(j, E''\n'' ORDER BY %1$s), (array_agg(c ORDER BY %2$s))[1] '
                 'FROM (SELECT (%3$s)::text AS j, %4$s AS c, %5$s %6$s AND %7$s ORDER BY %8$s LIMIT %9$s) AS %10$I',
                 (select string_agg(format('%I', 'tb$k' || o), ', ' order by o) from generate_series(1, nkeys) o),
                 (select string_agg(format('%I DESC', 'tb$k' || o), ', ' order by o) from generate_series(1, nkeys) o),
                 tenant_rows.row_json, cursorexpr,
                 (select string_agg(format('%s AS %I', case when cardinality(keys) = 0 then keyexpr
                                                            else format('%I.%I', 'tb$row', keys[o]) end, 'tb$k' || o), ', ' order by o)
                    from generate_series(1, nkeys) o),
                 tenant_rows.source, aftercond, keyexpr, greatest(1, least(coalesce(page_rows, 5000), 100000)), 'tb$page')
    into result, last_key;
  if result is null then
    return '';
  end if;
  return last_key || E'\n' || result || E'\n';
end $$;

-- A digest of a tenant table's rows now (count and the sum of 64-bit hashes of their backup text,
-- order independent): equal before and after an export proves nothing moved under it — what the
-- count alone cannot prove for a table without a key, paged by its rows' physical position.
create or replace function public.tenant_backup_digest(tbl json, scope json, org text)
returns text language plpgsql stable security invoker set search_path = pg_catalog set statement_timeout = '5min' as $$
begin
  return public.tenant_backup_rows_digest(public.tenant_backup_table_rel(tbl), tbl -> 'columns', scope, org);
end $$;

-- How many rows of a tenant table there are now: the cross-check of an export where PostgREST's own
-- filters cannot express the path (a parent path only the config knows, a composite link).
create or replace function public.tenant_backup_count(tbl json, scope json, org text)
returns bigint language plpgsql stable security invoker set search_path = pg_catalog set statement_timeout = '5min' as $$
declare
  n bigint;
begin
  execute 'SELECT count(*) ' || (public.tenant_backup_rows(public.tenant_backup_table_rel(tbl), null, scope, org)).source
    into n;
  return n;
end $$;

-- The tenant lock over REST. A session advisory lock cannot span HTTP requests, so a run holds a
-- lease row instead, renewed while it works; a crashed run's lease expires. The advisory lock of the
-- direct connection (class {{LOCK_CLASS}}, core/constants.py; hashtext(org)) is tried too, so a REST run
-- never starts while a direct-connection run of the same tenant holds it.
create table if not exists public.tenant_backup_locks (
  organization_id text primary key,
  token uuid not null,
  holder text not null,
  acquired_at timestamptz not null default now(),
  expires_at timestamptz not null
);
alter table public.tenant_backup_locks enable row level security;

-- Returns {taken: true} or {taken: false, holder, since, expires_at}.
create or replace function public.tenant_backup_lock(org text, token uuid, holder text, ttl_seconds int)
returns json language plpgsql volatile security invoker set search_path = pg_catalog as $$
declare
  l public.tenant_backup_locks;
begin
  if pg_try_advisory_xact_lock({{LOCK_CLASS}}, hashtext(org)) then
    insert into public.tenant_backup_locks as t (organization_id, token, holder, acquired_at, expires_at)
    values (org, token, holder, now(), now() + make_interval(secs => ttl_seconds))
    on conflict (organization_id) do update
      set token = excluded.token, holder = excluded.holder, expires_at = excluded.expires_at,
          acquired_at = case when t.token = excluded.token then t.acquired_at else now() end
      where t.token = excluded.token or t.expires_at < now()
    returning * into l;
    if found then
      return json_build_object('taken', true);
    end if;
  end if;
  select * into l from public.tenant_backup_locks t
   where t.organization_id = org and t.expires_at >= now() and t.token <> tenant_backup_lock.token;
  if not found then  -- the advisory lock is held: a direct-connection run (or a taker this instant)
    return json_build_object('taken', false, 'holder', 'a run over a direct database connection');
  end if;
  return json_build_object('taken', false, 'holder', l.holder, 'since', l.acquired_at, 'expires_at', l.expires_at);
end $$;

-- Extends our lease; false when it is no longer ours (it expired and another run took it).
create or replace function public.tenant_backup_lock_renew(org text, token uuid, ttl_seconds int)
returns boolean language sql volatile security invoker set search_path = pg_catalog as $$
  with u as (
    update public.tenant_backup_locks t set expires_at = now() + make_interval(secs => ttl_seconds)
     where t.organization_id = org and t.token = tenant_backup_lock_renew.token returning 1)
  select exists (select from u);
$$;

create or replace function public.tenant_backup_unlock(org text, token uuid)
returns boolean language sql volatile security invoker set search_path = pg_catalog as $$
  with d as (
    delete from public.tenant_backup_locks t
     where t.organization_id = org and t.token = tenant_backup_unlock.token returning 1)
  select exists (select from d);
$$;

-- What is installed, and who we are: only the service role may call it, which is how a client
-- proves it holds the service role key and not the anon key.
create or replace function public.tenant_backup_info()
returns json language sql stable security invoker set search_path = pg_catalog as $$
  select json_build_object(
    'schema_version', (select value from public.tenant_backup_meta where key = 'schema_version'),
    'supabase_version', (select value from public.tenant_backup_meta where key = 'supabase_version'),
    'server_version', current_setting('server_version_num')::int,
    'role', current_user,
    'now', now());  -- the history's ages are the server's: two hosts' clocks are never compared
$$;

-- Only service_role may run these (Supabase grants new functions to anon and authenticated by default).
do $$
declare
  f text;
begin
  foreach f in array array[
    'public.tenant_backup_catalog(text[])', 'public.tenant_backup_scope_condition(text, json, text)',
    'public.tenant_backup_scope_path(text, json, text, boolean)',
    'public.tenant_backup_rows(regclass, json, json, text)', 'public.tenant_backup_rows_digest(regclass, json, json, text)',
    'public.tenant_backup_table_rel(json)', 'public.tenant_backup_export_query(json, json, text)',
    'public.tenant_backup_export_page(json, json, text, json, int)', 'public.tenant_backup_count(json, json, text)',
    'public.tenant_backup_digest(json, json, text)',
    'public.tenant_backup_lock(text, uuid, text, int)', 'public.tenant_backup_lock_renew(text, uuid, int)',
    'public.tenant_backup_unlock(text, uuid)', 'public.tenant_backup_info()',
    'public.tenant_backup_last_backups()']
  loop
    execute format('revoke execute on function %s from public', f);
    if exists (select from pg_roles where rolname = 'anon') then
      execute format('revoke execute on function %s from anon', f);
    end if;
    if exists (select from pg_roles where rolname = 'authenticated') then
      execute format('revoke execute on function %s from authenticated', f);
    end if;
    if exists (select from pg_roles where rolname = 'service_role') then
      execute format('grant execute on function %s to service_role', f);
    end if;
  end loop;
  revoke all on public.tenant_backup_locks from public;
  if exists (select from pg_roles where rolname = 'anon') then
    revoke all on public.tenant_backup_locks from anon;
  end if;
  if exists (select from pg_roles where rolname = 'authenticated') then
    revoke all on public.tenant_backup_locks from authenticated;
  end if;
  if exists (select from pg_roles where rolname = 'service_role') then
    grant select, insert, update, delete on public.tenant_backup_locks to service_role;
  end if;
end $$;

insert into public.tenant_backup_meta (key, value) values ('supabase_version', '2')
  on conflict (key) do update set value = excluded.value;

-- PostgREST caches the functions it may call: ask it to read them again.
notify pgrst, 'reload schema';
