"""What a person sees of a backed-up row: its key, a label, its values exactly as PostgreSQL wrote
them, how two versions of it differ, and whether it matches a search. Pure: lines in, values out.

A backup line is `row_to_json` text. Its numbers are kept as their text (Num), never turned into
Python floats, so 1.50, -0, 1e400 and 2^70 show as PostgreSQL wrote them; strings (timestamps,
bytea's \\x…, NaN, json carried as text) are shown decoded. Keys sort as PostgreSQL's integer and
C-collation text order would, through one byte encoding (sort_key) that heaps and sqlite share."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field

LABEL_NAMES = ("name", "title", "email")
TEXT_TYPES = ("text", "character varying", "varchar", "character", "citext")


class Num(str):
    """A JSON number, as its text."""


def _loads(line: bytes | str) -> dict:
    return json.loads(line, parse_int=Num, parse_float=Num, parse_constant=Num)


def parse_row(line: bytes | str) -> dict:
    """Column -> value (str, Num, bool, None, or a nested list/dict in old-system backups).
    A line that is not a JSON object raises ValueError: the backup is damaged."""
    row = _loads(line)
    if not isinstance(row, dict):
        raise ValueError("a backup line is not a JSON object")
    return row


def show(value) -> str | None:
    """A value as text, exactly as PostgreSQL wrote it; None stays None (SQL NULL)."""
    if value is None:
        return None
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _int_like(text: str) -> bool:
    return bool(text) and (text.isdigit() or (text[0] == "-" and text[1:].isdigit()))


def sort_key(values: tuple[str | None, ...]) -> bytes:
    """Bytes that sort as the key does: integers by value (64-bit range; others as text), text by
    its UTF-8 bytes (PostgreSQL's C collation), NULL last."""
    out = []
    for v in values:
        if v is None:
            out.append(b"\x02")
        elif _int_like(v) and -OFFSET <= int(v) < OFFSET:
            out.append(b"\x00" + (int(v) + OFFSET).to_bytes(8, "big"))
        else:
            out.append(b"\x01" + v.encode("utf-8", "surrogatepass"))
    return b"\x00".join(out)


@dataclass(frozen=True)
class TableView:
    """How one table's rows are keyed and labelled (from the manifest's columns and key)."""
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # () : a keyless table, its rows compared whole
    label_column: str | None
    _fast: re.Pattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, name: str, columns: list[dict], key: list[str]) -> "TableView":
        cols = tuple(c["name"] for c in columns)
        return cls(name, cols, tuple(key), choose_label(columns, key), _fast_key_pattern(cols, tuple(key)))

    def key_of(self, line: bytes, row: dict | None = None) -> tuple[str | None, ...]:
        """The key's values as text; a keyless table's key is the whole line."""
        if not self.key:
            return (line.decode("utf-8", "surrogateescape"),)
        if row is None and self._fast is not None:
            m = self._fast.match(line)
            if m:
                return tuple(g[1:-1].decode() if g[:1] == b'"' else g.decode() for g in m.groups())
        row = parse_row(line) if row is None else row
        return tuple(show(row.get(k)) for k in self.key)

    def sort_key_of(self, line: bytes) -> bytes:
        return sort_key(self.key_of(line))

    def block_sort_keys(self, lines: list[bytes]) -> list[bytes]:
        """sort_key_of for every line of a block. A single leading key column is read from each
        line's start (the regex mapped in C) and encoded in one comprehension; lines it cannot read
        (escapes in a text key, a key that is not a 64-bit integer) take the per-line road."""
        if self._fast is not None and len(self.key) == 1:
            matched = list(map(self._fast.match, lines))
            if all(matched):
                found = [m[1] for m in matched]
                if found and found[0][:1] != b'"':
                    try:
                        return [b"\x00" + (int(v) + OFFSET).to_bytes(8, "big") for v in found]
                    except (OverflowError, ValueError):  # past 64 bits, or not all numbers
                        pass
                elif all(v[:1] == b'"' for v in found):
                    return [b"\x01" + v[1:-1] for v in found]
        return [self.sort_key_of(line) for line in lines]

    def block_keys(self, block: bytes) -> tuple[str, list] | None:
        """Every line's key from a whole block in one regex scan, without splitting it into lines:
        ("int", [ints]) or ("text", [utf-8 bytes]), in line order; None when the table's key is not
        one leading column or a line of the block does not read that way (then go line by line).
        The pattern is anchored on `{"col":`, which inside a JSON string would be escaped."""
        if self._fast is None or len(self.key) != 1:
            return None
        rows = block.count(b"\n")
        head = re.escape(json.dumps(self.key[0], ensure_ascii=False).encode())
        found = _scanner(head, True).findall(block)
        if len(found) == rows:
            ints = list(map(int, found))
            if not ints or (-OFFSET <= min(ints) and max(ints) < OFFSET):
                return "int", ints
            return None
        found = _scanner(head, False).findall(block)
        return ("text", found) if len(found) == rows else None

    def key_needle(self, want: tuple[str, ...]) -> bytes | None:
        """The bytes every line with key `want` starts with, when the key leads the row and reads
        without escapes; None: no such shortcut (test each line)."""
        if self._fast is None or len(want) != len(self.key):
            return None
        parts = []
        for col, v in zip(self.key, want):
            text = v if _int_like(v) else json.dumps(v, ensure_ascii=False)
            if "\\" in text[1:-1]:
                return None
            parts.append(json.dumps(col, ensure_ascii=False) + ":" + text)
        return ("{" + ",".join(parts)).encode()

    def key_text(self, key: tuple[str | None, ...]) -> str:
        return ":".join("NULL" if k is None else k for k in key) if self.key else "(whole row)"

    def parse_key(self, text: str) -> tuple[str, ...]:
        """`a:b` for a composite key (the last column takes any further ':')."""
        if not self.key:
            raise ValueError(f"table {self.name} has no key: search its rows instead")
        parts = text.split(":", len(self.key) - 1)
        if len(parts) != len(self.key):
            raise ValueError(f"table {self.name}'s key has {len(self.key)} columns ({', '.join(self.key)}): "
                             f"give them as {':'.join(self.key)}")
        return tuple(parts)

    def label(self, row: dict, key: tuple[str | None, ...]) -> str:
        if self.label_column and row.get(self.label_column) not in (None, ""):
            return show(row[self.label_column]) or ""
        return self.key_text(key)


OFFSET = 1 << 63


@functools.lru_cache(maxsize=256)
def _scanner(head: bytes, integer: bool) -> re.Pattern:
    value = rb"(-?\d+)" if integer else rb'"([^"\\]*)"'
    return re.compile(rb"\{" + head + rb":" + value + rb"[,}]")


def _fast_key_pattern(columns: tuple[str, ...], key: tuple[str, ...]) -> re.Pattern | None:
    """When the key is the row's leading columns (the usual `id` first), its values are read from
    the start of the line without parsing the rest: a number, or a string without escapes. Other
    lines fall back to a full parse."""
    if not key or columns[:len(key)] != key:
        return None
    value = rb'(-?\d+|"[^"\\]*")'
    body = b",".join(re.escape(json.dumps(k, ensure_ascii=False).encode()) + b":" + value for k in key)
    return re.compile(rb"\{" + body + rb"[,}]")


def choose_label(columns: list[dict], key: list[str]) -> str | None:
    """The column that names a row for a person: name, title or email, else a text column whose
    name says it is a number (invoice_number); else none (the key is shown)."""
    names = [c["name"] for c in columns]
    for want in LABEL_NAMES:
        if want in names:
            return want
    for c in columns:
        if "number" in c["name"] and (c.get("type") or "text").split("(")[0] in TEXT_TYPES and c["name"] not in key:
            return c["name"]
    return None


@dataclass(frozen=True)
class Change:
    column: str
    old: str | None
    new: str | None


def compare(old: dict, new: dict) -> list[Change]:
    """The columns whose values differ, old → new, in the row's column order (new columns last)."""
    out = []
    for col in list(old) + [c for c in new if c not in old]:
        a, b = old.get(col), new.get(col)
        if show(a) != show(b) or (col in old) != (col in new):
            out.append(Change(col, show(a), show(b)))
    return out


def matches(row: dict, needle: str) -> bool:
    """The row holds `needle` in one of its values (any case); column names do not count."""
    n = needle.casefold()
    return any(n in (show(v) or "").casefold() for v in row.values())


def may_match(line: bytes, needle_folded: bytes) -> bool:
    """A cheap first test on the raw line (parse only lines that pass): ASCII-lowered bytes."""
    return needle_folded in line.lower()


def needle_bytes(needle: str) -> bytes | None:
    """The needle for may_match, or None when a raw-bytes test could miss (non-ASCII, quotes,
    backslashes: JSON may escape them)."""
    if not needle.isascii() or any(c in needle for c in '"\\') or any(ord(c) < 32 for c in needle):
        return None
    return needle.lower().encode()
