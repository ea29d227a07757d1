"""Benchmark: code-location load time with dbt, next to `import dagster_dbt` in the same run.

(The real locations' load, each against its framework import, is in bench_mesh.py.)
- a generated project of 2,000 models (4 domains x 500: staging chains, public marts with
  enforced contracts, not_null/unique tests, cross-domain refs), manifest prepared once
  beforehand (its parse time is printed, not part of the load).
- run: one location's dbt slice materialized through Dagster (fresh process: load, the dbt
  resource, `dbt build` of the group, row counts) against `dbt build` of the same group run
  directly in the same run (the floor: what dbt itself costs), on a smaller generated project.

Load = import + Definitions + the repository Dagster builds from it (what a code server does).
Prints medians and ratios against baselines measured in the same run; never fails on time.

    uv run python bench/bench_dbt.py [--repeat 3] [--models 2000] [--run-models 40] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = ["alpha", "beta", "gamma", "delta"]


def run(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - started


def interleaved(codes: dict[str, str], env: dict[str, str], repeat: int) -> dict[str, float]:
    """Median per label; rounds interleave the labels, so a noisy neighbour hits all alike."""
    runs: dict[str, list[float]] = {label: [] for label in codes}
    for _ in range(repeat):
        for label, code in codes.items():
            runs[label].append(run(code, env))
    return {label: statistics.median(seconds) for label, seconds in runs.items()}


def generate_project(folder: Path, models: int) -> None:
    """A dbt project shaped like the mesh's: a group per domain, access, contracts, tests."""
    shutil.copytree(ROOT / "dbt_project" / "macros", folder / "macros")
    shutil.copy(ROOT / "dbt_project" / "profiles.yml", folder / "profiles.yml")
    config = "\n".join(f"    {d}:\n      +group: {d}\n      +materialized: view" for d in DOMAINS)
    (folder / "dbt_project.yml").write_text(
        f"name: mesh\nversion: '1.0.0'\nprofile: mesh\nflags:\n  send_anonymous_usage_stats: "
        f"false\nmodels:\n  mesh:\n{config}\n"
    )
    groups = "\n".join(f"  - name: {d}\n    owner: {{email: {d}@mesh.example}}" for d in DOMAINS)
    (folder / "models").mkdir()
    (folder / "models" / "groups.yml").write_text(f"groups:\n{groups}\n")
    per_domain = models // len(DOMAINS)
    for position, domain in enumerate(DOMAINS):
        base = folder / "models" / domain
        base.mkdir()
        entries = []
        for i in range(per_domain):
            name = f"{domain}_m{i:04d}"
            public = i % 10 == 9  # every tenth model is a public mart
            if i == 0 and position > 0:  # a cross-domain ref to the previous domain's mart
                upstream = f"{{{{ ref('{DOMAINS[position - 1]}_m0009') }}}}"
                sql = f"select cast(id as bigint) as id, cast(name as varchar) as name from {upstream}"
            elif i == 0:
                sql = "select cast(1 as bigint) as id, cast('a' as varchar) as name"
            else:
                upstream = f"{{{{ ref('{domain}_m{i - 1:04d}') }}}}"
                sql = f"select cast(id as bigint) as id, cast(name as varchar) as name from {upstream}"
            (base / f"{name}.sql").write_text(sql + "\n")
            access = "public" if public else ("protected" if i == 0 else "private")
            contract = "\n      contract: {enforced: true}" if public else ""
            entries.append(
                f"  - name: {name}\n    config:\n      access: {access}{contract}\n"
                f"    columns:\n      - {{name: id, data_type: bigint, data_tests: [unique, "
                f"not_null]}}\n      - {{name: name, data_type: varchar}}\n"
            )
        (base / "models.yml").write_text("models:\n" + "".join(entries))


@contextmanager
def generated(models: int) -> Iterator[tuple[Path, dict[str, str], Path]]:
    """A temporary folder, a local-environment `env` homed in it, and a generated project."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        env = {**os.environ, "MESH_HOME": str(tmp / "mesh"), "DAGSTER_HOME": folder}
        env.pop("MESH_ENV", None)
        project = tmp / "generated"
        project.mkdir()
        generate_project(project, models)
        yield tmp, env, project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--run-models", type=int, default=40, help="at least 40 (10 a domain)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.repeat, args.models, args.run_models = 1, 40, 40

    with generated(args.models) as (_, env, project):
        slice_code = slice_script(
            project, "dg.Definitions(assets=s.assets, resources=r).get_repository_def()"
        )
        parse = slice_code.replace(
            "s = dbt_slice",
            "from platform_core.dbt.preparer import prepare; prepare(p, c(), force=True); "
            "s = dbt_slice",
        )
        parse_seconds = run(parse, env)
        nodes = sum(1 for _ in (project / "models").rglob("*.sql"))

        figures = interleaved(
            {
                "import dagster": "import dagster",
                "import dagster_dbt": "import dagster_dbt",
                f"generated: 1 location = group of {nodes // len(DOMAINS)} of {nodes} models": (
                    slice_code
                ),
            },
            env,
            args.repeat,
        )

    baseline = figures["import dagster_dbt"]
    print(f"\n== code-location load with dbt (fresh process, median of {args.repeat}) ==")
    for label, seconds in figures.items():
        print(f"{label:<58} {seconds:6.2f} s   {seconds / baseline:5.2f}x import dagster_dbt")
    print(f"(generated project: prepare = dbt parse + first load, once: {parse_seconds:.1f} s)")
    bench_run(args.run_models, args.repeat)


def slice_script(project: Path, then: str) -> str:
    """Python for a fresh process: the generated project's `beta` slice `s` with its resources
    `r` (as a location builds them), then the statement `then`."""
    return (
        "import dagster as dg;"
        "from pathlib import Path;"
        "from platform_core.dbt.assets import dbt_slice;"
        "from platform_core.dbt.project import MeshDbtProject;"
        "from platform_core.environment import current_environment as c;"
        "from platform_core.warehouse.resources import warehouse_resources as w;"
        f"p = MeshDbtProject(Path({str(project)!r}), 'duckdb');"
        "s = dbt_slice('beta', c(), p);"
        "r = {**w(c(), 'beta'), **s.resources};"
        f"{then}"
    )


def bench_run(models: int, repeat: int) -> None:
    """A location's dbt run through Dagster against `dbt build` of the same group, directly."""
    from platform_core.dbt.project import dbt_executable

    with generated(models) as (tmp, env, project):
        database = tmp / "mesh" / "warehouse.duckdb"
        database.parent.mkdir(parents=True)
        dbt_env = {**env, "MESH_DBT_DUCKDB_PATH": str(database)}
        command = [dbt_executable(), "build", "--project-dir", str(project), "--profiles-dir",
                   str(project), "--target", "duckdb", "--target-path", str(tmp / "direct")]  # fmt: skip
        subprocess.run(command, env=dbt_env, check=True, capture_output=True)  # upstreams exist
        through_dagster = slice_script(
            project, "assert dg.materialize(s.assets, resources=r).success"
        )
        direct = f"import subprocess; subprocess.run({[*command, '--select', 'group:beta']!r}, check=True)"
        figures = interleaved(
            {"dbt build, directly": direct, "through Dagster (mesh dbt resource)": through_dagster},
            dbt_env,
            repeat,
        )
    baseline = figures["dbt build, directly"]
    print(f"\n== one location's dbt run: group of {models // len(DOMAINS)} of {models} models ==")
    for label, seconds in figures.items():
        print(f"{label:<58} {seconds:6.2f} s   {seconds / baseline:5.2f}x dbt build directly")
    bench_version_probe(repeat)


def bench_version_probe(repeat: int) -> None:
    """dagster-dbt runs `<dbt_executable> --version` once per resource (each run, each prepare)."""
    from platform_core.dbt.project import dbt_executable

    dbt = str(Path(sys.executable).with_name("dbt"))
    probe = (
        "import subprocess, sys; subprocess.run([sys.argv[1], '--version'], capture_output=True)"
    )
    runs: dict[str, list[float]] = {"dbt --version": [], "mesh-dbt --version": []}
    for _ in range(repeat):
        for label, executable in (("dbt --version", dbt), ("mesh-dbt --version", dbt_executable())):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", probe, executable], check=True)
            runs[label].append(time.perf_counter() - started)
    baseline = statistics.median(runs["dbt --version"])
    print("\n== dagster-dbt's version probe, per resource ==")
    for label, seconds in runs.items():
        median = statistics.median(seconds)
        print(f"{label:<58} {median:6.2f} s   {median / baseline:5.2f}x dbt --version")


if __name__ == "__main__":
    main()
