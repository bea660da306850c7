"""history: backup_logs, newest first; each row with its organization's name (a column of the
text when the rows span more than one organization: three daily_tenant rows told apart)."""

from __future__ import annotations

from ..core import history as h
from ..core import manifest as mf
from ..core.errors import TenantBackupError
from ..core.text import size
from .printers import out
from .running import context

NAME_WIDTH = 24


def history_line(r: dict, org_column: bool = False) -> str:
    took = h.duration(r)
    name = (r.get("organization_name") or r["organization_id"] or "") if org_column else ""
    org = f"  {name[:NAME_WIDTH]:<{NAME_WIDTH}}" if org_column else ""
    return (f"{r['started_at']:%Y-%m-%d %H:%M:%S}  {r['backup_type']:<12} {r['status']:<22} "
            f"{r['records_backed_up'] or 0:>9,} rows  {size(sized) if (sized := mf.history_size(r)) else '-':>10}  "
            f"{(f'{took:.1f}s' if took is not None else '-'):>7}{org}  {r['organization_id'] or ''}"
            + (f"  {r['errors'][0]}" if r["errors"] else ""))


def history_text(rows: list[dict]) -> str:
    if not rows:
        return "no history"
    many = len({r["organization_id"] for r in rows if r["organization_id"]}) > 1
    head = ([f"{'Started':<19}  {'Type':<12} {'Status':<22} {'Records':>14}  {'Size':>10}  {'Took':>7}  "
             f"{'Organization':<{NAME_WIDTH}}  Organization id"] if many else [])
    return "\n".join(head + [history_line(r, many) for r in rows])


def _names(ctx) -> dict[str, str | None]:
    """id → name of every organization the database knows; none when it cannot be asked."""
    from ..services.inventory import tenants
    try:
        return {t.id: t.name for t in tenants(ctx)}
    except TenantBackupError:
        return {}


def cmd_history(args) -> int:
    from ..services.inventory import history
    ctx = context(args)
    rows = history(ctx, args.org, args.limit, args.type, args.status)
    names = _names(ctx) if rows else {}
    for r in rows:
        r["organization_name"] = names.get(r["organization_id"]) if r["organization_id"] else None
    out(args, rows, history_text)
    return 0


def register(add) -> None:
    p = add("history", cmd_history, "show backup_logs, newest first")
    p.add_argument("--org", metavar="ID", help="an organization id or its exact name")
    p.add_argument("--type", metavar="TYPE", choices=h.TYPES, help=", ".join(h.TYPES))
    p.add_argument("--status", metavar="STATUS", choices=h.STATUSES, help=", ".join(h.STATUSES))
    p.add_argument("--limit", type=int, default=50)
