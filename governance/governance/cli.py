"""The gate's `meshctl` subcommands: check, impact, snapshot, rules, codeowners."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import date
from pathlib import Path

from platform_core.errors import MeshError
from platform_core.workspace import find_mesh_root


def _root(args: argparse.Namespace) -> Path:
    return Path(args.root).resolve() if args.root else find_mesh_root()


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text + "\n")
    else:
        print(text)


def _gate(root: Path, args: argparse.Namespace):
    from governance.config import load_config
    from governance.engine import read_baseline, run_gate
    from governance.loader import LoadTimings, load_mesh

    config = load_config(root)
    timings = LoadTimings()
    graph = load_mesh(root, timings, use_cache=not args.no_cache)
    today = date.fromisoformat(args.today) if args.today else None
    baseline = read_baseline(Path(args.baseline)) if args.baseline else None
    extra = []
    if args.base:
        from governance.basetree import materialized_ref
        from governance.breaking import breaking_changes

        with materialized_ref(root, args.base) as tree:
            extra = breaking_changes(tree, root, today)
            if args.new_only:
                baseline = (baseline or set()) | _violations_at(tree, root, args)
    return run_gate(
        root, graph, config, today=today, baseline=baseline, load_seconds=timings.loading,
        extra=extra, cached=timings.cached,
    )  # fmt: skip


def _violations_at(tree: Path, head: Path, args: argparse.Namespace) -> set[str]:
    """Fingerprints of the violations the base tree already had (for --new-only)."""
    import os
    import subprocess

    from governance.basetree import python_path_for

    if not (tree / "governance" / "domains.yaml").is_file():
        shutil.copytree(head / "governance", tree / "governance", dirs_exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*python_path_for(tree), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "governance", "check", "--root", str(tree), "--format", "json",
               "--no-cache"]  # fmt: skip
    if args.today:
        command += ["--today", args.today]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise MeshError(
            f"the gate could not run on the base tree:\n{done.stderr[-2000:]}"
        ) from None
    from governance.engine import Severity, Violation

    return {
        Violation(
            v["rule"],
            Severity(v["severity"]),
            v["target"],
            v["message"],
            v["fix"],
            subject=v.get("subject", ""),
        ).fingerprint
        for v in data["violations"]
    }


def cmd_check(args: argparse.Namespace) -> int:
    from governance.engine import write_baseline
    from governance.report import RENDERERS

    root = _root(args)
    try:
        result = _gate(root, args)
    except MeshError as exc:
        print(f"governance gate: {exc}", file=sys.stderr)
        return 2
    if args.write_baseline:
        write_baseline(Path(args.write_baseline), result.violations + result.baselined)
        print(f"baseline of {len(result.violations)} violation(s) written to {args.write_baseline}")
        return 0
    _write(RENDERERS[args.format](result), args.output)
    for fmt in ("json", "sarif", "junit"):
        path = getattr(args, f"{fmt}_file")
        if path:
            _write(RENDERERS[fmt](result), path)
    return 0 if result.passed else 1


def cmd_snapshot(args: argparse.Namespace) -> int:
    from governance.loader import load_mesh

    print(load_mesh(_root(args)).to_json())
    return 0


def cmd_impact(args: argparse.Namespace) -> int:
    from governance.impact import assess, render_json, render_markdown

    try:
        impact = assess(_root(args), args.base, use_cache=not args.no_cache)
    except MeshError as exc:
        print(f"meshctl impact: {exc}", file=sys.stderr)
        return 2
    render = render_markdown if args.format == "markdown" else render_json
    _write(render(impact), args.output)
    return 1 if (args.fail_on_breaking and impact.breaking) else 0


def cmd_rules(args: argparse.Namespace) -> int:
    from governance.engine import RULES

    for rule in sorted(RULES.values(), key=lambda r: r.id):
        print(f"{rule.id}  {rule.severity.value:7}  {rule.name:38} {rule.summary}")
    return 0


def cmd_contracts_export(args: argparse.Namespace) -> int:
    from governance.contracts import export_contracts

    root = _root(args)
    output = Path(args.output_dir) if args.output_dir else root / ".mesh" / "contracts"
    try:
        written = export_contracts(root, output)
    except MeshError as exc:
        print(f"meshctl contracts export: {exc}", file=sys.stderr)
        return 2
    print(f"{len(written)} ODCS v3 contract(s) written (validated against the standard):")
    for path in written:
        print(f"  {path}")
    return 0


def cmd_codeowners(args: argparse.Namespace) -> int:
    from governance.codeowners import CODEOWNERS_PATH, render_codeowners, write_codeowners
    from governance.config import load_config

    root = _root(args)
    registry = load_config(root).registry
    if args.write:
        print(f"wrote {write_codeowners(root, registry)}")
        return 0
    current = (root / CODEOWNERS_PATH).read_text() if (root / CODEOWNERS_PATH).is_file() else ""
    expected = render_codeowners(registry)
    if args.check:
        if current != expected:
            print(f"{CODEOWNERS_PATH} is stale. Fix: meshctl codeowners --write", file=sys.stderr)
            return 1
        return 0
    print(expected, end="")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    def add(name: str, help: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help)
        parser.add_argument("--root", help="mesh root (default: the nearest dg.toml)")
        return parser

    check = add("check", "run the governance gate over every code location")
    check.add_argument(
        "--format", choices=["terminal", "json", "sarif", "junit"], default="terminal"
    )
    check.add_argument("--output", help="write the report here instead of stdout")
    check.add_argument("--json-file", help="also write a JSON report")
    check.add_argument("--sarif-file", help="also write SARIF (GitHub code scanning)")
    check.add_argument("--junit-file", help="also write JUnit XML")
    check.add_argument("--base", help="git ref: also detect breaking changes against it")
    check.add_argument(
        "--new-only",
        action="store_true",
        help="with --base: fail only on violations the change adds",
    )
    check.add_argument("--baseline", help="JSON baseline: fail only on violations not in it")
    check.add_argument("--write-baseline", help="record today's violations as the baseline")
    check.add_argument(
        "--no-cache",
        action="store_true",
        help="load every location afresh and leave the incremental cache alone (CI does)",
    )
    check.add_argument("--today", help=argparse.SUPPRESS)  # tests pin the date
    check.set_defaults(func=cmd_check)

    snapshot = add("snapshot", "print the loaded global graph as JSON")
    snapshot.set_defaults(func=cmd_snapshot)

    impact = add("impact", "what this change does to the mesh, against a base ref")
    impact.add_argument("--base", required=True, help="git ref to compare with, e.g. origin/main")
    impact.add_argument("--format", choices=["markdown", "json"], default="markdown")
    impact.add_argument("--output")
    impact.add_argument("--fail-on-breaking", action="store_true")
    impact.add_argument(
        "--no-cache",
        action="store_true",
        help="load the base and head afresh; keep nothing (the base graph is cached per commit)",
    )
    impact.set_defaults(func=cmd_impact)

    contracts = sub.add_parser("contracts", help="data contracts (ODCS v3) of public products")
    contracts_sub = contracts.add_subparsers(dest="contracts_command", required=True)
    export = contracts_sub.add_parser(
        "export", help="write an ODCS v3 document per public product (Python and dbt)"
    )
    export.add_argument("--root", help="mesh root (default: the nearest dg.toml)")
    export.add_argument("--output-dir", help="default: .mesh/contracts under the mesh root")
    export.set_defaults(func=cmd_contracts_export)

    rules = add("rules", "list the gate's rules")
    rules.set_defaults(func=cmd_rules)

    codeowners = add("codeowners", "print, check or --write .github/CODEOWNERS from the registry")
    codeowners.add_argument("--write", action="store_true")
    codeowners.add_argument("--check", action="store_true")
    codeowners.set_defaults(func=cmd_codeowners)
