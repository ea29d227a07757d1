"""Benchmark: code-location load time, and full-mesh materialization against raw DuckDB.

Prints figures and ratios against baselines measured in the same run (the machine is shared
and noisy: compare ratios, not absolutes). Never passes or fails on time.

    uv run python bench/bench_mesh.py [--repeat 3] [--scales 5x2000 20x20000]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCATION_MODULES = ["mesh_platform", "mesh_sales", "mesh_marketing", "mesh_finance"]


def timed_python(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def bench_load(repeat: int, env: dict[str, str]) -> None:
    load_all = "; ".join(f"import {m}.definitions" for m in LOCATION_MODULES)
    baseline = statistics.median(timed_python("import dagster", env) for _ in range(repeat))
    locations = statistics.median(timed_python(load_all, env) for _ in range(repeat))
    print(f"\n== code-location load (fresh process, median of {repeat}) ==")
    print(f"python -c 'import dagster'           {baseline:6.2f} s   (baseline)")
    print(
        f"import all 4 locations' definitions  {locations:6.2f} s   ratio {locations / baseline:4.2f}x"
    )


def run_sql_directly(home: Path) -> float:
    """The same product code (same SQL, same Arrow loads, one `dbt build` for the dbt models)
    straight on DuckDB, no Dagster."""
    import dagster as dg
    import pyarrow as pa
    from mesh_tooling.runner import _topological
    from platform_core.catalog import load_catalog
    from platform_core.dbt.project import dbt_executable
    from platform_core.environment import detect_environment
    from platform_core.products.factory import ProductContext
    from platform_core.warehouse import DuckDBWarehouse

    env = detect_environment({"MESH_HOME": str(home)})
    catalog = load_catalog(ROOT)
    implementations = {}
    for module in LOCATION_MODULES:
        try:
            products = importlib.import_module(f"{module}.products")
        except ModuleNotFoundError:  # a domain whose products are all dbt models
            continue
        implementations.update(
            {f"{i.function.__module__.split('.')[0].removeprefix('mesh_')}/{i.name}": i
             for i in vars(products).values() if hasattr(i, "kind") and hasattr(i, "function")}
        )  # fmt: skip
    keys = {dg.AssetKey(ref.split("/")): ref for ref in catalog.products}
    parents = {
        k: {dg.AssetKey(r.split("/")) for r in catalog.products[ref].inputs}
        for k, ref in keys.items()
    }
    database = home / "direct.duckdb"
    done: set[str] = set()

    def python_products() -> None:
        """Every implemented product whose inputs exist, in dependency order."""
        with DuckDBWarehouse(path=str(database)).session() as session:
            for key in _topological(list(keys), parents):
                product = catalog.products[keys[key]]
                implementation = implementations.get(product.ref)
                if implementation is None or product.ref in done:
                    continue
                if any(ref not in done for ref in product.inputs):
                    continue
                produced = implementation.function(ProductContext(product, session, None, env))  # type: ignore[arg-type]
                if implementation.kind == "sql":
                    session.replace_table(product.domain, product.name, produced)
                else:
                    data = (
                        produced
                        if isinstance(produced, pa.Table)
                        else pa.Table.from_pandas(produced)
                    )
                    session.write_arrow(product.domain, product.name, data)
                done.add(product.ref)

    project = ROOT / "dbt_project"
    started = time.perf_counter()
    python_products()  # ingestion first: the dbt sources
    subprocess.run(
        [dbt_executable(), "build", "--project-dir", str(project), "--profiles-dir", str(project),
         "--target", "duckdb", "--target-path", str(home / "dbt_direct")],
        env={**os.environ, "MESH_DBT_DUCKDB_PATH": str(database)}, check=True, capture_output=True,
    )  # fmt: skip
    done.update(ref for ref, p in catalog.products.items() if "dbt_project" in p.source_file)
    python_products()  # products downstream of dbt models
    return time.perf_counter() - started


def bench_materialize(scales: list[str], env: dict[str, str]) -> None:
    print(
        "\n== full-mesh materialization (Python products + dbt models, checks) vs the same code on DuckDB =="
    )
    print(f"{'scale':>12} {'rows':>12} {'mesh s':>8} {'direct s':>9} {'ratio':>6}")
    for scale in scales:
        tenants, orders = (int(x) for x in scale.split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            run_env = {**env, "MESH_HOME": str(home), "DAGSTER_HOME": str(home)}
            args = ["--tenants", str(tenants), "--orders-per-tenant", str(orders)]
            subprocess.run(
                [sys.executable, "-m", "mesh_tooling.cli.main", "seed", *args],
                env=run_env,
                check=True,
                capture_output=True,
            )
            started = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-m", "mesh_tooling.cli.main", "materialize", *args],
                env=run_env, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            mesh = time.perf_counter() - started
            rows = out.strip().splitlines()[-1].split(" assets, ")[1].split(" rows")[0]
            direct = run_sql_directly(home)
            print(f"{scale:>12} {rows:>12} {mesh:8.2f} {direct:9.2f} {mesh / direct:5.1f}x")
    print("(mesh = `meshctl materialize` in a fresh process: imports, 5 runs, checks, event log)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scales", nargs="+", default=["5x2000", "20x20000"])
    args = parser.parse_args()
    env = {**os.environ, "UV_COMPILE_BYTECODE": "1"}
    env.pop("MESH_ENV", None)
    bench_load(args.repeat, env)
    bench_materialize(args.scales, env)


if __name__ == "__main__":
    main()
