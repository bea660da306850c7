"""What a restore will do and did, in words: one vocabulary for the CLI's printers and the
restore wizard. Numbers and sizes are written by the caller's functions (`num`, `size`): the
window groups digits the locale's way, the CLI prints them plain."""

from __future__ import annotations

from typing import Callable

from .results import DryRunReport, RestoreOutcome, RestoreResult
from .text import size as plain_size

Fmt = Callable[[int], str]


def rows(n: int, num: Fmt = str) -> str:
    return f"{num(n)} row{'' if n == 1 else 's'}"


def files_words(section: dict | None, upload: str, delete: str) -> str:
    """The files part of a restore's one-line message."""
    if not section:
        return ""
    return (f"; files: {upload} {len(section['to_upload'])} ({plain_size(section['bytes']['to_upload'])}), "
            f"{delete} {len(section['to_delete'])}, {section['unchanged']} unchanged")


def files_lines(section: dict | None, *, done: bool = False, shown: int = 8, num: Fmt = str,
                size: Fmt = plain_size, listing: bool = False) -> list[str]:
    """The files section of a dry run (or, done, of an apply): counts and bytes, then the first
    objects it touches. listing: the CLI's form (each object with its size, the rest in --json)."""
    if not section:
        return []
    b = section["bytes"]
    up, de = ("uploaded", "deleted") if done else ("upload", "delete")
    if listing:
        head = (f"files: to {up} {num(len(section['to_upload']))} ({size(b['to_upload'])}), to {de} "
                f"{num(len(section['to_delete']))} ({size(b['to_delete'])}), unchanged {num(section['unchanged'])} "
                f"({size(b['unchanged'])})")
    else:
        head = (f"Files: {up} {num(len(section['to_upload']))} ({size(b['to_upload'])}), {de} "
                f"{num(len(section['to_delete']))} ({size(b['to_delete'])}), unchanged {num(section['unchanged'])} "
                f"({size(b['unchanged'])}).")
    touched = [(up, d) for d in section["to_upload"]] + [(de, d) for d in section["to_delete"]]
    extra = (lambda d: f" ({size(d['bytes'])})") if listing else (lambda d: "")
    lines = [head] + [f"  {verb} {d['bucket']}/{d['path']}{extra(d)}" for verb, d in touched[:shown]]
    if len(touched) > shown:
        lines.append(f"  … and {num(len(touched) - shown)} more" + (" (--json lists them all)" if listing else ""))
    return lines


def verdict(report: RestoreOutcome, mode: str, partial: bool, num: Fmt = str) -> str:
    """A dry run in one plain sentence, for the mode it was run in."""
    ins, upd, dele = report.changes
    f = report.files or {}
    moves = [f"{verb} {num(n)} file{'' if n == 1 else 's'}"
             for verb, n in (("upload", len(f.get("to_upload", []))), ("delete", len(f.get("to_delete", [])))) if n]
    files = " and ".join(moves)  # the files a restore writes or deletes belong in the one sentence too
    if not report.success:
        text = f"Cannot restore: {report.problems[0]}" if report.problems else report.message
    elif mode == "missing-only":
        text = (f"Will put back {rows(ins, num)} deleted since the backup and change nothing else." if ins else
                "Nothing is missing: no row would be put back.")
        if files:
            text = text.rstrip(".") + f"; will {files}."
    else:
        parts = [f"{verb} {num(n)}" for verb, n in (("delete", dele), ("update", upd), ("insert", ins)) if n]
        if parts:
            parts[0] += " row" + ("" if (dele or upd or ins) == 1 else "s")
            text = "Will " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]) + \
                (f"; {files}." if files else ".")
        elif files:
            text = f"The rows already equal the backup; will {files}."
        else:
            text = "Nothing to change: the organization already equals the backup."
    if partial:
        text = text.rstrip(".") + (" — the backup is partial: consider Missing rows only." if mode == "replace" else
                                   " — the backup is partial, so nothing it lacks is touched.")
    return text


def table_lines(report: RestoreOutcome) -> list[str]:
    """Per table: the backup's rows, today's, and what the restore changes (the CLI's table)."""
    if not report.tables:
        return []
    out = [f"{'table':<28} {'backup':>9} {'now':>9} {'insert':>8} {'update':>8} {'delete':>8} {'same':>8}"]
    out += [f"{n:<28} {t.record_count:>9} {t.current_rows:>9} {t.to_insert:>8} {t.to_update:>8} {t.to_delete:>8} "
            f"{t.unchanged:>8}" for n, t in report.tables.items()]
    return out


def restore_text(report: RestoreOutcome) -> str:
    """A dry run (or apply) for a terminal: the message, the tables, the files, the notes and,
    after a dry run that passed, the command that applies its plan."""
    lines = [report.message]
    if isinstance(report, DryRunReport):
        lines += [f"  PARTIAL backup: {why}" for why in report.partial_reasons]
    lines += [f"  {line}" for line in table_lines(report)]
    lines += [f"  {line}" for line in files_lines(report.files, shown=40, listing=True, done=False)] \
        if report.files else []
    lines += [f"  problem: {p}" for p in report.problems]
    lines += [f"  warning: {w}" for w in report.warnings]
    if isinstance(report, DryRunReport) and report.plan_id:
        lines.append(f"\nTo apply exactly this plan (valid for a limited time):\n  tenant-backup restore --org "
                     f"{report.organization_id} --backup {report.backup_id} --apply --plan {report.plan_id}"
                     + ("" if report.signed else " --trust-unsigned"))
    return "\n".join(lines)


def applied_text(result: RestoreResult, tenant_name: str | None, num: Fmt = str, size: Fmt = plain_size) -> str:
    """What an apply did, and how to undo it."""
    text = (f"Restored {rows(result.restored, num)} in {num(len(result.tables))} tables of "
            f"{result.organization_name or tenant_name} from backup {result.backup_id}.\n\n"
            f"Safety backup: {result.safety_backup_id} — it holds the state before; Undo restores it.")
    if result.files:
        text += "\n\n" + "\n".join(files_lines(result.files, done=True, num=num, size=size))
    return text


def failed_text(error: str, changed: list[str]) -> str:
    """A failed apply: "nothing was changed" only when that is so."""
    if not changed:
        return f"Nothing was changed.\n\n{error}"
    return "Not everything is as before: " + "; ".join(changed) + f".\n\n{error}"
