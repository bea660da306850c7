"""`tenant-backup show` and `tenant-backup diff`: look inside a backup, and see what changed since
(or between two backups), without restoring anything. Registered in cli/parser.py's COMMAND_MODULES."""

from __future__ import annotations


from ..core.text import count, size
from .printers import Progress, out
from .running import context, run_job

WIDTH = 60  # a value longer than this is cut in the terminal view (never in --json or --csv)


def _cut(text: str | None) -> str:
    if text is None:
        return "NULL"
    text = text.replace("\n", "\\n")
    return text if len(text) <= WIDTH else text[:WIDTH - 1] + "…"


def cmd_show(args) -> int:
    from ..services.browse import ShowJob
    progress = Progress(not args.json)
    job = ShowJob(context(args), args.org, args.backup, args.table, args.key, args.search, args.limit,
                  args.offset, args.csv, on_event=progress)
    result = run_job(job, progress)
    out(args, result.to_json(), lambda _d: _said_first(result, _show_human(result, args)))
    return 0


def _said_first(result, text: str) -> str:
    """A backup this installation did not sign is said so before anything it shows."""
    return "\n".join([f"warning: {w}" for w in result.warnings] + [text])


def _show_human(result, args) -> str:
    if not hasattr(result, "records"):  # the backup's tables
        lines = [f"backup {result.id} of {result.organization_name or result.organization_id}"
                 + (" (old system: no checksums)" if result.legacy else "")]
        lines.append(f"  {'table':<32} {'rows':>10} {'size':>10} {'files':>5}  key")
        for t in result.tables:
            lines.append(f"  {t.name:<32} {t.rows:>10,} {size(t.bytes):>10} {t.parts:>5}  {', '.join(t.key) or '-'}")
        if result.files is not None:
            lines.append(f"  tenant files: {count(result.files['objects'], 'object')}, {size(result.files['bytes'])}")
        return "\n".join(lines)
    if result.csv_path:
        return f"wrote {count(result.total, 'row')} of {result.table} to {result.csv_path}"
    if args.key is not None:
        if not result.records:
            return f"no row of {result.table} has key {args.key}"
        return "\n\n".join(_record(r) for r in result.records)
    what = f"rows holding {result.search!r}" if result.search else "rows"
    head = (f"{result.table}: {count(result.total, 'row') if not result.search else f'{result.total:,} {what}'}"
            f", showing {result.offset + 1 if result.records else 0}–{result.offset + len(result.records)}"
            f" in key order ({', '.join(result.key) or 'no key: whole rows'})")
    return "\n".join([head] + [f"  {r.key_text:<38} {_cut(r.label)}" for r in result.records])


def _record(r) -> str:
    width = max((len(c) for c in r.values), default=0)
    return "\n".join([f"{r.key_text}  {r.label}"] + [f"  {c:<{width}}  {_cut(v)}" for c, v in r.values.items()])


def cmd_diff(args) -> int:
    from ..services.browse_diff import DiffJob
    progress = Progress(not args.json)
    job = DiffJob(context(args), args.org, args.backup, args.against, args.table, args.csv, on_event=progress)
    result = run_job(job, progress)
    out(args, result.to_json(), lambda _d: _said_first(result, _diff_human(result)))
    return 0


def _diff_human(result) -> str:
    lines = [f"from backup {result.old} to {'the rows now' if result.new == 'now' else 'backup ' + result.new}:"]
    same = [t.name for t in result.tables if not t.differs]
    for t in result.tables:
        if not t.differs:
            continue
        lines.append(f"  {t.name}: {t.added:,} added, {t.removed:,} removed, {t.changed:,} changed, "
                     f"{t.unchanged:,} unchanged")
        for rc in t.rows[:20]:
            mark = {"added": "+", "removed": "-", "changed": "~"}[rc.kind]
            lines.append(f"    {mark} {rc.key}  {_cut(rc.label)}")
            lines += [f"        {c.column}: {_cut(c.old)} → {_cut(c.new)}" for c in rc.changes]
        if t.added + t.removed + t.changed > 20:
            lines.append(f"    … {t.added + t.removed + t.changed - 20:,} more (all of them with --csv FILE or --json)")
    if same:
        lines.append(f"  unchanged: {', '.join(same)}")
    if result.files:
        lines.append(f"  files: {sum(f.kind == 'added' for f in result.files)} added, "
                     f"{sum(f.kind == 'removed' for f in result.files)} removed, "
                     f"{sum(f.kind == 'changed' for f in result.files)} changed")
        lines += [f"    {f.kind}: {f.bucket}/{f.path}" for f in result.files[:20]]
    if result.csv_path:
        lines.append(f"every change written to {result.csv_path}")
    return "\n".join(lines)


def _non_negative(text: str) -> int:
    import argparse
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number (0 or more)")
    return n


def register(add) -> None:
    """`add(name, func, help)` is cli/parser.py's: a sub-parser with the common options."""
    s = add("show", cmd_show, "look inside a backup: its tables; a table's rows in key order, one record "
            "(--key) or the rows holding a text (--search); --csv writes them for a spreadsheet")
    s.add_argument("--org", required=True, metavar="ID")
    s.add_argument("--backup", required=True, metavar="BACKUP_ID", help="a backup id, or YYYY-MM-DD for that day's newest")
    s.add_argument("--table", metavar="T")
    how = s.add_mutually_exclusive_group()
    how.add_argument("--key", metavar="K", help="one record by its key (a composite key as a:b)")
    how.add_argument("--search", metavar="TEXT", help="the rows with TEXT in any value (any case)")
    s.add_argument("--limit", type=_non_negative, default=50, metavar="N", help="rows per page (default 50)")
    s.add_argument("--offset", type=_non_negative, default=0, metavar="M", help="rows to skip (default 0)")
    s.add_argument("--csv", metavar="FILE", help="write every (matching) row of --table to FILE")
    d = add("diff", cmd_diff, "what changed from a backup to the rows now, or to another backup: rows added, "
            "removed and changed (columns old → new) per table, and files")
    d.add_argument("--org", required=True, metavar="ID")
    d.add_argument("--backup", required=True, metavar="BACKUP_ID", help="the older side: a backup id or YYYY-MM-DD")
    d.add_argument("--against", default="now", metavar="now|BACKUP2", help="the newer side (default: now)")
    d.add_argument("--table", metavar="T", help="only this table")
    d.add_argument("--csv", metavar="FILE", help="write every change to FILE (one line per changed column)")

