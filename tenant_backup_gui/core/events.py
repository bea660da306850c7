"""Progress reported by jobs as plain values, so the window, the CLI and tests all read the same thing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Event:
    kind: str  # "started" | "table" | "progress" | "message" | "warning" | "finished"
    message: str = ""
    organization_id: str | None = None
    table: str | None = None
    rows: int = 0
    bytes: int = 0
    step: int = 0
    steps: int = 0
    data: dict = field(default_factory=dict)

    def counted(self, number: Callable[[int], str] = "{:,}".format) -> str:
        """`rows` with what it counts: '5 rows', or '5 files' for the files step of a backup or restore."""
        unit = self.data.get("unit", "row")
        return f"{number(self.rows)} {unit if self.rows == 1 else unit + 's'}"


FILES_UNIT = {"unit": "file"}  # Event.data of the files step's progress: it counts objects, not rows


EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    pass
