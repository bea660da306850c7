"""Small wording helpers shared by the CLI and the jobs' messages."""


def count(n: int, word: str, plural: str | None = None) -> str:
    """'1 table', '2 tables' (and '1 record', '0 records')."""
    return f"{n} {word if n == 1 else plural or word + 's'}"
