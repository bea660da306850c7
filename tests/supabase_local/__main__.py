"""python -m tests.supabase_local — start the stand-in on the demo sandbox and print how to reach it."""

import signal
import sys


def main() -> int:
    from tenant_backup_gui.services import demo
    from .stack import SupabaseLocal
    box = demo.start()
    stack = SupabaseLocal(box.url).start()
    print(f"SUPABASE_URL={stack.url}")
    print(f"anon key:         {stack.anon_key}")
    print(f"service role key: {stack.service_key}")
    print(f"storage:          {stack.url}/storage/v1 (bucket metadata in the sandbox's storage schema)")
    print("(REST at /rest/v1, Storage at /storage/v1; Ctrl-C stops it; the sandbox database keeps running: "
          "tenant-backup demo --stop)")
    sys.stdout.flush()
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
