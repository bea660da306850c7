"""python -m tests.supabase_local — start the stand-in on the demo sandbox and print how to reach it."""

import signal
import sys


def main() -> int:
    from tenant_backup_gui.services import demo
    from .stack import SupabaseLocal
    from .storage_server import stop_all
    box = demo.start()
    stack = SupabaseLocal(box.url).start()
    print(f"SUPABASE_URL={stack.url}")
    print(f"anon key:         {stack.anon_key}")
    print(f"service role key: {stack.service_key}")
    print(f"storage:          {stack.url}/storage/v1 (the real Storage server {stack.storage.url}; its metadata "
          f"in the sandbox server's database {stack.storage.dbname}, its files in {stack.storage.data})")
    print("(REST at /rest/v1, Storage at /storage/v1; Ctrl-C stops it; the sandbox database keeps running: "
          "tenant-backup demo --stop)")
    sys.stdout.flush()
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
