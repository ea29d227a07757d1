"""Small, real meshes for the gate's tests: packages with a DataProducts defs.yaml and
definitions.py,
workspace.yaml, dg.toml, the governance registry and CODEOWNERS, written to a temp dir.

Package names carry a per-mesh token so many meshes load in one test process."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from governance.codeowners import render_codeowners
from governance.config import load_config
from governance.engine import GateResult, run_gate
from governance.loader import LoadTimings, load_mesh
from governance.model import MeshGraph
from platform_core.declarations import DATA_PRODUCTS_TYPE

_TOKENS = itertools.count()

DEFINITIONS = """\
from pathlib import Path

import dagster as dg
from platform_core import build_domain_definitions, sql_product
from platform_core.products.declaration import load_domain_products

HERE = Path(__file__).parent / "defs" / "products" / "defs.yaml"
IMPLEMENTATIONS = [
    sql_product(p.name)(lambda ctx: "select 1 as x") for p in load_domain_products(HERE).products
]
EXTRA_ASSETS = []
{extra}
defs = build_domain_definitions(HERE, IMPLEMENTATIONS, assets=EXTRA_ASSETS)
"""


def product(
    name: str,
    owners: str = "",
    visibility: str = "public",
    inputs: tuple[str, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "description": f"One row per {name} item, for tests.",
        "owners": [owners] if owners else [],
        "visibility": visibility,
        "columns": [{"name": "x", "type": "integer", "description": "A number."}],
        **extra,
    }
    if inputs:
        entry["inputs"] = list(inputs)
    return entry


@dataclass
class Loc:
    products: list[dict[str, Any]] = field(default_factory=list)
    extra: str = ""  # python appended to definitions.py (may extend EXTRA_ASSETS)
    files: dict[str, str] = field(default_factory=dict)  # extra files in the package


@dataclass
class Mesh:
    root: Path
    packages: dict[str, str]

    def gate(
        self, today: date | None = None, baseline: set[str] | None = None, cache: bool = False
    ) -> GateResult:
        timings = LoadTimings()
        graph = load_mesh(self.root, timings, use_cache=cache)
        return run_gate(
            self.root, graph, load_config(self.root), today=today, baseline=baseline,
            cached=timings.cached,
        )  # fmt: skip

    def graph(self) -> MeshGraph:
        return load_mesh(self.root)

    def package_dir(self, domain: str) -> Path:
        return self.root / "domains" / domain / self.packages[domain]


def write_mesh(
    root: Path,
    locations: dict[str, Loc],
    *,
    waivers: list[dict[str, Any]] | None = None,
    policy: dict[str, Any] | None = None,
    registry_skip: tuple[str, ...] = (),
    workspace_skip: tuple[str, ...] = (),
    codeowners: bool = True,
    entries: dict[str, dict[str, Any]] | None = None,
) -> Mesh:
    """`entries` replaces a location's workspace.yaml entry ({pkg} and {dir} are filled in);
    in code, {pkg:<domain>} names another location's package."""
    token = next(_TOKENS)
    packages = {
        domain: f"gf{token}_{domain}_{root.name[-6:].replace('-', '_')}" for domain in locations
    }
    workspace_entries, projects = [], []
    for domain, loc in locations.items():
        package = root / "domains" / domain / packages[domain]
        package.mkdir(parents=True)
        (package.parent / "pyproject.toml").write_text(
            f'[project]\nname = "{packages[domain]}"\nversion = "0.1.0"\n'
            f'dependencies = ["platform-core"]\n\n[tool.dg]\ndirectory_type = "project"\n\n'
            f'[tool.dg.project]\nroot_module = "{packages[domain]}"\n'
            f'code_location_name = "{domain}"\n'
        )
        (package / "__init__.py").write_text("")
        products = [{**p, "owners": p["owners"] or [f"team:{domain}"]} for p in loc.products] or [
            product("example", f"team:{domain}")
        ]
        declared = package / "defs" / "products" / "defs.yaml"
        declared.parent.mkdir(parents=True)
        declared.write_text(
            yaml.safe_dump(
                {
                    "type": DATA_PRODUCTS_TYPE,
                    "attributes": {"domain": domain, "products": products},
                },
                sort_keys=False,
            )
        )
        (package / "definitions.py").write_text(
            _fill(DEFINITIONS.format(extra=loc.extra), packages)
        )
        for name, text in loc.files.items():
            (package / name).write_text(_fill(text.replace("{pkg}", packages[domain]), packages))
        if domain in (entries or {}):
            text = yaml.safe_dump(entries[domain])
            text = text.replace("{pkg}", packages[domain]).replace("{dir}", f"domains/{domain}")
            workspace_entries.append(yaml.safe_load(text))
        elif domain not in workspace_skip:
            workspace_entries.append(
                {"python_module": {"module_name": f"{packages[domain]}.definitions",
                                   "location_name": domain}}
            )  # fmt: skip
        projects.append(f'[[workspace.projects]]\npath = "domains/{domain}"\n')
    (root / "workspace.yaml").write_text(yaml.safe_dump({"load_from": workspace_entries}))
    (root / "dg.toml").write_text(
        'directory_type = "workspace"\n\n[workspace]\n\n' + "\n".join(projects)
    )
    governance = root / "governance"
    governance.mkdir()
    registry = {
        "platform": {"codeowners": ["@mesh/platform-team"], "paths": ["platform_core"]},
        "domains": {
            d: {
                "owners": [f"team:{d}", f"{d}-data@example.com"],
                "contact": f"#data-{d}",
                "path": f"domains/{d}",
                "codeowners": [f"@mesh/{d}"],
            }
            for d in locations
            if d not in registry_skip
        },
    }
    (governance / "domains.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
    (governance / "policy.yaml").write_text(yaml.safe_dump(policy or {}))
    (governance / "waivers.yaml").write_text(
        yaml.safe_dump({"waivers": waivers or []}, sort_keys=False)
    )
    if codeowners:
        (root / ".github").mkdir()
        (root / ".github" / "CODEOWNERS").write_text(render_codeowners(load_config(root).registry))
    return Mesh(root, packages)


def _fill(text: str, packages: dict[str, str]) -> str:
    for domain, package in packages.items():
        text = text.replace("{pkg:" + domain + "}", package)
    return text


def rule_ids(result: GateResult) -> set[str]:
    return {v.rule for v in result.violations}


def only(result: GateResult, rule: str):
    found = [v for v in result.violations if v.rule == rule]
    assert found, f"expected {rule}; got {[(v.rule, v.message) for v in result.violations]}"
    return found
