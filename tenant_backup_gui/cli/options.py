"""What every command's options share: the parser that reports a usage mistake in one line,
and the type of a count option."""

from __future__ import annotations

import argparse


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number ≥ 1")
    return int(text)


TRUST_UNSIGNED_HELP = ("use a backup this installation did not sign (an old-system backup, one written where no "
                       "backup key was reachable, or one changed since): anyone who can write the backup folder can "
                       "write one; every other check still applies")


class Parser(argparse.ArgumentParser):
    """A usage mistake is one line naming it (and where the help is), not argparse's usage block."""

    def error(self, message: str):
        from ..core.errors import UsageError
        raise UsageError(f"{message} (see: {self.prog} --help)")
