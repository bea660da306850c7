"""credentials: secrets in the OS keyring (the database URL, the Supabase service role key,
the backup encryption key)."""

from __future__ import annotations

import os
import sys

from .printers import out


def cmd_credentials(args) -> int:
    import getpass
    from ..core.errors import ConfigError
    from ..platform import credentials
    from ..sources.direct.connect import describe_url
    if args.supabase and args.action in ("set", "clear"):
        if args.action == "clear":
            credentials.delete_secret("supabase_service_role_key")
            out(args, {"stored": False}, "removed the Supabase service role key from the OS keyring")
            return 0
        from ..core.supabase_keys import key_role
        key = (sys.stdin.readline().strip() if not sys.stdin.isatty()
               else getpass.getpass("Supabase service role key (Project Settings → API): ").strip())
        if key_role(key) != "service_role":
            raise ConfigError("that is not a Supabase service role key (a JWT with role service_role, or an sb_secret_ "
                              "key); copy the service_role key from Project Settings → API — nothing was stored")
        credentials.set_secret("supabase_service_role_key", key)
        out(args, {"stored": True}, "stored in the OS keyring: the Supabase service role key (set the project URL "
                                     "with SUPABASE_URL or [supabase] url in the config)")
        return 0
    if args.action == "set":
        url = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("Database URL (with password): ")
        if not url:
            raise ConfigError("no URL given; pass it on standard input or type it at the prompt")
        credentials.set_secret("database_url", url)
        result = {"stored": True, "database": describe_url(url)}
        out(args, result, f"stored in the OS keyring: the database URL for {result['database']}")
    elif args.action == "clear":
        credentials.delete_secret("database_url")
        out(args, {"stored": False}, "removed the database URL from the OS keyring")
    elif args.action == "new-key" and args.print:
        from ..core.encryption import encode_key, key_id, new_key
        key = new_key()  # no keyring: for TENANT_BACKUP_KEY (a Kubernetes Secret, an env-file)
        result = {"key_id": key_id(key), "key": encode_key(key)}
        out(args, result, result["key"])
    elif args.action == "new-key":
        from ..core.encryption import encode_key, key_id, new_key
        if credentials.get_secret("backup_key") is not None and not args.replace:
            raise ConfigError("the keyring already holds a backup key; backups made with it need it to be restored — "
                              "export it first (credentials export-key), then pass --replace")
        key = new_key()
        credentials.set_backup_key(key)
        result = {"key_id": key_id(key), "key": encode_key(key)}
        out(args, result, f"new backup key {result['key_id']} stored in the OS keyring. Keep this recovery copy "
                           f"somewhere safe — without it, encrypted backups cannot be restored elsewhere:\n{result['key']}")
    elif args.action == "export-key":
        from ..core.encryption import encode_key, key_id
        key = credentials.backup_key()
        if key is None:
            raise ConfigError(f"the keyring holds no backup key and {credentials.KEY_ENV} is not set; create one "
                              f"with: tenant-backup credentials new-key")
        out(args, {"key_id": key_id(key), "key": encode_key(key)}, encode_key(key))
    elif args.action == "import-key":
        from ..core.encryption import decode_key, key_id
        text = sys.stdin.readline() if not sys.stdin.isatty() else getpass.getpass("Backup key (base64): ")
        key = decode_key(text)
        credentials.set_backup_key(key)
        out(args, {"key_id": key_id(key)}, f"backup key {key_id(key)} stored in the OS keyring")
    else:
        url = credentials.get_secret("database_url")
        supabase = bool(credentials.get_secret("supabase_service_role_key"))
        result = {"stored": bool(url), "database": describe_url(url) if url else None,
                  "environment_overrides": bool(os.environ.get("TENANT_BACKUP_DATABASE_URL")),
                  "supabase_key_stored": supabase}
        out(args, result, (f"the OS keyring holds the database URL for {result['database']}" if url
                            else "the OS keyring holds no database URL")
             + ("\n  (TENANT_BACKUP_DATABASE_URL is set and wins)" if result["environment_overrides"] else "")
             + ("\nthe OS keyring holds the Supabase service role key" if supabase else ""))
    return 0


def register(add) -> None:
    cr = add("credentials", cmd_credentials, "secrets in the OS keyring: the database URL or, with --supabase, the "
             "service role key (set from stdin or a prompt, clear, status) and the backup key that signs (and, "
             "with encryption on, encrypts) every backup (new-key, export-key, import-key)")
    cr.add_argument("action", choices=["set", "clear", "status", "new-key", "export-key", "import-key"])
    cr.add_argument("--replace", action="store_true", help="with new-key: replace an existing backup key")
    cr.add_argument("--print", action="store_true", help="with new-key: only print a new key, store it nowhere (for "
                    "TENANT_BACKUP_KEY in a scheduler's env-file or a Kubernetes Secret)")
    cr.add_argument("--supabase", action="store_true", help="with set/clear: the Supabase service role key instead "
                    "of the database URL")
