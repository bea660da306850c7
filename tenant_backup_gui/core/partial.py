"""Is an old-system backup partial? Its tables were read with one capped request each.

The old system read each table with one `select('*')`; PostgREST (Supabase's REST API) cuts a
response at `max-rows`, 1000 by default, and says nothing. A legacy table holding exactly a
multiple of that cap was almost surely cut. Tables the old run failed on for a reason other than
"no such table" (e.g. no `organization_id` column) hold the tenant's rows but are absent from the
backup. A `replace` restore from such a backup deletes every row it lacks, so the owner is told
before any dry-run number, and `replace` needs an explicit acceptance.

Pure: reads the old summary document, no I/O."""

from __future__ import annotations

import re

LEGACY_ROW_CAP = 1000  # PostgREST's db-max-rows on Supabase, which the old system never paged past
# The old run's error for a table that does not exist (PostgREST 12 and newer): nothing was lost there.
_NO_SUCH_TABLE = re.compile(r"relation \S+ does not exist|could not find the table|PGRST205|42P01", re.I)


def legacy_partial_reasons(summary: dict) -> list[str]:
    """Why an old-system summary describes a partial backup; empty when nothing points to it."""
    reasons: list[str] = []
    capped, absent = [], []
    for name, t in (summary.get("tables") or {}).items():
        if not isinstance(t, dict):
            continue
        count = int(t.get("record_count") or 0)
        if t.get("success") and t.get("storage_path"):
            if count and count % LEGACY_ROW_CAP == 0:
                capped.append((name, count))
        else:
            error = str(t.get("error") or "")
            if not _NO_SUCH_TABLE.search(error):
                absent.append((name, error or "unknown error"))
    for name, count in capped:
        reasons.append(f"table {name}: exactly {count:,} rows, the old system's read cap — the rest was "
                       f"probably never read")
    for name, error in absent:
        reasons.append(f"table {name} is absent: the old system failed on it ({error})")
    return reasons


def state_label(complete: bool, legacy: bool, partial: bool, problem: str | None = None) -> str:
    """One wording of a backup's state for the CLI and the window alike."""
    if not complete:
        return f"INCOMPLETE: {problem or 'no summary'}"
    if partial:
        return "PARTIAL (old system, rows missing)"
    return "complete (old format, no checksums)" if legacy else "complete"


def replace_refusal(partial: bool, mode: str, accepted: bool) -> str | None:
    """A replace from a partial backup deletes the rows it lacks: refused unless accepted explicitly."""
    if partial and mode == "replace" and not accepted:
        return ("the backup is partial (the old system's 1,000-row cap or failed tables): a replace would delete "
                "every current row it lacks; restore with --mode missing-only, or pass --accept-partial to replace "
                "anyway")
    return None
