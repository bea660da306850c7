"""Small wording helpers shared by the CLI and the jobs' messages."""


def count(n: int, word: str, plural: str | None = None) -> str:
    """'1 table', '2 tables' (and '1 record', '7,838 records': grouped as the window groups them)."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def scaled(n: float) -> tuple[float, str]:
    """Bytes in the largest unit under 1024 of it (GiB at most): the CLI and the window write the number."""
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return n, unit
        n /= 1024
    return n, "GiB"


def size(n: float) -> str:
    """'230 B', '3.0 MiB': bytes as a person reads them."""
    value, unit = scaled(n)
    return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
