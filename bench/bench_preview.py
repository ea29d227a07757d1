"""Benchmark: `meshctl preview` of a one-model change against rebuilding what it changed.

On a copy of the mesh (its own git repository and MESH_HOME): main is materialized, a branch
changes one line of dbt_project/models/sales/marts/daily_revenue.sql, then
- the preview runs (impact model, branch copy, rebuild of changed + downstream, data diff);
  it reports its phases' seconds;
- (not with --smoke) the preview runs again, as a reviewer re-runs it after an edit: the base
  graph, manifest and contracts come from the per-commit cache (governance.basecache; the base
  tree is not extracted from git at all), unchanged head locations from the gate's cache;
- the baseline, in the same run: `meshctl materialize --select` of exactly the same assets,
  right after the edit (it parses the edited dbt project first, as the preview does).
Printed: the diff's share of the rebuild (the issue's budget: under 10 %), and the whole
preview against the plain rebuild, in wall seconds and in CPU seconds of all the command's
processes (dbt's included; steadier than wall time on a shared machine). Never passes or
fails on time.

    uv run python bench/bench_preview.py [--tenants 5 --orders-per-tenant 2000] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODEL = "dbt_project/models/sales/marts/daily_revenue.sql"
COPIED = ("platform_core", "domains", "dbt_project", "governance")
IGNORED = shutil.ignore_patterns("__pycache__", "tests", ".venv", ".mesh")
DBT_IGNORED = shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml")


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@example.com", *args],
        cwd=repo, check=True, capture_output=True,
    )  # fmt: skip


def copy_mesh(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in ("dg.toml", "workspace.yaml", "pyproject.toml", "uv.lock", ".gitignore"):
        shutil.copy2(ROOT / name, target / name)
    for folder in COPIED:
        # dbt_project/macros/tests/ holds generic tests: only the Python test folders are left.
        ignore = DBT_IGNORED if folder == "dbt_project" else IGNORED
        shutil.copytree(ROOT / folder, target / folder, ignore=ignore)
    shutil.rmtree(target / "governance" / "governance")  # installed; only its config is read
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-qm", "base")
    return target


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU: dict[tuple[str, ...], float] = {}  # CPU seconds of each command (and its subprocesses)


def meshctl(repo: Path, env: dict[str, str], *args: str) -> tuple[float, str]:
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(
        [str(BIN / "meshctl"), *args], cwd=repo, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"meshctl {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    CPU[args] = _children_cpu() - cpu  # the command's processes, all waited for
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--orders-per-tenant", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="2 tenants x 300 orders")
    args = parser.parse_args()
    tenants, orders = (2, 300) if args.smoke else (args.tenants, args.orders_per_tenant)
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as folder:
        repo = copy_mesh(Path(folder) / "mesh")
        paths = [repo / "platform_core", *sorted((repo / "domains").iterdir())]
        home = Path(folder) / "home"
        env = {
            **os.environ, "MESH_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
            "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
        }  # fmt: skip
        (home / "dagster_home").mkdir(parents=True)
        scale = ["--tenants", str(tenants), "--orders-per-tenant", str(orders)]
        seconds, _ = meshctl(repo, env, "materialize", *scale)
        print(f"== preview of a one-model change ({tenants} tenants x {orders} orders) ==")
        print(f"materialize main (setup)           {seconds:7.2f} s")
        git(repo, "checkout", "-q", "-b", "feature")
        path = repo / MODEL
        path.write_text(path.read_text().replace("count(*)", "count(order_id)", 1))
        preview = ("preview", "--base", "main", "--format", "json")
        preview_seconds, out = meshctl(repo, env, *preview)
        preview_cpu = CPU[preview]
        report = json.loads(out)
        keys = report["changed"] + report["downstream"]
        phases = report["seconds"]
        again: dict | None = None
        if not args.smoke:  # CI's smoke run keeps to one preview (its time budget)
            path.write_text(path.read_text().replace("count(order_id)", "count(order_id) ", 1))
            again_seconds, out = meshctl(repo, env, *preview)
            again_cpu = CPU[preview]
            again = json.loads(out)
            if again["changed"] + again["downstream"] != keys:
                sys.exit(f"the repeated preview planned {again['changed']} + {again['downstream']}")
        # The baseline: a plain rebuild of the same assets (it re-seeds the sample data too),
        # as right after the edit: the model is newer than the dbt manifest the preview parsed,
        # so the rebuild parses it first, as any rebuild of an edited model does.
        os.utime(path)
        rebuild = ("materialize", *scale, "--select", *keys)
        rebuild_seconds, _ = meshctl(repo, env, *rebuild)
        rebuild_cpu = CPU[rebuild]
        print(f"assets rebuilt: {len(keys)} ({len(report['changed'])} changed); "
              f"tables diffed: {len(report['diffs'])}")  # fmt: skip
        print(f"impact model (base + head graphs)  {phases['impact']:7.2f} s")
        print(f"rebuild inside the preview         {phases['rebuild']:7.2f} s")
        print(
            f"data diff                          {phases['diff']:7.2f} s   "
            f"ratio {phases['diff'] / phases['rebuild']:5.3f} of the rebuild (budget < 0.10)"
        )
        print(
            f"meshctl materialize --select same  {rebuild_seconds:7.2f} s   "
            f"{rebuild_cpu:7.2f} CPU s   (baseline, with seeding)"
        )
        print(
            f"meshctl preview, end to end        {preview_seconds:7.2f} s   "
            f"{preview_cpu:7.2f} CPU s   ratio {preview_seconds / rebuild_seconds:5.2f}x wall, "
            f"{preview_cpu / rebuild_cpu:5.2f}x CPU of the baseline (cold caches)"
        )
        if again is not None:
            print(f"repeated preview: impact model     {again['seconds']['impact']:7.2f} s   "
                  f"(first {phases['impact']:.2f} s)")  # fmt: skip
            print(
                f"repeated preview, end to end       {again_seconds:7.2f} s   "
                f"{again_cpu:7.2f} CPU s   ratio {again_seconds / rebuild_seconds:5.2f}x wall, "
                f"{again_cpu / rebuild_cpu:5.2f}x CPU of the baseline (base cached)"
            )


if __name__ == "__main__":
    main()
