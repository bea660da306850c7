"""A file-backed keyring for tests (selected with PYTHON_KEYRING_BACKEND): the real keyring API,
with the secrets in a JSON file named by TENANT_BACKUP_TEST_KEYRING. Test infrastructure only."""

import json
import os
from pathlib import Path

from jaraco.classes import properties
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError


class FileKeyring(KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:
        """Never chosen by keyring's own detection (once imported, it would otherwise win on a
        machine without a desktop keyring): only when PYTHON_KEYRING_BACKEND names it."""
        if os.environ.get("PYTHON_KEYRING_BACKEND") != f"{cls.__module__}.{cls.__name__}":
            raise RuntimeError("the test keyring is used only when PYTHON_KEYRING_BACKEND names it")
        return 1

    def _path(self) -> Path:
        return Path(os.environ["TENANT_BACKUP_TEST_KEYRING"])

    def _load(self) -> dict:
        if os.environ.get("TENANT_BACKUP_TEST_KEYRING_LOCKED"):
            raise KeyringLocked("locked for the test")
        p = self._path()
        return json.loads(p.read_text()) if p.exists() else {}

    def get_password(self, service, username):
        return self._load().get(f"{service}/{username}")

    def set_password(self, service, username, password):
        data = self._load()
        data[f"{service}/{username}"] = password
        self._path().write_text(json.dumps(data))

    def delete_password(self, service, username):
        data = self._load()
        if f"{service}/{username}" not in data:
            raise PasswordDeleteError(username)
        del data[f"{service}/{username}"]
        self._path().write_text(json.dumps(data))


class ForgetfulKeyring(FileKeyring):
    """A keyring that says yes to every store and keeps nothing (as some misconfigured session
    keyrings do)."""

    def set_password(self, service, username, password):
        pass
