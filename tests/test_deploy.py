"""resources/deploy/: what the shipped Kubernetes CronJob and CI matrix run is exactly one
`daily --shard I/N` per shard, I = 1…N, with the secrets from a Secret (never in the file)."""

from __future__ import annotations

import re
import subprocess

from tenant_backup_gui.cli import build_parser
from tenant_backup_gui.core.shard import parse_shard

from .conftest import ROOT

DEPLOY = ROOT / "resources" / "deploy"


def value(text: str, key: str) -> str:
    return re.search(rf"^\s*{key}:\s*\"?([^\"\s#]+)", text, re.M).group(1)


def test_the_indexed_job_runs_each_shard_exactly_once():
    text = (DEPLOY / "kubernetes" / "cronjob.yaml").read_text()
    assert value(text, "completionMode") == "Indexed"
    n = int(value(text, "completions"))
    assert int(value(text, "parallelism")) == n
    shards = re.search(r"- name: SHARDS\s+value: \"(\d+)\"", text).group(1)
    assert int(shards) == n
    line = re.search(r"^\s*- (exec tenant-backup daily .*)$", text, re.M).group(1)
    jobs = re.search(r"- name: JOBS\s+value: \"(\d+)\"", text).group(1)
    seen = []
    for index in range(n):  # what the pod's shell really runs, as Kubernetes sets the index
        argv = subprocess.run(["sh", "-c", line.replace("exec tenant-backup", "printf '%s\\n'")],
                              env={"JOB_COMPLETION_INDEX": str(index), "SHARDS": shards, "JOBS": jobs},
                              capture_output=True, text=True, check=True).stdout.split()
        args = build_parser().parse_args(argv)
        assert args.command == "daily" and args.json and args.jobs == int(jobs)
        seen.append(parse_shard(args.shard))
    assert [(s.index, s.count) for s in seen] == [(i, n) for i in range(1, n + 1)]
    for key in ("TENANT_BACKUP_DATABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        assert re.search(rf"name: {key}\s+valueFrom: {{secretKeyRef: {{name: tenant-backup, key: {key}}}}}", text)
    assert "postgresql://" not in text


def test_the_ci_matrix_covers_every_shard():
    text = (DEPLOY / "ci" / "github-actions.yml").read_text()
    shards = [int(s) for s in re.search(r"shard: \[([\d, ]+)\]", text).group(1).split(",")]
    n = int(re.search(r"--shard \$\{\{ matrix\.shard \}\}/(\d+)", text).group(1))
    assert shards == list(range(1, n + 1))
    assert "secrets.TENANT_BACKUP_DATABASE_URL" in text and "fail-fast: false" in text


def test_the_container_runs_the_headless_cli_with_its_sql():
    text = (DEPLOY / "Containerfile").read_text()
    assert 'ENTRYPOINT ["tenant-backup"]' in text
    assert "COPY resources/sql ./resources/sql" in text and "TENANT_BACKUP_RESOURCES=/opt/tenant-backup/resources" in text
    assert "[gui]" not in text.split("RUN pip install", 1)[1].splitlines()[0]
