"""The one scaffolder: a domain and a tenant location are registered in every manifest, and a
scaffolded domain passes the gate and its own tests at once (in a copy of the repo)."""

import os
import subprocess
import sys
from pathlib import Path

import yaml
from governance.codeowners import render_codeowners
from governance.config import load_config
from mesh_tooling.manifests.topology import stale_manifests
from mesh_tooling.scaffold.tenant_location import generate_tenant_location
from platform_core.workspace import read_locations


def _meshctl(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mesh_tooling.cli.main", *args],
        capture_output=True, text=True, cwd=root, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip


def _copy_repo(repo_root: Path, copy: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo_root, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, files):
        if (repo_root / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            (copy / name).write_bytes((repo_root / name).read_bytes())
    return copy


def _registered_everywhere(root: Path, name: str, distribution: str) -> None:
    read_locations.cache_clear()
    assert name in {loc.name for loc in read_locations(root)}  # dg.toml
    pyproject = (root / "pyproject.toml").read_text()
    assert (
        f'"{distribution}",' in pyproject
        and f"{distribution} = {{ workspace = true }}" in pyproject
    )
    registry = load_config(root).registry
    assert registry.domains[name].path == f"domains/{name}"
    codeowners = (root / ".github" / "CODEOWNERS").read_text()
    assert codeowners == render_codeowners(registry) and f"/domains/{name}/ " in codeowners
    # workspace.yaml and every deployment manifest are rendered from dg.toml, so they name it.
    assert stale_manifests(root) == []
    workspace = yaml.safe_load((root / "workspace.yaml").read_text())
    assert name in {e["python_module"]["location_name"] for e in workspace["load_from"]}
    cloud = yaml.safe_load((root / "deployment" / "dagster_cloud.yaml").read_text())
    assert name in {e["location_name"] for e in cloud["locations"]}


def test_scaffolded_domain_passes_the_gate_and_its_tests(tmp_path, repo_root):
    copy = _copy_repo(repo_root, tmp_path / "mesh")
    done = _meshctl(copy, "new-domain", "customer_success", "--owner", "team:customer-success",
                    "--no-sync")  # fmt: skip
    assert done.returncode == 0, done.stderr
    _registered_everywhere(copy, "customer_success", "mesh-customer-success")
    assert (
        "/domains/customer_success/ @mesh/customer_success"
        in (copy / ".github" / "CODEOWNERS").read_text()
    )
    uv = os.environ.get("UV") or "uv"
    # As `new-domain` does without --no-sync. Not --offline: `uv sync --frozen` caches wheels,
    # not the index pages a resolution reads, so a fresh machine's cache cannot resolve.
    locked = subprocess.run([uv, "lock"], cwd=copy, capture_output=True, text=True, timeout=600)
    assert locked.returncode == 0, locked.stderr
    assert 'name = "mesh-customer-success"' in (copy / "uv.lock").read_text()
    gate = _meshctl(copy, "check", "--root", str(copy))
    assert gate.returncode == 0, gate.stdout + gate.stderr
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "domains/customer_success"],
        cwd=copy, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(copy / "domains" / "customer_success")},
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-3000:]
    again = _meshctl(copy, "new-domain", "customer_success", "--owner", "team:x", "--no-sync")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_a_tenant_location_is_registered_like_a_domain(tmp_path, repo_root):
    copy = _copy_repo(repo_root, tmp_path / "mesh")
    project = generate_tenant_location(copy, "initech")
    assert (project / "mesh_tenant_initech" / "custom.py").is_file()
    _registered_everywhere(copy, "tenant_initech", "mesh-tenant-initech")
    # Owned by the platform team, as the tenant_sync location it extends.
    registry = load_config(copy).registry
    assert registry.domains["tenant_initech"].owners == registry.domains["tenant_sync"].owners
    again = _meshctl(copy, "tenants", "new-location", "initech", "--no-sync")
    assert again.returncode == 2 and "already exists" in again.stderr
