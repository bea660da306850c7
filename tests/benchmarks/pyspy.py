"""Where a `daily --jobs 1` run's time goes, from py-spy (bench_daily --py-spy FILE).

py-spy is not a dependency of the project: install it into the venv to use this
(`.venv/bin/pip install py-spy`). The run is sampled with --idle (waits count: a serial run's wall
time is its CPU plus its waits on the server, the disk and the writer thread) into FILE as
collapsed stacks; the summary sums the samples of the daily-tenant thread by our own functions
(the innermost frame of tenant_backup_gui on each stack, and each such function anywhere on it),
as ms per tenant and per table of a tenant."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

RATE = 250  # samples per second


def record(env: dict, out: Path, *daily_args: str) -> None:
    spy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--py-spy: py-spy is not installed (pip install py-spy into the venv)")
    cp = subprocess.run([spy, "record", "--idle", "--threads", "--format", "raw", "--rate", str(RATE), "-o", str(out),
                         "--", sys.executable, "-m", "tenant_backup_gui", "daily", *daily_args, "--json"],
                        env=env, capture_output=True, text=True)
    if cp.returncode:
        raise SystemExit(f"py-spy record failed: {cp.stderr.strip()[-500:]}")


FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:]+)(?::(?P<line>\d+))?\)$")


def summary(path: Path, tenants: int, tables: int, top: int = 30) -> str:
    """The tenant workers' samples by our functions, then the part writers' (which a worker
    waits for at each table's end), as ms per tenant and per table."""
    return "\n".join([_summary(path, tenants, tables, ("daily-tenant", "backup-lane"), "the tenant workers'", top),
                      _summary(path, tenants, tables, ("backup-writer",), "the part writers'", top // 2)])


def _summary(path: Path, tenants: int, tables: int, threads: tuple, who: str, top: int) -> str:
    self_ms: dict[str, float] = defaultdict(float)
    incl_ms: dict[str, float] = defaultdict(float)
    total = 0.0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        if not frames or not any(t in frames[0] for t in threads):
            continue
        ms = int(count) * 1000 / RATE
        total += ms
        ours = []
        for f in frames[1:]:
            m = FRAME.match(f.strip())
            if m and "tenant_backup_gui" in m.group("file"):
                where = m.group("file").split("tenant_backup_gui/")[-1]
                ours.append(f"{where}:{m.group('func')}")
        leaf = frames[-1].strip()
        key = f"{ours[-1]} → {leaf}" if ours else leaf
        self_ms[key] += ms
        for name in set(ours):
            incl_ms[name] += ms
    out = [f"py-spy (--idle), {who} wall time: {total / tenants:.1f} ms per tenant, "
           f"{total / tenants / tables:.2f} ms per table",
           "  inclusive, by our function (ms per tenant / per table):"]
    for name in sorted(incl_ms, key=lambda n: -incl_ms[n])[:top]:
        out.append(f"  {incl_ms[name] / tenants:8.2f} {incl_ms[name] / tenants / tables:7.3f}  {name}")
    out.append("  innermost frames (ours → the call it waits in):")
    for name in sorted(self_ms, key=lambda n: -self_ms[n])[:top]:
        out.append(f"  {self_ms[name] / tenants:8.2f} {self_ms[name] / tenants / tables:7.3f}  {name[:150]}")
    return "\n".join(out)
