"""Reading what a backup holds, straight from the files: tests check the product's output with
their own eyes, not through the code under test."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def summaries(store: Path, org: str) -> list[Path]:
    return sorted((store / "tenant-backups" / org).glob("*/summary-*.json"))


def load_summary(store: Path, org: str, backup_id: str) -> dict:
    return json.loads(next((store / "tenant-backups" / org).glob(f"*/summary-{backup_id}.json")).read_text())


def table_lines(store: Path, summary: dict, table: str) -> list[str]:
    lines = []
    for part in summary["manifest"]["tables"][table]["parts"]:
        data = gzip.decompress((store / part["key"]).read_bytes()).decode()
        lines += [l for l in data.split("\n") if l]
    return lines
