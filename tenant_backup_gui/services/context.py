"""What every job needs: settings, the source's URL and the store. Built once per command or
window, so jobs never read the environment themselves."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.config import Config
from ..core.encryption import key_id
from ..core.errors import ConfigError, CredentialsUnavailable
from ..core.manifest import BackupInfo
from ..platform import credentials
from ..platform.settings import Settings
from ..sources import postgres
from ..stores.folder import FolderStore


@dataclass
class Context:
    settings: Settings
    store: FolderStore

    @classmethod
    def from_settings(cls, settings: Settings) -> "Context":
        return cls(settings, FolderStore(settings.store_path))

    @property
    def config(self) -> Config:
        return self.settings.config

    @property
    def url(self) -> str:
        return self.settings.require_database()

    def history(self) -> postgres.History:
        return postgres.History(self.url)

    def source_info(self) -> dict:
        return postgres.server_info(self.url)

    def encryption_key(self) -> bytes | None:
        """The key new backups are encrypted with, or None when encryption is off."""
        if not self.config.encrypt:
            return None
        key = credentials.backup_key()
        if key is None:
            raise ConfigError("encryption is on ([backup] encrypt = true) but the keyring holds no backup key; "
                              "create one with: tenant-backup credentials new-key (and keep the copy it prints)")
        return key

    def key_for(self, info: BackupInfo) -> bytes | None:
        """The key an encrypted backup needs, checked by its id before any byte is read."""
        if not info.key_id:
            return None
        try:
            key = credentials.backup_key()
        except CredentialsUnavailable as err:
            raise CredentialsUnavailable(f"backup {info.id} is encrypted (key {info.key_id}): {err}") from None
        if key is None or key_id(key) != info.key_id:
            have = f"holds key {key_id(key)}" if key else "holds no backup key"
            raise CredentialsUnavailable(f"backup {info.id} is encrypted with key {info.key_id}; this keyring {have}: "
                                         f"import that key with: tenant-backup credentials import-key")
        return key
