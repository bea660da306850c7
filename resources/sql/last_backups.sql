-- Per tenant: when its last successful backup finished and how its last backup ended — what the
-- tenant picker warns about — and when its last successful daily backup finished (the daily run's
-- staleness warning, per tenant so that a shard that never ran shows). Read by the direct connection and installed as the body of
-- public.tenant_backup_last_backups() for the REST road (one copy of the query).
select organization_id::text as organization_id,
  max(completed_at) filter (where status = 'completed'
                            and backup_type in ('manual', 'daily_tenant', 'safety')) as last_ok,
  (array_agg(status order by started_at desc))[1] as last_status,
  max(started_at) as last_started,
  max(completed_at) filter (where status = 'completed' and backup_type = 'daily_tenant') as last_daily
from public.backup_logs
where organization_id is not null and backup_type in ('manual', 'daily_tenant', 'safety')
group by organization_id
