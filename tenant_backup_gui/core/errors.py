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


class Busy(LockBusy):
    """The database kept answering "deadlock" or "could not serialize" while the app wrote to the
    tenant, through every retry: a quiet moment is the fix, not the configuration."""


class WindowUnavailable(TenantBackupError):
    """The window cannot open here (no display, missing system libraries): the CLI still works."""

    exit_code = 2


class UsageError(TenantBackupError):
    """The command line itself is wrong (an unknown option, a missing or invalid argument)."""

    exit_code = 2


class PlanError(TenantBackupError):
    """The dry run's plan cannot be applied (missing, expired, for other options or another backup):
    the operation failed, nothing is wrong with the configuration."""

    exit_code = 1


class CredentialsUnavailable(TenantBackupError):
    """The keyring cannot be reached or holds nothing for us: say which, and the other routes."""

    exit_code = 4


class Cancelled(TenantBackupError):
    exit_code = 130


class IntegrityError(TenantBackupError):
    """A backup does not match its manifest (checksum, size or row count)."""

    exit_code = 1
