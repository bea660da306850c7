"""Secrets in the OS keyring (Secret Service, macOS Keychain, Windows Credential Locker).

Never a silent plaintext fallback: where no keyring is reachable (a headless scheduler, a server)
the error says so and names the environment-variable route."""

from __future__ import annotations

from ..core.errors import CredentialsUnavailable
from .paths import profile as active_profile

SERVICE = "tenant-backup"
ENV_ROUTE = "set TENANT_BACKUP_DATABASE_URL in the environment instead"


def _keyring():
    import keyring
    from keyring import errors
    return keyring, errors


def _account(name: str, profile: str) -> str:
    return f"{profile}:{name}"


def get_secret(name: str, profile: str | None = None) -> str | None:
    profile = profile or active_profile()
    keyring, errors = _keyring()
    try:
        return keyring.get_password(SERVICE, _account(name, profile))
    except errors.NoKeyringError:
        raise CredentialsUnavailable(f"no OS keyring is available here; {ENV_ROUTE}") from None
    except errors.KeyringLocked:
        raise CredentialsUnavailable(f"the OS keyring is locked; unlock it (log in to the desktop) or {ENV_ROUTE}") from None
    except errors.KeyringError as err:
        raise CredentialsUnavailable(f"the OS keyring failed ({type(err).__name__}); {ENV_ROUTE}") from None


def set_secret(name: str, value: str, profile: str | None = None) -> None:
    profile = profile or active_profile()
    keyring, errors = _keyring()
    try:
        keyring.set_password(SERVICE, _account(name, profile), value)
    except errors.NoKeyringError:
        raise CredentialsUnavailable(f"no OS keyring is available to store the secret; {ENV_ROUTE}") from None
    except errors.KeyringLocked:
        raise CredentialsUnavailable("the OS keyring is locked; unlock it and save again") from None
    except errors.KeyringError as err:
        raise CredentialsUnavailable(f"the OS keyring refused the secret ({type(err).__name__})") from None


def delete_secret(name: str, profile: str | None = None) -> None:
    profile = profile or active_profile()
    keyring, errors = _keyring()
    try:
        keyring.delete_password(SERVICE, _account(name, profile))
    except errors.PasswordDeleteError:
        pass
    except errors.KeyringError as err:
        raise CredentialsUnavailable(f"the OS keyring failed ({type(err).__name__})") from None


def backup_key() -> bytes | None:
    """The backup encryption key from the keyring (None when there is none)."""
    from ..core.encryption import decode_key
    text = get_secret("backup_key")
    return decode_key(text) if text else None


def set_backup_key(key: bytes) -> None:
    from ..core.encryption import encode_key
    set_secret("backup_key", encode_key(key))
