"""A tenant's backup holds its rows and no row of another tenant, whatever the data looks like.

Property-based: random tenants, random row counts, children whose parents are spread over
tenants; each example in a fresh database."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
from hypothesis import HealthCheck, given, settings, strategies as st

from tenant_backup_gui.core.config import Config
from tenant_backup_gui.platform.settings import Settings
from tenant_backup_gui.services.backup import BackupJob
from tenant_backup_gui.services.context import Context

from .conftest import setup_sql
from .helpers import load_summary, table_lines
import json

SCHEMA = """
create table organizations (id uuid primary key, name text);
create table projects (id bigint primary key, organization_id uuid not null references organizations);
create table tasks (id bigint primary key, project_id bigint not null references projects, title text);
create table task_comments (id bigint primary key, task_id bigint not null references tasks, body text);
create table tags (id int primary key, label text);
"""

tenants_st = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 5), st.integers(0, 4)),  # projects, tasks/project, comments/task
    min_size=1, max_size=5)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=tenants_st, pick=st.integers(0, 4), data=st.data())
def test_backup_holds_exactly_the_tenants_rows(templates, tmp_path_factory, shape, pick, data):
    tpl = templates.template("tpl_iso", SCHEMA, setup_sql())
    url = templates.clone(tpl)
    orgs = [str(uuid.UUID(int=i + 1)) for i in range(len(shape))]
    owner = {}  # row id → org, for every table
    with psycopg.connect(url, autocommit=True) as c:
        pid = tid = cid = 0
        for org, (np, nt, nc) in zip(orgs, shape):
            c.execute("insert into organizations values (%s, %s)", [org, f"org {org[-4:]}"])
            for _ in range(np):
                pid += 1
                c.execute("insert into projects values (%s, %s)", [pid, org])
                owner[("projects", pid)] = org
                for _ in range(nt):
                    tid += 1
                    c.execute("insert into tasks values (%s, %s, 'x')", [tid, pid])
                    owner[("tasks", tid)] = org
                    for _ in range(data.draw(st.integers(0, nc))):
                        cid += 1
                        c.execute("insert into task_comments values (%s, %s, 'c')", [cid, tid])
                        owner[("task_comments", cid)] = org
        c.execute("insert into tags values (1, 'global')")
    org = orgs[pick % len(orgs)]
    store = tmp_path_factory.mktemp("store")
    ctx = Context.from_settings(Settings(Config(expected_tables=()), None, url, store))
    result = asyncio.run(BackupJob(ctx, org).run())
    summary = load_summary(store, org, result.id)
    assert "tags" not in summary["manifest"]["tables"]
    for table in ("projects", "tasks", "task_comments"):
        ids = sorted(json.loads(l)["id"] for l in table_lines(store, summary, table))
        expected = sorted(i for (t, i), o in owner.items() if t == table and o == org)
        assert ids == expected, table
        assert summary["tables"][table]["record_count"] == len(expected)
    assert [json.loads(l)["id"] for l in table_lines(store, summary, "organizations")] == [org]
