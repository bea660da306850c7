"""One way to write numbers, sizes, times and titles in every widget: the user's locale, with
digit grouping always on (Qt's C locale leaves it off, which gave "8120" next to "1,100")."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QLocale
from PySide6.QtWidgets import QLabel

from ..core.text import scaled


def _locale() -> QLocale:
    loc = QLocale()
    loc.setNumberOptions(loc.numberOptions() & ~QLocale.NumberOption.OmitGroupSeparator)
    return loc


def num(n: int | None) -> str:
    return _locale().toString(int(n or 0))


def size(n: int | None) -> str:
    value, unit = scaled(float(n or 0))
    return f"{num(value)} {unit}" if unit == "B" else f"{_locale().toString(value, 'f', 1)} {unit}"


def local(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M") if dt else "—"


def title_label(text: str) -> QLabel:
    """A section title: the same size and weight for every page and panel."""
    label = QLabel(text)
    style_title(label)
    return label


def style_title(label: QLabel) -> None:
    f = label.font()
    f.setBold(True)
    f.setPointSizeF(f.pointSizeF() * 1.15)
    label.setFont(f)
