"""history: backup_logs, newest first."""

from __future__ import annotations

from ..core import history as h
from ..core import manifest as mf
from ..core.text import size
from .printers import out
from .running import context


def history_line(r: dict) -> str:
    took = h.duration(r)
    return (f"{r['started_at']:%Y-%m-%d %H:%M:%S}  {r['backup_type']:<12} {r['status']:<22} "
            f"{r['records_backed_up'] or 0:>9} rows  {size(sized) if (sized := mf.history_size(r)) else '-':>10}  "
            f"{(f'{took:.1f}s' if took is not None else '-'):>7}  {r['organization_id'] or ''}"
            + (f"  {r['errors'][0]}" if r["errors"] else ""))


def cmd_history(args) -> int:
    from ..services.inventory import history
    rows = history(context(args), args.org, args.limit, args.type, args.status)
    out(args, rows, lambda xs: "\n".join(history_line(r) for r in xs) or "no history")
    return 0


def register(add) -> None:
    p = add("history", cmd_history, "show backup_logs, newest first")
    p.add_argument("--org", metavar="ID")
    p.add_argument("--type", metavar="TYPE", choices=h.TYPES, help=", ".join(h.TYPES))
    p.add_argument("--status", metavar="STATUS", choices=h.STATUSES, help=", ".join(h.STATUSES))
    p.add_argument("--limit", type=int, default=50)
