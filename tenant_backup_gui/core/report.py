"""What a restore will do and did, in words: one vocabulary for the CLI's printers and the
restore wizard. Numbers and sizes are written by the caller's functions (`num`, `size`): the
window groups digits the locale's way, the CLI prints them plain."""

from __future__ import annotations

from typing import Callable, Iterator

from .results import DryRunReport, RestoreOutcome, RestoreResult
from .text import size as plain_size

Fmt = Callable[[int], str]


def rows(n: int, num: Fmt = str) -> str:
    return f"{num(n)} row{'' if n == 1 else 's'}"


def change_words(tables, done: bool, num: Fmt = str, in_tables: bool = True) -> str:
    """What a restore changes (or changed), the one wording of dry run, confirm, result, history and
    CLI: rows inserted, updated, deleted, in the tables that change, and the rows it leaves different.
    tables: the TablePlans."""
    ins, upd, dele, rel = (sum(getattr(t, k) for t in tables)
                           for k in ("to_insert", "to_update", "to_delete", "relinked"))
    left = sum(t.left_different for t in tables)
    changed = sum(1 for t in tables if t.to_insert or t.to_update or t.to_delete or t.relinked)
    verbs = ("inserted", "updated", "deleted", "relinked") if done else ("insert", "update", "delete", "relink")
    parts = [f"{v} {num(n)}" for v, n in zip(verbs, (ins, upd, dele, rel)) if n]
    if not parts:
        text = "changed no row" if done else "change no row"
    else:
        text = (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]) + \
            f" row{'' if ins + upd + dele + rel == 1 else 's'}" + \
            (f" in {num(changed)} table{'' if changed == 1 else 's'}" if in_tables else "")
    if left:
        text += f"; {rows(left, num)} left different"
    return text


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
    elif mode == "rows":
        said = [f"{verb} {rows(n, num)}" for verb, n in (("put back", ins), ("overwrite", upd),
                                                           ("relink", report.relinked)) if n]
        text = ("Will " + (", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else said[0])
                + " and change nothing else." if said else "The chosen rows already equal the backup: nothing to put back.")
        if report.left_different:
            text += (f" {rows(report.left_different, num)} of them exist now and differ from the backup: "
                     f"conflicts, left as they are (Overwrite would make them the backup's).")
    elif mode == "missing-only":
        text = (f"Will put back {rows(ins, num)} deleted since the backup and change nothing else." if ins else
                "Nothing is missing: no row would be put back.")
        if report.relinked:
            text = text.rstrip(".") + f" but {rows(report.relinked, num)} whose link to them comes back."
        if report.left_different:  # missing-only's trade-off, said: these stay as they are now
            text += (f" {rows(report.left_different, num)} differ from the backup and are left as they are "
                     f"(Replace would make them equal).")
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
    """Per table: the backup's rows, today's, and what the restore changes (the CLI's table). What
    changes (or cannot) first, as the wizard lists them; counts grouped as the window groups them."""
    if not report.tables:
        return []
    changes = lambda t: t.problems or t.to_insert or t.to_update or t.to_delete or t.left_different or t.relinked  # noqa: E731
    ordered = sorted(report.tables.items(), key=lambda kv: not changes(kv[1]))  # changed tables first
    relinks = any(t.relinked for t in report.tables.values())
    out = [f"{'table':<28} {'backup':>9} {'now':>9} {'insert':>8} {'update':>8} {'delete':>8} {'same':>8} {'left':>8}"
           + (f" {'relink':>8}" if relinks else "")]
    out += [f"{n:<28} {t.record_count:>9,} {t.current_rows:>9,} {t.to_insert:>8,} {t.to_update:>8,} "
            f"{t.to_delete:>8,} {t.unchanged:>8,} {t.left_different:>8,}" + (f" {t.relinked:>8,}" if relinks else "")
            for n, t in ordered]
    return out


KIND_WORDS = {"insert": "insert", "update": "update", "delete": "delete", "left": "left different",
              "relink": "relink", "conflict": "conflict"}


def row_lines(spool) -> Iterator[str]:
    """Every row a dry run changes, per table, for a terminal: kind, key, label, and for an
    update (or a row left different) its columns as `now → backup`. Streams the spool."""
    for name in spool.tables():
        c = spool.counts[name]
        yield f"{name}: " + ", ".join(f"{KIND_WORDS[k]} {c[k]}" for k in KIND_WORDS if c.get(k))
        for r in spool.rows(name):
            label = f"  {r.label}" if r.label and r.label != r.key_text else ""
            why = f"  ({r.why})" if r.why and r.why != "chosen" else ""
            yield f"  {KIND_WORDS[r.kind]:<14} {r.key_text}{label}{why}"
            for ch in r.changes:
                yield f"      {ch.column}: {_value(ch.now)} → {_value(ch.backup)}"


def _value(v: str | None) -> str:
    return "NULL" if v is None else v if len(v) <= 80 else v[:77] + "…"


def restore_text(report: RestoreOutcome) -> str:
    """A dry run (or apply) for a terminal: the message, the tables, the files, the notes and,
    after a dry run that passed, the command that applies its plan."""
    lines = [report.message]
    if report.backup_type:  # which backup a date or id chose: a safety backup is never a surprise
        lines.append(f"  from the {report.backup_type} backup {report.backup_id} of "
                     f"{report.backup_created_at:%Y-%m-%d %H:%M:%S} UTC")
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
    text = (f"{'Undid the restore' if result.undo else 'Restored'}: {change_words(list(result.tables.values()), True, num)} of "
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
