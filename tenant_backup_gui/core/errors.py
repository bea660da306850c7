"""Errors a user can act on. Their message is one line that names what is wrong and what to do;
the CLI prints it as is and exits with `exit_code`, the window shows it in a dialog."""


class TenantBackupError(Exception):
    exit_code = 1


class ConfigError(TenantBackupError):
    """Bad or missing configuration: nothing was attempted."""

    exit_code = 2


class ConnectionFailed(TenantBackupError):
    """The database or store could not be reached or refused us."""

    exit_code = 2


class LockBusy(TenantBackupError):
    """Another process holds the tenant's lock; trying again later is the fix."""

    exit_code = 3


class CredentialsUnavailable(TenantBackupError):
    """The keyring cannot be reached or holds nothing for us: say which, and the other routes."""

    exit_code = 4


class Cancelled(TenantBackupError):
    exit_code = 130


class IntegrityError(TenantBackupError):
    """A backup does not match its manifest (checksum, size or row count)."""

    exit_code = 1
