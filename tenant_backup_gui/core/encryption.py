"""Backup encryption: AES-256-GCM per part, streamed. A stored part is nonce (12 bytes) +
ciphertext + tag (16 bytes); its SHA-256 in the manifest is over those stored bytes, so a backup
can be checked for damage without the key. Decryption raises at the end when the tag does not
match: consumers only commit after the last block, so tampered data never lands. The cipher is
imported when a part is encrypted or decrypted: a backup without a key never loads it."""

from __future__ import annotations

import base64
import hashlib
import os

from .errors import IntegrityError, TenantBackupError

ALGORITHM = "AES-256-GCM"
NONCE, TAG = 12, 16


def new_key() -> bytes:
    return os.urandom(32)


def key_id(key: bytes) -> str:
    """Names a key without revealing it: what the manifest records."""
    return hashlib.sha256(b"tenant-backup key id\0" + key).hexdigest()[:16]


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (ValueError, TypeError):
        raise TenantBackupError("that is not a backup key (expected the base64 text export-key printed)") from None
    if len(key) != 32:
        raise TenantBackupError("that is not a backup key (expected 32 bytes, base64)")
    return key


def _gcm(key: bytes, nonce: bytes):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    return Cipher(algorithms.AES(key), modes.GCM(nonce))


class Encryptor:
    def __init__(self, key: bytes):
        self.nonce = os.urandom(NONCE)
        self._enc = _gcm(key, self.nonce).encryptor()

    def header(self) -> bytes:
        return self.nonce

    def update(self, data: bytes) -> bytes:
        return self._enc.update(data)

    def finalize(self) -> bytes:
        return self._enc.finalize() + self._enc.tag


class Decryptor:
    """Feed stored bytes in any chunking; plaintext comes out, the tag is checked by finish()."""

    def __init__(self, key: bytes, name: str):
        self.key, self.name = key, name
        self._head = b""
        self._dec = None
        self._held = b""  # the last TAG bytes seen: the tag, once the stream ends

    def update(self, data: bytes) -> bytes:
        if self._dec is None:
            self._head += data
            if len(self._head) < NONCE:
                return b""
            nonce, data = self._head[:NONCE], self._head[NONCE:]
            self._dec = _gcm(self.key, nonce).decryptor()
        data = self._held + data
        self._held = data[-TAG:]
        return self._dec.update(data[:-TAG]) if len(data) > TAG else b""

    def finish(self) -> bytes:
        if self._dec is None or len(self._held) < TAG:
            raise IntegrityError(f"{self.name} is truncated")
        try:
            return self._dec.finalize_with_tag(self._held)
        except Exception:  # noqa: BLE001 - cryptography's InvalidTag
            raise IntegrityError(f"{self.name} does not decrypt with this key (wrong key, or the data was altered)") from None
