"""Benchmark: the governance gate next to Dagster's own loading, in the same run.

1. The real workspace: `meshctl check` against `dagster definitions validate -w workspace.yaml`
   (code servers) and `dg check defs`, each a fresh process.
2. Generated meshes (default 1,000 assets / 10 locations and 10,000 / 50): the gate's wall
   time split into loading and rule evaluation, next to Dagster's own in-process load of the
   same workspace (the same loader calls a code server makes, no rules) and, for meshes up to
   --grpc-max-locations, `dagster definitions validate -w` (one code server per location).

Prints figures and ratios; never passes or fails on time (the machine is shared: compare
ratios measured in one run, not absolutes).

3. Incremental (default 10,000 / 50): a cold `meshctl check --no-cache` next to a re-check
   after one location's code changed (the cache reloads that location alone), same verdict.

    uv run python bench/bench_governance.py [--repeat 3] [--sizes 1000x10 10000x50]
    uv run python bench/bench_governance.py --smoke      # seconds: what CI runs
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PUBLIC_SHARE = 0.2
CHUNK = 100  # specs per multi-asset

LOCATION_MODULE = '''\
"""Generated location {name}: {count} assets in multi-assets of {chunk} specs."""

from datetime import timedelta

import dagster as dg

SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("id", "integer", description="Row id."),
    dg.TableColumn("value", "decimal", description="A value."),
])
FRESH = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=24))
# (asset name, deps as "location/asset", public?)
PLAN = {plan!r}


def _spec(name, deps, public):
    return dg.AssetSpec(
        key=["{name}", name],
        description=f"Generated asset {{name}} of {name}.",
        owners=["team:{name}"],
        tags={{"domain": "{name}", "code_location": "{name}",
              "visibility": "public" if public else "internal"}},
        kinds={{"python"}},
        deps=[dg.AssetKey.from_user_string(d) for d in deps],
        metadata={{"dagster/column_schema": SCHEMA}} if public else {{}},
        freshness_policy=FRESH if public else None,
    )


def _multi(index, plan):
    specs = [_spec(*entry) for entry in plan]
    checks = [dg.AssetCheckSpec("contract", asset=s.key, blocking=True)
              for s, entry in zip(specs, plan) if entry[2]]

    @dg.multi_asset(specs=specs, check_specs=checks, name=f"{name}_chunk_{{index}}",
                    can_subset=True)
    def _compute(context: dg.AssetExecutionContext):
        return None

    return _compute


defs = dg.Definitions(
    assets=[_multi(i, PLAN[i:i + {chunk}]) for i in range(0, len(PLAN), {chunk})]
)
'''


def generate_mesh(root: Path, assets: int, locations: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    per_location = assets // locations
    names = [f"loc_{i:03d}" for i in range(locations)]
    public: dict[str, list[str]] = {}
    workspace, projects, registry = [], [], {}
    for index, name in enumerate(names):
        plan = []
        for i in range(per_location):
            asset = f"a{i:05d}"
            deps = []
            if i:
                deps.append(f"{name}/a{rng.randrange(i):05d}")
            upstream = [public[n] for n in names[:index] if public.get(n)]
            if upstream and rng.random() < 0.3:
                deps.append(rng.choice(rng.choice(upstream)))
            is_public = rng.random() < PUBLIC_SHARE
            plan.append((asset, deps, is_public))
            if is_public:
                public.setdefault(name, []).append(f"{name}/{asset}")
        package = root / "domains" / name / f"gen_{name}"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "definitions.py").write_text(
            LOCATION_MODULE.format(name=name, count=per_location, chunk=CHUNK, plan=plan)
        )
        (package.parent / "pyproject.toml").write_text(
            f'[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\n'
            f'root_module = "gen_{name}"\ncode_location_name = "{name}"\n'
        )
        workspace.append(
            {"python_module": {"module_name": f"gen_{name}.definitions", "location_name": name,
                               "working_directory": f"domains/{name}"}}
        )  # fmt: skip
        projects.append(f'[[workspace.projects]]\npath = "domains/{name}"\n')
        registry[name] = {
            "owners": [f"team:{name}"], "contact": f"#data-{name}", "path": f"domains/{name}",
            "codeowners": [f"@mesh/{name}"],
        }  # fmt: skip
    (root / "workspace.yaml").write_text(yaml.safe_dump({"load_from": workspace}))
    (root / "dg.toml").write_text(
        'directory_type = "workspace"\n\n[workspace]\n\n' + "\n".join(projects)
    )
    (root / "governance").mkdir()
    (root / "governance" / "domains.yaml").write_text(
        yaml.safe_dump({"platform": {"codeowners": ["@mesh/platform-team"]}, "domains": registry})
    )
    from governance.codeowners import write_codeowners
    from governance.config import load_config

    write_codeowners(root, load_config(root).registry)


# Dagster's own load: the code-server calls, no rules. Timed after `import dagster`, like the
# gate's "loading" figure (both processes' wall times include everything).
DAGSTER_LOAD = """
import sys, time
import yaml
from dagster._core.code_pointer import CodePointer
from dagster._core.definitions.reconstruct import initialize_repository_def_from_pointer
from dagster._core.workspace.autodiscovery import loadable_targets_from_python_module
started = time.perf_counter()
root = sys.argv[1]
for item in yaml.safe_load(open(root + "/workspace.yaml"))["load_from"]:
    t = item["python_module"]
    wd = root + "/" + t["working_directory"] if t.get("working_directory") else None
    [target] = loadable_targets_from_python_module(t["module_name"], wd)
    initialize_repository_def_from_pointer(
        CodePointer.from_module(t["module_name"], target.attribute, wd)
    ).asset_graph
print(time.perf_counter() - started)
"""


CPU: dict[str, list[float]] = {}  # label -> CPU seconds (user+sys) of each run


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path, env: dict[str, str], label: str = "") -> tuple[float, str]:
    """Wall seconds and stdout; the child's CPU seconds go to CPU[label] (on a shared,
    loaded machine CPU time is the steadier figure; code servers' own CPU is not counted)."""
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    CPU.setdefault(label, []).append(_children_cpu() - cpu)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def gate_report(root: Path, env: dict[str, str], *, cache: bool, label: str) -> tuple[float, dict]:
    command = [str(BIN / "python"), "-m", "governance", "check", "--root", str(root),
               "--format", "json"] + ([] if cache else ["--no-cache"])  # fmt: skip
    wall, out = timed(command, root, env, label)
    return wall, json.loads(out)


def gate(root: Path, env: dict[str, str]) -> tuple[float, float, float, int]:
    """(wall, load, rules, violations) of a fresh, cold `meshctl check --no-cache` process."""
    wall, report = gate_report(root, env, cache=False, label=f"gate:{root}")
    timings = report["timings"]
    return wall, timings["load_seconds"], timings["rules_seconds"], len(report["violations"])


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench_real(repeat: int, env: dict[str, str]) -> None:
    print(f"\n== real workspace (4 locations), fresh process each, median of {repeat} ==")
    gates, in_process = [], []
    for _ in range(repeat):  # alternate, so load drift on a shared machine hits both
        gates.append(gate(ROOT, env))
        in_process.append(
            timed([str(BIN / "python"), "-c", DAGSTER_LOAD, str(ROOT)], ROOT, env, f"own:{ROOT}")[0]
        )
    validate = [
        timed([str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"], ROOT, env)[
            0
        ]
        for _ in range(repeat)
    ]
    dg_check = [
        timed([str(BIN / "dg"), "check", "defs", "--use-active-venv"], ROOT, env)[0]
        for _ in range(repeat)
    ]
    g = median([w for w, *_ in gates])
    print(f"meshctl check (gate, all rules)           {g:6.2f} s  "
          f"(load {median([x[1] for x in gates]):.2f} s, rules {median([x[2] for x in gates]):.2f} s, "
          f"{gates[-1][3]} violations)")  # fmt: skip
    g_cpu, own_cpu = median(CPU[f"gate:{ROOT}"]), median(CPU[f"own:{ROOT}"])
    print(f"CPU seconds: gate {g_cpu:.2f}, dagster's own in-process load {own_cpu:.2f}   "
          f"gate/dagster {g_cpu / own_cpu:4.2f}x")  # fmt: skip
    for label, values in (
        ("dagster load, in-process (baseline)", in_process),
        ("dagster definitions validate -w", validate),
        ("dg check defs --use-active-venv", dg_check),
    ):
        m = median(values)
        print(f"{label:<41} {m:6.2f} s   gate/this {g / m:4.2f}x")


def bench_generated(assets: int, locations: int, repeat: int, grpc_max: int, env) -> None:
    with tempfile.TemporaryDirectory(prefix="mesh-gen-") as folder:
        root = Path(folder)
        started = time.perf_counter()
        generate_mesh(root, assets, locations)
        print(f"\n== generated mesh: {assets} assets, {locations} locations "
              f"(generated in {time.perf_counter() - started:.1f} s), median of {repeat} ==")  # fmt: skip
        gates, own = [], []
        for _ in range(repeat):  # alternate, so load drift on a shared machine hits both
            gates.append(gate(root, env))
            own.append(
                timed(
                    [str(BIN / "python"), "-c", DAGSTER_LOAD, str(root)], root, env, f"own:{root}"
                )
            )
        own_wall = median([w for w, _ in own])
        own_load = median([float(out.strip()) for _, out in own])
        g_wall = median([x[0] for x in gates])
        g_load = median([x[1] for x in gates])
        g_rules = median([x[2] for x in gates])
        print(
            f"gate, fresh process                     {g_wall:6.2f} s  "
            f"(loading {g_load:.2f} s, rules {g_rules:.2f} s, {gates[-1][3]} violations)"
        )
        print(f"dagster's own in-process load, process  {own_wall:6.2f} s  "
              f"(loading {own_load:.2f} s)   gate/dagster {g_wall / own_wall:4.2f}x  "
              f"(goal <= 1.20x)")  # fmt: skip
        g_cpu, own_cpu = median(CPU[f"gate:{root}"]), median(CPU[f"own:{root}"])
        print(f"CPU seconds: gate {g_cpu:.2f}, dagster's own load {own_cpu:.2f}   "
              f"gate/dagster {g_cpu / own_cpu:4.2f}x")  # fmt: skip
        print(
            f"gate loading / dagster loading          {g_load / own_load:4.2f}x;  "
            f"rules are {100 * g_rules / g_wall:.0f}% of the gate's wall time"
        )
        if locations <= grpc_max:
            validate = median([
                timed([str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
                      root, env)[0]
                for _ in range(repeat)
            ])  # fmt: skip
            print(
                f"dagster definitions validate -w (grpc)  {validate:6.2f} s   "
                f"gate/this {g_wall / validate:4.2f}x"
            )
        else:
            print(
                f"dagster definitions validate -w          skipped (> {grpc_max} locations: "
                "one code server per location; raise --grpc-max-locations)"
            )


def bench_incremental(assets: int, locations: int, repeat: int, env) -> None:
    """Cold check vs a re-check after one location's code changed (the cache reloads it
    alone); the same verdict both ways, checked each round."""
    with tempfile.TemporaryDirectory(prefix="mesh-inc-") as folder:
        root = Path(folder)
        generate_mesh(root, assets, locations)
        print(f"\n== incremental: {assets} assets, {locations} locations, one location edited "
              f"per round, median of {repeat} ==")  # fmt: skip
        gate_report(root, env, cache=True, label="fill")  # the first cached run fills it
        cold, warm = [], []
        for round_ in range(repeat):
            edited = root / "domains" / "loc_000" / "gen_loc_000" / "definitions.py"
            edited.write_text(edited.read_text() + f"# edit {round_}\n")
            warm_wall, warm_report = gate_report(root, env, cache=True, label="warm")
            cold_wall, cold_report = gate_report(root, env, cache=False, label="cold")
            cached = warm_report["timings"]["cached_locations"]
            if len(cached) != locations - 1:
                raise SystemExit(f"expected {locations - 1} cached locations, got {len(cached)}")
            if warm_report["violations"] != cold_report["violations"]:
                raise SystemExit("the incremental verdict differs from the cold one")
            for runs, wall, report in ((warm, warm_wall, warm_report),
                                       (cold, cold_wall, cold_report)):  # fmt: skip
                timings = report["timings"]
                runs.append((wall, timings["load_seconds"] + timings["rules_seconds"]))
        for label, runs in (("cold check (--no-cache), baseline", cold),
                            ("re-check, 1 location reloaded", warm)):  # fmt: skip
            print(f"{label:<38} process {median([w for w, _ in runs]):6.2f} s, "
                  f"gate (load + rules) {median([g for _, g in runs]):6.2f} s")  # fmt: skip
        cold_gate, warm_gate = median([g for _, g in cold]), median([g for _, g in warm])
        cold_wall, warm_wall = median([w for w, _ in cold]), median([w for w, _ in warm])
        cold_cpu, warm_cpu = median(CPU["cold"]), median(CPU["warm"])
        print(f"CPU seconds (steadier on a shared machine): cold {cold_cpu:.2f}, re-check "
              f"{warm_cpu:.2f}   cold/re-check {cold_cpu / warm_cpu:4.1f}x")  # fmt: skip
        print(f"cold / re-check: gate {cold_gate / warm_gate:5.1f}x, process "
              f"{cold_wall / warm_wall:4.1f}x  (goal: re-check gate < 2 s; "
              f"{'met' if warm_gate < 2 else 'NOT met'})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", nargs="*", default=["1000x10", "10000x50"])
    parser.add_argument("--grpc-max-locations", type=int, default=10)
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--incremental", default="10000x50", help="mesh for the re-check bench")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, one repeat, no real workspace (CI)"
    )
    args = parser.parse_args()
    if args.smoke:
        # The incremental bench alone (three gate processes): it runs the cold path too.
        args.sizes, args.repeat, args.skip_real = [], 1, True
        args.grpc_max_locations, args.incremental = 0, "200x4"
    with tempfile.TemporaryDirectory(prefix="bench-gov-") as home:
        env = {**os.environ, "MESH_HOME": home, "DAGSTER_HOME": home, "NO_COLOR": "1"}
        print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
        if not args.skip_real:
            bench_real(args.repeat, env)
        for size in args.sizes:
            assets, locations = (int(x) for x in size.split("x"))
            bench_generated(assets, locations, args.repeat, args.grpc_max_locations, env)
        if args.incremental:
            assets, locations = (int(x) for x in args.incremental.split("x"))
            bench_incremental(assets, locations, args.repeat, env)


if __name__ == "__main__":
    main()
