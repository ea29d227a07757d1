"""The scaffolder's output passes the gate and its own tests at once (in a copy of the repo)."""

import os
import subprocess
import sys
from pathlib import Path


def _meshctl(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "governance", *args, "--root", str(root)],
        capture_output=True, text=True, cwd=root, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip


def test_scaffolded_domain_passes_the_gate_and_its_tests(tmp_path, repo_root):
    copy = tmp_path / "mesh"
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo_root, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, files):
        if (repo_root / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            (copy / name).write_bytes((repo_root / name).read_bytes())
    done = _meshctl(copy, "new-domain", "customer_success", "--owner", "team:customer-success",
                    "--no-sync")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "customer_success" in (copy / "workspace.yaml").read_text()
    assert '"mesh-customer-success"' in (copy / "pyproject.toml").read_text()
    assert (
        "/domains/customer_success/ @mesh/customer_success"
        in (copy / ".github" / "CODEOWNERS").read_text()
    )
    uv = os.environ.get("UV") or "uv"
    locked = subprocess.run([uv, "lock"], cwd=copy, capture_output=True, text=True)
    assert locked.returncode == 0, locked.stderr
    assert 'name = "mesh-customer-success"' in (copy / "uv.lock").read_text()
    gate = _meshctl(copy, "check")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "domains/customer_success"],
        cwd=copy, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(copy / "domains" / "customer_success")},
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-3000:]
    again = _meshctl(copy, "new-domain", "customer_success", "--owner", "team:x", "--no-sync")
    assert again.returncode == 2 and "already exists" in again.stderr
