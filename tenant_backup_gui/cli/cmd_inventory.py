"""What is there: the organizations, what a tenant's backup holds (scope), its backups, and
verify (re-read a backup against its manifest)."""

from __future__ import annotations

from ..core.text import count, size
from .options import TRUST_UNSIGNED_HELP
from .printers import Progress, out
from .running import context, run_job


def cmd_tenants(args) -> int:
    from ..services.inventory import tenants
    items = [t.to_json() for t in tenants(context(args))]
    out(args, items, lambda xs: "\n".join(f"{t['id']}  {t['name']}{'  (deleted)' if t['deleted'] else ''}"
                                          for t in xs) or "no organizations")
    return 0


def cmd_scope(args) -> int:
    from ..services.inventory import scope
    doc = scope(context(args), getattr(args, "org", None))

    def human(d):
        lines = [f"{count(len(d['tables']), 'table')} hold{'s' if len(d['tables']) == 1 else ''} a tenant's rows (tenant column: {d['tenant_column']}):"]
        lines += [f"  {t['name']:<32} {t['reached']}" + ("" if t["key"] else "  (no key: compared as whole rows)")
                  for t in d["tables"]]
        if d["skipped"]:
            lines.append("not backed up:")
            lines += [f"  {n:<32} {why}" for n, why in sorted(d["skipped"].items())]
        lines += [f"warning: {w}" for w in d["warnings"]]
        if d.get("files"):
            lines.append("a tenant's files ([[files]] rules):")
            for f in d["files"]:
                cols = f" + objects named by {', '.join(f['columns'])}" if f["columns"] else ""
                found = f": {count(f['objects'], 'object')}, {size(f['bytes'])} under {f['prefix']!r}" \
                    if "objects" in f else ""
                lines.append(f"  bucket {f['bucket']}, keys starting {f['pattern']!r}{cols}{found}")
        return "\n".join(lines)
    out(args, doc, human)
    return 0


def cmd_backups(args) -> int:
    from ..core.partial import state_label
    from ..services.inventory import backups
    items = [b.to_json() for b in backups(context(args), args.org)]

    def human(xs):
        if not xs:
            return "no backups"
        rows = [f"{'id':<26} {'type':<7} {'records':>10} {'size':>10}  state"]
        for b in xs:
            state = state_label(b["complete"], b["type"] == "legacy", b.get("partial"), b.get("problem"))
            state += "" if b.get("signed") else ", UNSIGNED"
            rows.append(f"{b['id']:<26} {b['type']:<7} {b['total_records']:>10} {size(b['total_size']):>10}  {state}")
            rows += [f"    partial: {why}" for why in b.get("partial_reasons", [])]
        return "\n".join(rows)
    out(args, items, human)
    return 0


def cmd_verify(args) -> int:
    from ..services.inventory import VerifyJob
    progress = Progress(not args.json)
    result = run_job(VerifyJob(context(args), args.org, args.backup, on_event=progress,
                               trust_unsigned=args.trust_unsigned), progress)
    out(args, result, lambda r: "\n".join([r["message"]] + [f"  {p}" for p in r["problems"]]
                                          + [f"  partial: {why}" for why in r.get("partial_reasons", [])]))
    return 0 if result["success"] and not result.get("partial") else 1


def register(add) -> None:
    add("tenants", cmd_tenants, "list the organizations")
    sco = add("scope", cmd_scope, "show which tables a tenant's backup holds, how each is reached, and what is left out")
    sco.add_argument("--org", metavar="ID", help="also list this tenant's objects under the [[files]] rules")
    add("backups", cmd_backups, "list one organization's backups, newest first").add_argument(
        "--org", required=True, metavar="ID")
    v = add("verify", cmd_verify, "re-read every part of a backup against its manifest")
    v.add_argument("--org", required=True, metavar="ID")
    v.add_argument("--backup", required=True, metavar="BACKUP_ID", help="a backup id, or YYYY-MM-DD for that day's newest")
    v.add_argument("--trust-unsigned", action="store_true", help=TRUST_UNSIGNED_HELP)
