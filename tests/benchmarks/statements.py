"""What a nightly run asks the server, counted from the server's own log (bench_daily --statements).

A run is repeated with log_min_duration_statement = 0: the server logs every statement with its
duration (simple protocol: `statement:`; extended: `parse`, `bind` and `execute`, sent together
in one flush). Statements are grouped by kind (their first words, table names and literals
blanked) and printed per tenant and per table of a tenant, with the server's time for each kind:
where a table's round trips and the server's part of its cost are."""

from __future__ import annotations

import re
from collections import defaultdict

import psycopg

LINE = re.compile(r"LOG:  duration: ([0-9.]+) ms  (statement|execute [^:]*|parse [^:]*|bind [^:]*): (.*)")


def kind(stmt: str) -> str:
    s = re.sub(r"'[^']*'", "'…'", stmt)
    s = re.sub(r'"[^"]*"', '"…"', s)
    s = re.sub(r"\b[a-z]+_\d{3}\b", "t", s)  # the grown shape's table names
    s = re.sub(r"\s+", " ", s).strip()
    if s.upper().startswith("COPY"):
        return "COPY (export query of one table) TO STDOUT"
    if "tenant_backup_export_query" in s:
        return "SELECT export queries of every table (prepare_export)"
    return s[:90]


def count_statements(server, run, tenants: int, tables: int) -> str:
    """run() under statement logging; a table of statements per tenant by kind."""
    url = server.get_uri()
    log = server.log
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("alter system set log_min_duration_statement = 0")
        c.execute("select pg_reload_conf()")
    offset = log.stat().st_size
    try:
        run()
    finally:
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("alter system reset log_min_duration_statement")
            c.execute("select pg_reload_conf()")
    count: dict[str, int] = defaultdict(int)
    ms: dict[str, float] = defaultdict(float)
    steps = {"statement": 0, "execute": 0, "parse": 0, "bind": 0}
    with open(log, "rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    for i, line in enumerate(lines):
        m = LINE.search(line)
        if not m:
            continue
        duration, step, text = float(m.group(1)), m.group(2).split()[0], m.group(3)
        steps[step] += 1
        j = i + 1
        while j < len(lines) and lines[j].startswith("\t"):
            text += " " + lines[j].strip()
            j += 1
        k = kind(text)
        if step in ("statement", "execute"):
            count[k] += 1
        ms[k] += duration
    sent = steps["statement"] + steps["execute"]
    out = [f"server statements over {tenants} tenants × {tables} tables: {sent:,} "
           f"({sent / tenants:.1f} per tenant, {sent / tenants / tables:.2f} per table per tenant; "
           f"{steps['parse']:,} parse and {steps['bind']:,} bind steps besides)",
           f"  {'per tenant':>10} {'server ms/tenant':>16}  kind"]
    for k in sorted(count, key=lambda k: -count[k])[:25]:
        out.append(f"  {count[k] / tenants:10.2f} {ms[k] / tenants:16.3f}  {k}")
    total = sum(ms.values())
    out.append(f"  server time: {total / tenants:.2f} ms per tenant, {total / tenants / tables:.3f} ms per table")
    return "\n".join(out)
