"""One scaffolder for every new code location: a domain (`meshctl new-domain`) or a tenant's
dedicated location (`meshctl tenants new-location`, templates in tenant_location.py).

Writes the project from its template (a `defs/` folder whose products/defs.yaml declares an
example public product, its function beside it) and registers it in every manifest: dg.toml (the list of
locations), the root pyproject (uv workspace dependency and source), governance/domains.yaml
(owners, contact, paths), CODEOWNERS (generated from that registry), and workspace.yaml plus
the deployment manifests (rendered from dg.toml). Edits to hand-written files are appends, so
their comments and order survive. The result passes the gate and its own tests at once."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from governance.codeowners import write_codeowners
from governance.config import REGISTRY_FILE, load_config
from platform_core.errors import ConfigurationError
from platform_core.identifiers import IDENTIFIER
from platform_core.workspace import read_locations

from mesh_tooling.manifests.topology import write_manifests

_OWNER = re.compile(r"^(team:[a-z][a-z0-9_\-]*|[^@\s]+@[^@\s]+\.[a-z]{2,})$")


@dataclass(frozen=True)
class NewLocation:
    name: str  # the code location, and its domain in the registry
    owners: list[str]
    codeowners: list[str]
    contact: str
    description: str = ""
    files: dict[str, str] = field(default_factory=dict)  # path under the folder -> content
    owns_dbt_models: bool = False  # the registry entry also owns dbt_project/models/<name>

    @property
    def package(self) -> str:
        return f"mesh_{self.name}"

    @property
    def distribution(self) -> str:
        return f"mesh-{self.name.replace('_', '-')}"

    @property
    def folder(self) -> str:
        return f"domains/{self.name}"


def _validate(root: Path, location: NewLocation) -> None:
    if not IDENTIFIER.match(location.name):
        raise ConfigurationError(
            f"location name '{location.name}' must be a lower-case identifier ([a-z][a-z0-9_]*). "
            "Fix: choose e.g. 'customer_success'."
        )
    bad = [o for o in location.owners if not _OWNER.match(o)]
    if bad:
        raise ConfigurationError(
            f"owners {bad} are not Dagster owners. Fix: use 'team:<name>' or an e-mail address."
        )
    taken = {loc.name for loc in read_locations(root)}
    if (root / "governance" / REGISTRY_FILE).is_file():
        taken |= set(load_config(root).registry.domains)
    if location.name in taken or (root / location.folder).exists():
        raise ConfigurationError(
            f"location '{location.name}' already exists ({location.folder} or the registry). "
            "Fix: choose another name, or edit the existing one."
        )


PYPROJECT = """\
[project]
name = "{distribution}"
version = "0.1.0"
description = "{description}"
requires-python = ">=3.11,<3.14"
dependencies = ["platform-core"]

[tool.uv.sources]
platform-core = {{ workspace = true }}

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["{package}"]

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "{package}"
code_location_name = "{name}"
"""

PRODUCTS_YAML = """\
# Data products of the {name} domain. Public products are the domain's interface to the mesh:
# owners, a description, a column contract and an SLA (the governance gate checks all of them).
# `dg check yaml` validates this file; the functions are the Python files beside it.
type: platform_core.components.DataProducts
attributes:
  domain: {name}
  products:
    - name: example
      description: One row per example item; replace with the {name} domain's first real product.
      owners: {owners}
      visibility: public
      tier: 3
      sla: {{fail_after: 24h}}
      columns:
        - {{name: item_id, type: integer, not_null: true, description: "Item id."}}
        - {{name: label, type: string, not_null: true, description: "Human-readable label."}}
"""

PRODUCTS_PY = '''\
"""{title} products. Read other domains' public products by key only (add them to inputs:
in defs.yaml and use p.ref("domain/name") in SQL); never import another domain."""

import pyarrow as pa

from platform_core import ProductContext, python_product


@python_product("example")
def example(p: ProductContext) -> pa.Table:
    return pa.table({{"item_id": [1, 2, 3], "label": ["one", "two", "three"]}})
'''

DEFINITIONS_PY = '''\
"""The {name} domain's code location: its defs/ folder, with the platform's defaults."""

from platform_core import location_definitions

defs = location_definitions(__file__)
'''

TEST_PY = '''\
"""The {name} location loads and its example product materializes with passing checks."""

import dagster as dg
from {package}.definitions import defs


def test_example_product_materializes_and_passes_its_checks():
    key = dg.AssetKey(["{name}", "example"])
    assert key in defs.resolve_asset_graph().materializable_asset_keys
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[key]
        )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
'''


def domain_location(
    name: str, owners: list[str], codeowners: list[str] | None = None, contact: str | None = None
) -> NewLocation:
    """A domain's location: an example public product in defs/products/defs.yaml, its function,
    a test."""
    values = {
        "name": name,
        "package": f"mesh_{name}",
        "title": name.replace("_", " ").capitalize(),
        "owners": "[" + ", ".join(owners) + "]",
    }
    package = values["package"]
    templates = {
        f"{package}/__init__.py": '"""The {name} domain."""\n',
        f"{package}/defs/__init__.py": "",
        f"{package}/defs/products/__init__.py": "",
        f"{package}/defs/products/defs.yaml": PRODUCTS_YAML,
        f"{package}/defs/products/example.py": PRODUCTS_PY,
        f"{package}/definitions.py": DEFINITIONS_PY,
        f"tests/test_{name}_location.py": TEST_PY,
    }
    return NewLocation(
        name=name,
        owners=owners,
        codeowners=codeowners or [f"@mesh/{name}"],
        contact=contact or f"#data-{name}",
        description=f"The {name} domain's code location.",
        files={path: text.format(**values) for path, text in templates.items()},
        owns_dbt_models=True,
    )


def _write_project(root: Path, location: NewLocation) -> list[Path]:
    base = root / location.folder
    pyproject = PYPROJECT.format(
        name=location.name,
        package=location.package,
        distribution=location.distribution,
        description=location.description,
    )
    files = {base / "pyproject.toml": pyproject} | {
        base / path: text for path, text in location.files.items()
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)


def _append(path: Path, text: str) -> None:
    current = path.read_text()
    path.write_text(current + ("" if current.endswith("\n") else "\n") + text)


def _register_dg_toml(root: Path, location: NewLocation) -> Path:
    dg_toml = root / "dg.toml"
    _append(dg_toml, f'\n[[workspace.projects]]\npath = "{location.folder}"\n')
    read_locations.cache_clear()
    return dg_toml


def _register_root_pyproject(root: Path, location: NewLocation) -> Path:
    path = root / "pyproject.toml"
    text = path.read_text()
    dist = location.distribution
    # [project] dependencies: insert before the list's closing bracket.
    match = re.search(r"(?ms)^dependencies = \[\n(.*?)^\]", text)
    sources = re.search(r"(?m)^\[tool\.uv\.sources\]\n", text)
    if not match or not sources:
        raise ConfigurationError(
            f"{path}: no [project] dependencies list or [tool.uv.sources]. Fix: add them."
        )
    text = text[: match.end(1)] + f'    "{dist}",\n' + text[match.end(1) :]
    sources = re.search(r"(?m)^\[tool\.uv\.sources\]\n", text)
    assert sources is not None
    text = text[: sources.end()] + f"{dist} = {{ workspace = true }}\n" + text[sources.end() :]
    tomllib.loads(text)  # never leave a broken pyproject behind
    path.write_text(text)
    return path


def _register_registry(root: Path, location: NewLocation) -> Path:
    path = root / "governance" / REGISTRY_FILE
    dbt_models = location.owns_dbt_models and (root / "dbt_project").is_dir()
    codeowners = ", ".join(f'"{c}"' for c in location.codeowners)
    _append(
        path,
        f"  {location.name}:\n"
        f"    owners: [{', '.join(location.owners)}]\n"
        f'    contact: "{location.contact}"\n'
        f"    path: {location.folder}\n"
        + (f"    extra_paths: [dbt_project/models/{location.name}]\n" if dbt_models else "")
        + f"    codeowners: [{codeowners}]\n",
    )
    if location.name not in load_config(root).registry.domains:
        raise ConfigurationError(f"{path}: the new entry did not land under domains:. Fix by hand.")
    return path


def _uv() -> str | None:
    return (
        os.environ.get("UV")
        or shutil.which("uv")
        or next((str(p) for p in [Path(".mesh/tools/bin/uv")] if p.is_file()), None)
    )


def _sync(root: Path) -> None:
    uv = _uv()
    if uv is None:
        raise ConfigurationError("uv is not on PATH. Fix: run `./mesh sync` or install uv.")
    env = {**os.environ, "UV_COMPILE_BYTECODE": "1"}
    for command in ([uv, "lock"], [uv, "sync"]):
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        if done.returncode:
            raise ConfigurationError(f"`{' '.join(command)}` failed:\n{done.stderr[-1500:]}")


def scaffold_location(
    root: Path, location: NewLocation, *, register: bool = True, sync: bool = True
) -> list[Path]:
    """Write the project; with `register`, enter it in every manifest (and `uv lock && uv
    sync` with `sync`). Returns the files written or updated, relative to `root`."""
    _validate(root, location)
    written = _write_project(root, location)
    if register:
        written.append(_register_dg_toml(root, location))
        written.append(_register_root_pyproject(root, location))
        written.append(_register_registry(root, location))
        written.append(write_codeowners(root, load_config(root).registry))
        written += write_manifests(root)  # workspace.yaml and the deployment manifests
        if sync:
            _sync(root)
            written.append(root / "uv.lock")
    return [p.relative_to(root) for p in written]
