"""Secrets in the OS keyring (Secret Service, macOS Keychain, Windows Credential Locker).

Never a silent plaintext fallback: where no keyring is reachable (a headless scheduler, a server)
the error says so and names the environment-variable route."""

from __future__ import annotations

import os

from ..core.errors import ConfigError, CredentialsUnavailable
from .paths import profile as active_profile

SERVICE = "tenant-backup"
SCHEDULER_ROUTE = "for the nightly run: tenant-backup schedule install --env-file FILE (chmod 600) holding it"
ENV_ROUTE = f"set TENANT_BACKUP_DATABASE_URL in the environment instead ({SCHEDULER_ROUTE})"
KEY_ENV = "TENANT_BACKUP_KEY"  # the backup key's recovery copy, for runs without a keyring
OLD_KEY_ENV = "TENANT_BACKUP_ENCRYPTION_KEY"  # its earlier name, still read
# What to do instead of the keyring, per secret.
ROUTES = {
    "database_url": ENV_ROUTE,
    "supabase_service_role_key": f"set SUPABASE_SERVICE_ROLE_KEY in the environment instead ({SCHEDULER_ROUTE})",
    "backup_key": f"set {KEY_ENV} to the key's recovery copy (credentials export-key, or credentials new-key "
                  f"--print for a new one) in the environment instead ({SCHEDULER_ROUTE})",
}
# keyring's stand-ins that are no OS keyring: nothing (null), refusal (fail), or a plaintext file.
NOT_A_KEYRING = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt.file")


def _route(name: str) -> str:
    return ROUTES.get(name, ENV_ROUTE)


def _usable(backend) -> bool:
    inner = getattr(backend, "backends", None)  # keyring's chainer: usable if one of its backends is
    if inner is not None and type(backend).__name__ == "ChainerBackend":
        return any(_usable(b) for b in inner)
    return not type(backend).__module__.startswith(NOT_A_KEYRING)


def backend_name() -> str:
    import keyring
    b = keyring.get_keyring()
    return f"{type(b).__module__}.{type(b).__name__}"


def _keyring(name: str):
    """keyring and its errors, once we know a real OS keyring is behind it."""
    import keyring
    from keyring import errors
    if not _usable(keyring.get_keyring()):
        raise CredentialsUnavailable(f"no OS keyring is available here (keyring backend {backend_name()}); {_route(name)}")
    return keyring, errors


def _account(name: str, profile: str) -> str:
    return f"{profile}:{name}"


def get_secret(name: str, profile: str | None = None) -> str | None:
    profile = profile or active_profile()
    keyring, errors = _keyring(name)
    try:
        return keyring.get_password(SERVICE, _account(name, profile))
    except errors.NoKeyringError:
        raise CredentialsUnavailable(f"no OS keyring is available here; {_route(name)}") from None
    except errors.KeyringLocked:
        raise CredentialsUnavailable(f"the OS keyring is locked; unlock it (log in to the desktop) or {_route(name)}") from None
    except errors.KeyringError as err:
        raise CredentialsUnavailable(f"the OS keyring failed ({type(err).__name__}); {_route(name)}") from None


def set_secret(name: str, value: str, profile: str | None = None) -> None:
    """Store, then read it back: a keyring that accepts a secret and keeps nothing must not let us
    say "stored"."""
    profile = profile or active_profile()
    keyring, errors = _keyring(name)
    try:
        keyring.set_password(SERVICE, _account(name, profile), value)
        kept = keyring.get_password(SERVICE, _account(name, profile))
    except errors.NoKeyringError:
        raise CredentialsUnavailable(f"no OS keyring is available to store the secret; {_route(name)}") from None
    except errors.KeyringLocked:
        raise CredentialsUnavailable("the OS keyring is locked; unlock it and save again") from None
    except errors.KeyringError as err:
        raise CredentialsUnavailable(f"the OS keyring refused the secret ({type(err).__name__}); {_route(name)}") from None
    if kept != value:
        raise CredentialsUnavailable(f"the OS keyring ({backend_name()}) did not keep the secret: reading it back gave "
                                     f"{'nothing' if kept is None else 'something else'}; {_route(name)}")


def delete_secret(name: str, profile: str | None = None) -> None:
    profile = profile or active_profile()
    keyring, errors = _keyring(name)
    try:
        keyring.delete_password(SERVICE, _account(name, profile))
    except errors.PasswordDeleteError:
        pass
    except errors.KeyringError as err:
        raise CredentialsUnavailable(f"the OS keyring failed ({type(err).__name__})") from None


def probe() -> None:
    """Store a throwaway secret, read it back, delete it: raises as set_secret does when the
    keyring would not keep a real one."""
    import secrets
    set_secret("probe", secrets.token_hex(8))
    delete_secret("probe")


def _key_from_environment() -> tuple[bytes | None, str | None]:
    """TENANT_BACKUP_KEY, else TENANT_BACKUP_ENCRYPTION_KEY (its earlier name); both set must agree."""
    from ..core.encryption import decode_key
    found: dict[str, bytes] = {}
    for name in (KEY_ENV, OLD_KEY_ENV):
        text = os.environ.get(name)
        if text:
            try:
                found[name] = decode_key(text)
            except Exception:  # noqa: BLE001 - say which variable, never what it holds
                raise ConfigError(f"{name} does not hold a backup key; set it to the recovery copy that "
                                  f"`tenant-backup credentials new-key` or `export-key` printed") from None
    if len(set(found.values())) > 1:
        raise ConfigError(f"{KEY_ENV} and {OLD_KEY_ENV} hold different backup keys; keep one of them")
    for name, key in found.items():
        return key, name
    return None, None


def backup_key_source() -> tuple[bytes | None, str | None]:
    """The backup key (it signs every backup, and encrypts them when encryption is on) and where it
    came from: the variable's name (TENANT_BACKUP_KEY, or TENANT_BACKUP_ENCRYPTION_KEY, in the
    environment or the scheduler's env-file) first, else "keyring". (None, None) when none holds one."""
    key, name = _key_from_environment()
    if key is not None:
        return key, name
    text = get_secret("backup_key")
    from ..core.encryption import decode_key
    return (decode_key(text), "keyring") if text else (None, None)


def backup_key() -> bytes | None:
    """The backup key (None when there is none)."""
    return backup_key_source()[0]


def backup_key_or_new() -> tuple[bytes, str]:
    """The backup key for writing a backup: the one found, else a new one created now and kept in
    the keyring (first use). Raises CredentialsUnavailable when no keyring can keep one: the caller
    writes the backup unsigned and says so."""
    key, source = backup_key_source()
    if key is not None:
        return key, source
    from ..core.encryption import new_key
    key = new_key()
    set_backup_key(key)
    return key, "created"


def set_backup_key(key: bytes) -> None:
    from ..core.encryption import encode_key
    set_secret("backup_key", encode_key(key))
