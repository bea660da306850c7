"""Dry-run plans on disk (the user state dir), so a plan made in the window or by one CLI call can
be applied by another. A plan holds no secrets and no row data: counts, ids and a fingerprint."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..core.plan import Plan
from . import paths


def plans_dir() -> Path:
    return paths.state_dir() / "plans"


def save(plan: Plan) -> Path:
    d = plans_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{plan.plan_id}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(plan.to_json(), indent=1))
    os.replace(tmp, path)
    return path


def load(plan_id: str) -> Plan | None:
    if not re.fullmatch(r"plan-[0-9a-f]{16}", plan_id or ""):
        return None
    path = plans_dir() / f"{plan_id}.json"
    try:
        return Plan.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def discard(plan_id: str) -> None:
    """An applied plan leaves a marker, so applying it again says so instead of "no such plan"."""
    try:
        (plans_dir() / f"{plan_id}.json").replace(plans_dir() / f"{plan_id}.applied")
    except OSError:
        pass


def was_applied(plan_id: str) -> bool:
    return bool(re.fullmatch(r"plan-[0-9a-f]{16}", plan_id or "")) and (plans_dir() / f"{plan_id}.applied").exists()
