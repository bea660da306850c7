"""resources/deploy/: the shipped Kubernetes manifests and CI workflow are valid for the API's and
GitHub's own schemas (kubernetes-validate --strict, check-jsonschema's vendored schema: both wheels
carry them, no network), what they run is exactly one `daily --shard I/N` per shard, I = 1…N, with
the secrets from a Secret (never in the file); the Containerfile copies what the package ships and
sets nothing the tool does not read."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib

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


def validate(tool: list[str], *files) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *tool, *map(str, files)], capture_output=True, text=True,
                          timeout=120)


K8S = ["kubernetes_validate", "--strict", "--quiet"]
WORKFLOW = ["check_jsonschema", "--builtin-schema", "vendor.github-workflows"]


def test_the_kubernetes_manifests_are_valid_for_the_api(tmp_path):
    manifests = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
    assert manifests
    cp = validate(K8S, *manifests)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    # The validator does catch what a typo would do: a field the API does not have.
    broken = tmp_path / "cronjob.yaml"
    broken.write_text((DEPLOY / "kubernetes" / "cronjob.yaml").read_text().replace("completionMode:", "completionMod:", 1))
    assert validate(K8S, broken).returncode != 0


def test_the_ci_workflow_is_valid_for_githubs_schema(tmp_path):
    workflow = DEPLOY / "ci" / "github-actions.yml"
    cp = validate(WORKFLOW, workflow)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    broken = tmp_path / "workflow.yml"
    broken.write_text(workflow.read_text().replace("runs-on:", "run-on:", 1))
    assert validate(WORKFLOW, broken).returncode != 0


def containerfile() -> tuple[list[str], dict[str, str]]:
    """The Containerfile's COPY sources and ENV variables."""
    text = (DEPLOY / "Containerfile").read_text().replace("\\\n", " ")
    copied = [src for line in re.findall(r"^COPY (.+)$", text, re.M) for src in line.split()[:-1]]
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(re.findall(r"^ENV (.+)$", text, re.M))))
    return copied, env


def test_the_container_copies_every_file_the_package_ships():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tool = pyproject["tool"]["setuptools"]
    copied, _ = containerfile()
    needed = [f"{tool['package-dir'].get(pkg, pkg.replace('.', '/'))}/{pattern}"
              for pkg, patterns in tool["package-data"].items() for pattern in patterns]
    needed += ["pyproject.toml", "README.md"]
    missing = [n for n in needed if not any(n == c or n.startswith(c.rstrip("/") + "/") for c in copied)]
    assert not missing, f"the image's pip install would lack {missing}"


def test_the_container_sets_only_variables_something_reads():
    _, env = containerfile()
    code = "\n".join(p.read_text() for p in (ROOT / "tenant_backup_gui").rglob("*.py"))
    unused = [name for name in env if not name.startswith("PYTHON") and name not in code]
    assert not unused, f"the Containerfile sets {unused}, which nothing reads"
    assert 'ENTRYPOINT ["tenant-backup"]' in (DEPLOY / "Containerfile").read_text()


def test_every_file_the_package_declares_exists():
    """pyproject.toml's package data: a pattern that matches nothing ships nothing (a stale entry)."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for pkg, patterns in tool["package-data"].items():
        folder = ROOT / tool["package-dir"].get(pkg, pkg.replace(".", "/"))
        for pattern in patterns:
            assert list(folder.glob(pattern)), f"{pkg}: {pattern} matches no file in {folder}"


def test_the_image_builds_and_runs_the_headless_cli_when_a_container_engine_is_here():
    engine = shutil.which("podman") or shutil.which("docker")
    if engine is None or subprocess.run([engine, "info"], capture_output=True, timeout=30).returncode != 0:
        import pytest
        pytest.skip("no working podman or docker here: the Containerfile is checked by the tests above")
    tag = "tenant-backup-test"
    subprocess.run([engine, "build", "-q", "-f", str(DEPLOY / "Containerfile"), "-t", tag, str(ROOT)], check=True,
                   timeout=1200)
    cp = subprocess.run([engine, "run", "--rm", tag, "--version"], capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0 and cp.stdout.strip(), cp.stderr
