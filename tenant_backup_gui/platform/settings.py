"""Settings from the config file and the environment; the environment always wins.

No secret is ever read from or written to the config file: a database URL there may not carry a
password (put the whole URL in TENANT_BACKUP_DATABASE_URL, or use the keyring), and the Supabase
service role key comes from SUPABASE_SERVICE_ROLE_KEY or the keyring only.

Two ways to the rows: a database URL (direct, one snapshot, fastest) or the Supabase project URL
and service role key (REST). With both, rows travel over the direct connection. Backups go to a
folder, or to Supabase Storage (TENANT_BACKUP_STORE=supabase), optionally mirrored to a folder."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from ..core.config import Config, parse_config
from ..core.errors import ConfigError, CredentialsUnavailable, TenantBackupError
from . import credentials, paths


@dataclass(frozen=True)
class Settings:
    config: Config
    config_path: Path | None
    database_url: str | None
    store_path: Path
    url_source: str | None = None  # "environment" | "config" | "keyring"
    notes: tuple[str, ...] = ()  # e.g. why the keyring was not consulted
    supabase_url: str | None = None
    supabase_key: str | None = field(default=None, repr=False)  # a secret: never printed
    store_kind: str = "folder"  # "folder" | "supabase"
    bucket: str = "backups"
    mirror_path: Path | None = None
    key_note: str | None = None  # why the keyring could not give the Supabase key

    @property
    def configured(self) -> bool:
        """A road to the rows exists: a database URL, or a Supabase project with its key."""
        return bool(self.database_url) or bool(self.supabase_url and self.supabase_key)

    @property
    def direct(self) -> bool:
        """Rows over a direct PostgreSQL connection (else over the Supabase REST API)."""
        return bool(self.database_url) or not (self.supabase_url and self.supabase_key)

    def database_problem(self) -> TenantBackupError | None:
        """What keeps us from reaching the tenants' rows, by either road."""
        if not self.direct:
            return None
        try:
            if not self.database_url and self.supabase_url:
                self.require_supabase()  # the project is set, its key is not: say that, not "no database"
            self.require_database()
        except TenantBackupError as err:
            return err
        return None

    def require_supabase(self) -> tuple[str, str]:
        if not self.supabase_url:
            raise ConfigError("no Supabase project configured; set SUPABASE_URL=https://<project>.supabase.co "
                              "(or [supabase] url in the config)")
        if not self.supabase_key and self.key_note:
            raise CredentialsUnavailable(f"no Supabase service role key: {self.key_note}")
        if not self.supabase_key:
            raise ConfigError("no Supabase service role key; set SUPABASE_SERVICE_ROLE_KEY or save it with: "
                              "tenant-backup credentials set --supabase")
        return self.supabase_url, self.supabase_key

    def require_database(self) -> str:
        if not self.database_url and self.notes:
            # Nothing in the environment or the config, and the keyring could not be asked.
            raise CredentialsUnavailable(f"no database configured: {self.notes[0]}")
        if not self.database_url:
            raise ConfigError("no database configured; set TENANT_BACKUP_DATABASE_URL=postgresql://user:password@host:5432/db "
                              "or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY, or save them in the window's Settings "
                              "(or run `tenant-backup demo --headless` for a sandbox)")
        return self.database_url


def config_path() -> Path:
    env = os.environ.get("TENANT_BACKUP_CONFIG")
    if env:
        return Path(env).expanduser()
    name = paths.profile()
    return paths.config_dir() / ("config.toml" if name == "default" else f"profiles/{name}.toml")


def load_config(path: Path, required: bool) -> Config:
    if not path.exists():
        if required:
            raise ConfigError(f"config file {path} (TENANT_BACKUP_CONFIG) does not exist; create it or unset the variable")
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}; fix that line") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path} cannot be read: {err}") from None
    return parse_config(data, where=str(path))


def load_settings(store_override: str | None = None) -> Settings:
    path = config_path()
    config = load_config(path, required="TENANT_BACKUP_CONFIG" in os.environ)
    url = os.environ.get("TENANT_BACKUP_DATABASE_URL") or None
    if url is None and config.database_url:
        try:
            if conninfo_to_dict(config.database_url).get("password"):
                raise ConfigError(f"{path}: database.url holds a password; secrets never go in the config file — "
                                  f"remove it and set TENANT_BACKUP_DATABASE_URL instead")
        except ConfigError:
            raise
        except Exception:  # noqa: BLE001 - an unparsable URL is reported on connect
            pass
        url = config.database_url
    source = "environment" if os.environ.get("TENANT_BACKUP_DATABASE_URL") else ("config" if url else None)
    notes: list[str] = []
    if url is None:
        try:
            url = credentials.get_secret("database_url")
            source = "keyring" if url else None
        except CredentialsUnavailable as err:
            notes.append(str(err))
    sb_url = os.environ.get("SUPABASE_URL") or config.supabase_url
    sb_key = os.environ.get("SUPABASE_SERVICE_ROLE_KEY") or None
    key_note = None
    if sb_key is None and sb_url:
        try:
            sb_key = credentials.get_secret("supabase_service_role_key")
        except CredentialsUnavailable as err:
            key_note = str(err).replace(credentials.ENV_ROUTE, "set SUPABASE_SERVICE_ROLE_KEY in the environment instead")
    store = store_override or os.environ.get("TENANT_BACKUP_STORE") or config.store
    kind = config.store_kind
    if store == "supabase":  # TENANT_BACKUP_STORE=supabase: Supabase Storage, not a folder named so
        kind, store = "supabase", config.store if config.store_kind == "folder" else None
    elif store_override or os.environ.get("TENANT_BACKUP_STORE"):
        kind = "folder"
    name = paths.profile()
    store_path = Path(store).expanduser() if store else (
        paths.data_dir() / "backups" if name == "default" else paths.data_dir() / "profiles" / name / "backups")
    mirror = os.environ.get("TENANT_BACKUP_MIRROR") or config.mirror
    return Settings(replace(config, database_url=None), path if path.exists() else None, url, store_path,
                    source, tuple(notes), sb_url.rstrip("/") if sb_url else None, sb_key, kind, config.bucket,
                    Path(mirror).expanduser() if mirror else None, key_note)


def save_settings(*, database_url: str | None = None, store: str | None = None,
                  retention_days: int | None = None, supabase_url: str | None = None,
                  supabase_key: str | None = None, store_kind: str | None = None,
                  mirror: str | None = None) -> Path:
    """What the settings dialog saves: the database URL (with its password) and the Supabase
    service role key to the keyring, the rest to config.toml — keeping every other key the user
    wrote there. An empty string removes a setting."""
    import tomli_w
    if database_url is not None:
        credentials.set_secret("database_url", database_url)
    if supabase_key:
        credentials.set_secret("supabase_service_role_key", supabase_key)
    path = config_path()
    data: dict = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"config file {path} cannot be updated: {err}; fix or remove it") from None
    if store is not None:
        st = data.get("store")
        if isinstance(st, dict):
            st["path"] = store
        else:
            data["store"] = {"path": store}
    if retention_days is not None:
        data.setdefault("retention", {})["days"] = int(retention_days)
    for section, key, value in (("supabase", "url", supabase_url), ("store", "kind", store_kind),
                                ("store", "mirror", mirror)):
        if value is None:
            continue
        table = data.get(section)
        if not isinstance(table, dict):  # `store = "/path"` becomes a table keeping the path
            table = data[section] = {"path": table} if isinstance(table, str) else {}
        if value:
            table[key] = value
        else:
            table.pop(key, None)
    parse_config(data, where=str(path))  # never write what we could not read back
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
    return path
