"""How a command speaks: one JSON document on stdout with --json, else text; a progress line on
a terminal's stderr; every failure one line on stderr (and, with --json, a document saying it)."""

from __future__ import annotations

import json
import sys
import traceback
from datetime import date, datetime

from ..core.events import Event
from ..core.text import size


def _json_default(o):
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    if hasattr(o, "to_json"):
        return o.to_json()
    return str(o)


def out(args, doc, human) -> None:
    """`doc` (a typed result is printed by its to_json()) as JSON, or `human(doc)` (or `human`) as text."""
    if args.json:
        json.dump(doc.to_json() if hasattr(doc, "to_json") else doc, sys.stdout, default=_json_default,
                  ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        text = human(doc) if callable(human) else human
        if text:
            print(text)


def fail(args, err: BaseException, message: str, code: int) -> int:
    """Every failure: one line on stderr and, with --json, one document on stdout that says it."""
    if getattr(args, "debug", False):
        traceback.print_exception(err)
    print(f"tenant-backup: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        try:
            json.dump({"error": message.removeprefix("error: "), "exit_code": code}, sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            pass
    return code


class Progress:
    """One self-overwriting line on a terminal's stderr; silent otherwise (and with --json)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.width = 0

    def __call__(self, ev: Event) -> None:
        if not self.enabled:
            return
        if ev.kind == "progress" and ev.table:
            text = f"  [{ev.step}/{ev.steps}] {ev.table}: {ev.counted()}, {size(ev.bytes)}"
        elif ev.kind in ("started", "table") and ev.message:
            text = f"  {ev.message}"
        else:
            return
        sys.stderr.write("\r" + text.ljust(self.width)[:200])
        self.width = len(text)
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()
