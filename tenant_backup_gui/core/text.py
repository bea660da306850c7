"""Small wording helpers shared by the CLI and the jobs' messages."""


def count(n: int, word: str, plural: str | None = None) -> str:
    """'1 table', '2 tables' (and '1 record', '0 records')."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def size(n: float) -> str:
    """'230 B', '3.0 MiB': bytes as a person reads them."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
