"""An external sort of (key, line) pairs: sorted runs of bounded size on disk, merged lazily.
Whatever a table's size, memory holds one run at most (and one record per run while merging):
a million-row table is never held whole to be put in key order."""

from __future__ import annotations

import heapq
import os
import struct
import tempfile
from typing import Iterator

HEADER = struct.Struct(">II")
RUN_BYTES = 32 << 20


class SortedRuns:
    """add() pairs in any order; iterate them back in key order (stable for equal keys)."""

    def __init__(self, run_bytes: int = RUN_BYTES, directory: str | None = None):
        self.run_bytes = run_bytes
        self.directory = directory
        self._buffer: list[tuple[bytes, int, bytes]] = []
        self._held = 0
        self._seq = 0
        self._runs: list[str] = []
        self.count = 0

    def add(self, key: bytes, line: bytes) -> None:
        self._buffer.append((key, self._seq, line))
        self._seq += 1
        self.count += 1
        self._held += len(key) + len(line) + 100
        if self._held >= self.run_bytes:
            self._spill()

    def _spill(self) -> None:
        self._buffer.sort()
        fd, path = tempfile.mkstemp(prefix="tenant-backup-run-", dir=self.directory)
        self._runs.append(path)
        with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
            for key, _, line in self._buffer:
                fh.write(HEADER.pack(len(key), len(line)))
                fh.write(key)
                fh.write(line)
        self._buffer, self._held = [], 0

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        if not self._runs:
            self._buffer.sort()
            return ((k, line) for k, _, line in self._buffer)
        if self._buffer:
            self._spill()
        return heapq.merge(*(_read_run(p) for p in self._runs), key=lambda kv: kv[0])

    def close(self) -> None:
        self._buffer = []
        for p in self._runs:
            try:
                os.unlink(p)
            except OSError:
                pass
        self._runs = []

    def __enter__(self) -> "SortedRuns":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_run(path: str) -> Iterator[tuple[bytes, bytes]]:
    with open(path, "rb", buffering=1 << 20) as fh:
        while head := fh.read(HEADER.size):
            klen, llen = HEADER.unpack(head)
            yield fh.read(klen), fh.read(llen)
