"""A base git ref's tree, materialized next to the working tree, and its graph.

`git archive <ref> | tar -x` into a temp dir (no checkout, no worktree bookkeeping); the base
graph is loaded in a subprocess whose PYTHONPATH puts the base tree's platform_core and
location packages first, so base code never mixes with the working tree's in one process."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platform_core.errors import ConfigurationError
from platform_core.workspace import read_locations

from governance.model import MeshGraph


@contextmanager
def materialized_ref(root: Path, ref: str) -> Iterator[Path]:
    """The tree of `ref` in a temporary directory (removed afterwards)."""
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref], cwd=root, capture_output=True, check=True
        ).stdout
    except subprocess.CalledProcessError as exc:
        raise ConfigurationError(
            f"git cannot read ref '{ref}' in {root}: {exc.stderr.decode().strip()}. "
            "Fix: fetch it first (e.g. `git fetch origin main`) or pass an existing ref."
        ) from None
    with tempfile.TemporaryDirectory(prefix="mesh-base-") as folder:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)


def python_path_for(tree: Path) -> list[str]:
    paths = [str(tree / "platform_core")]
    with contextlib.suppress(Exception):  # a broken dg.toml is the gate's to report
        paths += [str(loc.path) for loc in read_locations(tree)]
    return paths


def load_graph_in_subprocess(tree: Path) -> MeshGraph:
    """The tree's graph, loaded by `python -m governance snapshot` in a fresh process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*python_path_for(tree), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "governance", "snapshot", "--root", str(tree)],
        cwd=tree, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise ConfigurationError(
            f"loading the base tree failed:\n{done.stderr[-2000:]}\nFix: the base ref must be a "
            "loadable mesh (does it have workspace.yaml and dg.toml?)"
        )
    return MeshGraph.from_json(done.stdout)
