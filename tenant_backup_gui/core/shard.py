"""Which tenants a shard of the nightly run owns: `daily --shard I/N` on N machines (or N pods of
an Indexed Job) splits the tenants with no coordinator of ours. The split is a stable hash of the
organization id — the same in every process, on every machine, in every version — so each tenant
belongs to exactly one shard, and adding tenants never moves the others between shards of the
same N."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    def owns(self, org_id: str) -> bool:
        return shard_of(org_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(org_id: str, count: int) -> int:
    """The 1-based shard of an organization id among `count`: the first 8 bytes of the SHA-256
    of its lower-case text, as an unsigned big-endian integer, modulo count, plus one."""
    digest = hashlib.sha256(org_id.strip().lower().encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str) -> Shard:
    """`I/N` with 1 ≤ I ≤ N, else one line saying what is wrong."""
    try:
        i, n = (int(p) for p in text.strip().split("/"))
    except ValueError:
        raise ConfigError(f"--shard '{text}' is not I/N (e.g. --shard 2/4: the second of four shards)") from None
    if n < 1 or not 1 <= i <= n:
        raise ConfigError(f"--shard {text}: I must be between 1 and N, and N at least 1 (shards are numbered from 1)")
    return Shard(i, n)
