"""Which of a backup's lines a chosen-rows restore sends to the engine (issue #21).

Restoring ten customers with their invoices must not stage the tenant's 1.7 M rows: the engine
decides exactly which rows are chosen, dependent, missing parents or links to put back
(resources/sql/restore_choice.sql), but it only needs the lines that could be. This module picks
those out of the backup as it streams, without decoding every line: a line is kept when its key
is a chosen one, when a foreign key in it names a kept row of its parent (dependents, and rows
whose link may come back), or when it is the parent a kept line names. Matching is on the
JSON text PostgreSQL wrote: `"column":value` at the top of the line (every nested value travels
as an escaped string, so an unescaped `"column":` is always a column). It keeps a superset; the
engine's choice is exact and every proof runs on it.

Each table is read once per round in which it gains something to look for; most are read once
or twice. Only the tables the foreign keys connect to a chosen one are read at all."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from ..core.errors import ConfigError

MANY = 64  # past this many values of one column, one regular-expression pass beats a find per value
NUMERIC = ("smallint", "integer", "bigint", "numeric", "real", "double precision", "int2", "int4", "int8",
           "float4", "float8", "decimal")


class _Raw(str):
    """A number as the line wrote it (json.loads keeps its text, so 1.50 stays 1.50)."""


def parse_rows_option(values: Iterable[str]) -> dict[str, list[list[str]]]:
    """`--rows TABLE=KEY[,KEY…]` (repeatable; a composite key as `a:b`) as {table: [[key values]]}."""
    out: dict[str, list[list[str]]] = {}
    for value in values:
        table, sep, keys = value.partition("=")
        table, keys = table.strip(), keys.strip()
        if not sep or not table or not keys:
            raise ConfigError(f"--rows {value!r}: write it as TABLE=KEY[,KEY…] (a composite key as a:b)")
        for key in keys.split(","):
            if key.strip():
                parts = [p.strip() for p in key.split(":")]
                if parts not in out.setdefault(table, []):
                    out[table].append(parts)
    return out


def token(value) -> bytes | None:
    """A parsed JSON value as the line's own text (None: SQL NULL, never matched)."""
    if value is None:
        return None
    if isinstance(value, _Raw):
        return value.encode()
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).encode()
    return None  # an object or array (an old backup's nested JSON): never a key here


def key_token(text: str, type_: str) -> bytes:
    """The owner's text for a key column as the backup writes its value."""
    base = type_.split("(")[0].strip().lower()
    if base in NUMERIC:
        try:
            return str(int(text)).encode() if base in NUMERIC[:3] + NUMERIC[6:9] else text.encode()
        except ValueError:
            return text.encode()
    if base == "uuid":
        text = text.lower()
    return json.dumps(text, ensure_ascii=False).encode()


@dataclass
class _Link:
    child: str
    cols: tuple[str, ...]
    parent: str
    pcols: tuple[str, ...]


@dataclass
class _Table:
    name: str
    key: tuple[str, ...]
    cols: frozenset[str] = frozenset()  # the columns links and the key read: all that is kept of a line
    lines: dict[bytes, dict] = field(default_factory=dict)  # kept line -> its values of `cols`, as tokens
    down: set[bytes] = field(default_factory=set)  # kept as chosen or dependent: its children are looked for
    sought: set[tuple[tuple[str, ...], tuple[bytes, ...], bool]] = field(default_factory=set)
    total: int | None = None  # lines in the backup, counted on the first read


def links_of(scope) -> list[_Link]:
    """The declared foreign keys between tables of the tenant's scope."""
    names = set(scope.names())
    return [_Link(s.table.key_name, tuple(fk.columns), fk.ref_table, tuple(fk.ref_columns))
            for s in scope.tables for fk in s.table.foreign_keys if fk.declared and fk.ref_table in names]


def tables_to_read(chosen: Iterable[str], links: list[_Link], down_deep: bool, relink: bool = True) -> set[str]:
    """The chosen tables, the tables that point at them (to any depth with dependents, else one
    step: rows whose link may come back, unless links stay as they are), and every table those
    point at (parents)."""
    down = set(chosen)
    frontier = set(chosen) if down_deep or relink else set()
    while frontier:
        new = {l.child for l in links if l.parent in frontier} - down
        down |= new
        frontier = new if down_deep else set()
    up, frontier = set(down), set(down)
    while frontier:
        new = {l.parent for l in links if l.child in frontier} - up
        up |= new
        frontier = new
    return up


class LinePicker:
    """Reads the tables' lines (read(name) -> blocks of whole lines) and keeps the candidates."""

    def __init__(self, scope, chosen: dict[str, list[list[str]]], dependents: bool,
                 read: Callable[[str], Iterator[tuple[bytes, int]]], available: Iterable[str],
                 on_table: Callable[[str], None] = lambda name: None, relink: bool = True):
        self.scope, self.read, self.on_table = scope, read, on_table
        self.dependents = dependents
        self.links = links_of(scope)
        avail = set(available)
        unknown = [t for t in chosen if t not in avail]
        if unknown:
            raise ConfigError(f"table '{unknown[0]}' is not a tenant table of this backup; "
                              f"it holds: {', '.join(sorted(avail))}")
        wanted = tables_to_read(chosen, self.links, dependents, relink) & avail
        self.order = [n for n in scope.names() if n in wanted]
        self.tables: dict[str, _Table] = {}
        for n in self.order:
            t = scope.get(n).table
            cols = set(t.row_key[0])
            for l in self.links:
                cols |= set(l.cols) if l.child == n else set(l.pcols) if l.parent == n else set()
            self.tables[n] = _Table(n, tuple(t.row_key[0]), frozenset(cols))
        self.seeds: dict[str, set[tuple[bytes, ...]]] = {}
        for name, keys in chosen.items():
            t = scope.get(name).table
            key = t.row_key[0]
            if not key:
                raise ConfigError(f"table {name} has no key: its rows cannot be chosen one by one; "
                                  f"restore it whole with --tables {name}")
            types = [t.column(k).type for k in key]
            for k in keys:
                if len(k) != len(key):
                    raise ConfigError(f"table {name} is keyed by {':'.join(key)}: name its rows as "
                                      f"{':'.join(key).upper()}, not {':'.join(k)}")
            self.seeds[name] = {tuple(key_token(v, ty) for v, ty in zip(k, types)) for k in keys}

    # ------------------------------------------------------------------ what each table looks for
    def _wanted(self, name: str) -> set[tuple[tuple[str, ...], tuple[bytes, ...], bool]]:
        """(columns, their tokens, whether a match is 'down': its own children are then looked for)."""
        t = self.tables[name]
        out = {(t.key, toks, True) for toks in self.seeds.get(name, ())}
        for l in self.links:
            if l.child == name and l.parent in self.tables:  # children of kept 'down' rows
                p = self.tables[l.parent]
                for line in p.down:
                    toks = self._tokens(p.lines[line], l.pcols)
                    if toks is not None:
                        out.add((l.cols, toks, self.dependents))
            if l.parent == name and l.child in self.tables:  # parents of any kept row
                c = self.tables[l.child]
                for parsed in c.lines.values():
                    toks = self._tokens(parsed, l.cols)
                    if toks is not None:
                        out.add((l.pcols, toks, False))
        return out

    @staticmethod
    def _tokens(kept: dict, cols: tuple[str, ...]) -> tuple[bytes, ...] | None:
        toks = tuple(kept.get(c) for c in cols)
        return None if any(x is None for x in toks) else toks

    def pick(self) -> dict[str, list[bytes]]:
        """Round after round until no table gains anything to look for: {table: kept lines}."""
        changed = True
        while changed:
            changed = False
            for name in self.order:
                t = self.tables[name]
                new = self._wanted(name) - t.sought
                if not new and t.total is not None:
                    continue
                t.sought |= new
                if self._scan(t, new):
                    changed = True
        return {n: list(t.lines) for n, t in self.tables.items()}

    def totals(self) -> dict[str, int]:
        return {n: t.total or 0 for n, t in self.tables.items()}

    def _scan(self, t: _Table, wanted) -> bool:
        """Read the table once, keeping the lines that match `wanted`; True when it kept a new one."""
        self.on_table(t.name)
        by_col: dict[tuple[str, ...], dict[tuple[bytes, ...], bool]] = {}
        for cols, toks, down in wanted:
            by_col.setdefault(cols, {})
            by_col[cols][toks] = by_col[cols].get(toks, False) or down
        grew, total = False, 0
        for block, rows in self.read(t.name):
            total += rows
            for cols, values in by_col.items():
                for line in _matching_lines(block, cols[0], {v[0] for v in values}):
                    kept = t.lines.get(line)
                    if kept is None:
                        try:
                            parsed = json.loads(line, parse_int=_Raw, parse_float=_Raw)
                        except ValueError:
                            continue  # the engine's decoding names a damaged line; here it is no candidate
                        if not isinstance(parsed, dict):
                            continue
                        kept = {c: token(parsed.get(c)) for c in t.cols}
                    toks = self._tokens(kept, cols)
                    if toks is None or toks not in values:
                        continue
                    if line not in t.lines:
                        t.lines[line] = kept
                        grew = True
                    if values[toks] and line not in t.down:
                        t.down.add(line)
                        grew = True
        if t.total is None:
            t.total = total
        return grew


def _matching_lines(block: bytes, col: str, values: set[bytes]) -> Iterator[bytes]:
    """The lines of a block holding `"col":value` (or an old backup's `"col": value`) for a value in values."""
    name = json.dumps(col, ensure_ascii=False).encode()
    if len(values) <= MANY:
        for v in values:
            for pat in (name + b":" + v, name + b": " + v):
                pos = block.find(pat)
                while pos >= 0:
                    end = pos + len(pat)
                    if (pos == 0 or block[pos - 1:pos] in (b"{", b",", b" ")) and block[end:end + 1] in (b",", b"}"):
                        start = block.rfind(b"\n", 0, pos) + 1
                        stop = block.find(b"\n", end)
                        yield block[start:stop if stop >= 0 else len(block)]
                        pos = block.find(pat, stop if stop >= 0 else len(block))
                    else:
                        pos = block.find(pat, pos + 1)
        return
    rx = re.compile(rb'[{, ]' + re.escape(name) + rb': ?("(?:[^"\\]|\\.)*"|[^,}\s]+)(?=[,}])')
    for m in rx.finditer(block):
        if m.group(1) in values:
            start = block.rfind(b"\n", 0, m.start()) + 1
            stop = block.find(b"\n", m.end())
            yield block[start:stop if stop >= 0 else len(block)]
