"""The REST road: a tenant's rows over the Supabase API (PostgREST, through
sources/supabase_http.SupabaseProject), one module a concern — catalog (and the export functions'
arguments), tenants, snapshot, lock (a lease), history, setup."""
