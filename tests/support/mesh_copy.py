"""A copy of the mesh's sources in its own git repository, for tests that change a branch."""

import os
import shutil
import subprocess
from pathlib import Path

MESH_FILES = ("dg.toml", "workspace.yaml", "pyproject.toml", "uv.lock", ".gitignore")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".venv", ".mesh")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def copy_mesh(repo_root: Path, target: Path) -> Path:
    """The mesh's sources in a fresh git repository with one commit on main."""
    target.mkdir(parents=True)
    for name in MESH_FILES:
        shutil.copy2(repo_root / name, target / name)
    shutil.copytree(repo_root / "platform_core", target / "platform_core", ignore=IGNORED)
    shutil.copytree(repo_root / "domains", target / "domains", ignore=IGNORED)
    shutil.copytree(
        repo_root / "governance", target / "governance",
        ignore=shutil.ignore_patterns("__pycache__", "tests", "governance"),
    )  # fmt: skip
    shutil.copytree(
        repo_root / "dbt_project", target / "dbt_project",
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"),
    )  # fmt: skip
    git(target, "init", "-q", "-b", "main")
    git(target, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(target, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    return target


def python_path(repo: Path) -> str:
    """PYTHONPATH that makes the copy's code, not the installed worktree's, the one imported."""
    paths = [repo / "platform_core", *sorted((repo / "domains").iterdir())]
    return os.pathsep.join(str(p) for p in paths)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
