"""The row JSON as versions before the export helpers' version 2 rendered it, written out as it was:
the reference resources/sql/rows.sql must match byte for byte (tests/test_row_json.py), and the cost
it is measured against (tests/benchmarks/bench_export.py)."""

from __future__ import annotations


def old_row_json(t) -> str:
    """For a core.scope.Table: a scalar sub-select per row, json, jsonb and array columns as their text."""
    if not t.text_columns:
        return 'row_to_json("tb$row")'
    cols = ", ".join(f'to_json("tb$row"."{c.name}"::text) AS "{c.name}"' if c.as_text else f'"tb$row"."{c.name}"'
                     for c in t.columns)
    return f"row_to_json((SELECT x FROM (SELECT {cols}) x))"
