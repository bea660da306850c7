"""What every job needs: settings, the source's URL and the store. Built once per command or
window, so jobs never read the environment themselves."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.config import Config
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
