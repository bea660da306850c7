-- Tenant Backup: the objects the tool needs in the application's database.
-- Idempotent: safe to run again; it upgrades an older install (or the old system's backup_logs)
-- in place. The version it installs is recorded in tenant_backup_meta.
create table if not exists public.backup_logs (
  id uuid primary key default gen_random_uuid(),
  backup_type text not null,
  status text not null,
  started_at timestamptz,
  completed_at timestamptz,
  records_backed_up bigint default 0,
  backup_size bigint default 0,
  tables_count integer default 0,
  metadata jsonb default '{}'::jsonb,
  errors jsonb default '[]'::jsonb,
  created_at timestamptz default now()
);
-- Columns the old system's table did not have.
alter table public.backup_logs add column if not exists organization_id uuid;
alter table public.backup_logs add column if not exists backup_id text;
alter table public.backup_logs add column if not exists run_by text;
alter table public.backup_logs add column if not exists run_host text;
alter table public.backup_logs add column if not exists tool_version text;
create index if not exists backup_logs_org_started_idx on public.backup_logs (organization_id, started_at desc);
create index if not exists backup_logs_started_idx on public.backup_logs (started_at desc);
-- The rows of jobs still running, by host: every job (and `history`) looks for this host's killed ones.
create index if not exists backup_logs_in_progress_idx on public.backup_logs (run_host) where status = 'in_progress';
-- Only the service role (and the owner) may read the history: it names every tenant.
alter table public.backup_logs enable row level security;

create table if not exists public.tenant_backup_meta (
  key text primary key,
  value text not null
);
alter table public.tenant_backup_meta enable row level security;
insert into public.tenant_backup_meta (key, value) values ('schema_version', '1')
  on conflict (key) do update set value = excluded.value;
