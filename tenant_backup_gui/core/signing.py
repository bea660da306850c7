"""Where a backup came from: an HMAC-SHA256 over its summary, by the installation's backup key.

Checksums prove a part is the one its summary names, not who wrote the summary: anyone who can
write the backup folder can recompute them. The signature closes that: the summary pins every
part's and every file copy's SHA-256 and size (and each part's uncompressed size), and the
signature pins the summary. It is computed over a canonical form of the parsed summary (keys
sorted, no spaces), so what is checked is what the reader acts on, whatever the file's layout.

The MAC key is derived from the backup key (HKDF-SHA256, RFC 5869), never the key itself: the
same key still encrypts (AES-256-GCM, as before, so older encrypted backups stay readable) and
signs, but no byte is ever used under both algorithms. Only the key's id is written anywhere."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field

from .encryption import key_id

ALGORITHM = "HMAC-SHA256"
FIELD = "signature"  # the summary's own field: everything else in it is signed
_SALT = b"tenant-backup"
_INFO = b"tenant-backup summary signing v1"

# What a check found.
SIGNED = "signed"  # by this installation's key, and nothing changed since
UNSIGNED = "unsigned"  # no signature: the old system's, or written where no key was reachable
ALTERED = "altered"  # signed by this installation's key, changed since
OTHER_KEY = "other-key"  # signed by a key this installation does not hold (or holds no key at all)


def signing_key(key: bytes) -> bytes:
    """HKDF-SHA256 (extract, then one block of expand) of the backup key, for the MAC only."""
    prk = hmac.new(_SALT, key, hashlib.sha256).digest()
    return hmac.new(prk, _INFO + b"\x01", hashlib.sha256).digest()


def canonical(doc: dict) -> bytes:
    """The summary as signed: without its signature, keys sorted, compact, UTF-8."""
    rest = {k: v for k, v in doc.items() if k != FIELD}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _mac(doc: dict, key: bytes) -> str:
    return hmac.new(signing_key(key), canonical(doc), hashlib.sha256).hexdigest()


def sign(doc: dict, key: bytes) -> dict:
    """The summary with its signature (the key named by its id, never itself)."""
    return {**{k: v for k, v in doc.items() if k != FIELD},
            FIELD: {"algorithm": ALGORITHM, "key_id": key_id(key), "mac": _mac(doc, key)}}


@dataclass(frozen=True)
class Origin:
    """What the signature of one summary says, judged with the key at hand."""
    state: str
    key_id: str | None = None  # the key that signed it (as the summary claims), when signed at all

    @property
    def signed(self) -> bool:
        return self.state == SIGNED

    def why(self, backup_id: str, ours: str | None) -> str:
        """Why this backup is not taken as this installation's, in words for one line."""
        if self.state == UNSIGNED:
            return f"backup {backup_id} is not signed (an old-system backup, or written where no backup key was reachable)"
        if self.state == ALTERED:
            return f"backup {backup_id} was changed after it was signed (its signature by key {self.key_id} no longer matches)"
        have = f"the key here is {ours}" if ours else "no backup key is reachable here"
        return f"backup {backup_id} is signed by key {self.key_id}, which this installation does not hold ({have})"


def check(doc: dict, key: bytes | None) -> Origin:
    """Judge a parsed summary's signature with this installation's key (None: no key reachable)."""
    sig = doc.get(FIELD) if isinstance(doc, dict) else None
    if not isinstance(sig, dict) or not sig.get("mac"):
        return Origin(UNSIGNED)
    claimed = str(sig.get("key_id") or "?")
    if key is None or key_id(key) != claimed or sig.get("algorithm") != ALGORITHM:
        return Origin(OTHER_KEY, claimed)
    ok = hmac.compare_digest(str(sig.get("mac")), _mac(doc, key))
    return Origin(SIGNED if ok else ALTERED, claimed)


UNSIGNED_RISK = ("a backup not signed by this installation may have been written or edited by anyone who can "
                 "write the backup folder")


@dataclass(frozen=True)
class Trust:
    """How a reader judges a backup's origin: this installation's key (None when none is
    reachable; `problem` says why), and whether the owner said to restore an unsigned one anyway."""
    key: bytes | None = field(default=None, repr=False)
    accept_unsigned: bool = False
    problem: str | None = None

    @property
    def key_id(self) -> str | None:
        return key_id(self.key) if self.key is not None else None

    def refusal(self, origin: Origin, backup_id: str) -> str | None:
        """The one line that refuses this backup before anything is read from it, or None."""
        if origin.signed or self.accept_unsigned:
            return None
        fix = "pass --trust-unsigned (in the window: tick the box naming the risk) to use it anyway; " \
              "every other check still applies"
        if origin.state == OTHER_KEY:
            fix = ("import that key (tenant-backup credentials import-key, or set TENANT_BACKUP_KEY to its recovery "
                   "copy), or " + fix)
        return f"{origin.why(backup_id, self.key_id)}: refused, nothing was read from it; {fix}"

    def warning(self, origin: Origin, backup_id: str) -> str | None:
        """What a result says about a backup accepted without this installation's signature."""
        if origin.signed:
            return None
        return f"UNSIGNED: {origin.why(backup_id, self.key_id)}; used on your word (--trust-unsigned): {UNSIGNED_RISK}"
