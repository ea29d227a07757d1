"""`meshctl new-domain`: a new code location that passes the gate and its tests at once.

Writes the package (pyproject, defs/products/defs.yaml declaring an example public product,
its function beside it, definitions.py, a test) and registers the location everywhere the gate compares: workspace.yaml,
dg.toml, the root pyproject (uv workspace dependency), governance/domains.yaml, CODEOWNERS and
the deployment's location list when there is one. Edits to shared files are appends, so the
files' comments and order survive."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml
from platform_core.errors import ConfigurationError
from platform_core.identifiers import IDENTIFIER
from platform_core.workspace import read_locations

from governance.codeowners import write_codeowners
from governance.config import REGISTRY_FILE, load_config
from governance.rules.manifests import DEPLOYMENT_FILES

_OWNER = re.compile(r"^(team:[a-z][a-z0-9_\-]*|[^@\s]+@[^@\s]+\.[a-z]{2,})$")


@dataclass(frozen=True)
class NewDomain:
    name: str
    owners: list[str]
    codeowners: list[str]
    contact: str

    @property
    def package(self) -> str:
        return f"mesh_{self.name}"

    @property
    def distribution(self) -> str:
        return f"mesh-{self.name.replace('_', '-')}"

    @property
    def folder(self) -> str:
        return f"domains/{self.name}"


def _validate(root: Path, domain: NewDomain) -> None:
    if not IDENTIFIER.match(domain.name):
        raise ConfigurationError(
            f"domain name '{domain.name}' must be a lower-case identifier ([a-z][a-z0-9_]*). "
            "Fix: choose e.g. 'customer_success'."
        )
    bad = [o for o in domain.owners if not _OWNER.match(o)]
    if bad:
        raise ConfigurationError(
            f"owners {bad} are not Dagster owners. Fix: use 'team:<name>' or an e-mail address."
        )
    taken = {loc.name for loc in read_locations(root)} | set(load_config(root).registry.domains)
    if domain.name in taken or (root / domain.folder).exists():
        raise ConfigurationError(
            f"domain '{domain.name}' already exists ({domain.folder} or the registry). "
            "Fix: choose another name."
        )


PYPROJECT = """\
[project]
name = "{distribution}"
version = "0.1.0"
description = "The {name} domain's code location."
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


def _write_package(root: Path, domain: NewDomain) -> list[Path]:
    base = root / domain.folder
    package = base / domain.package
    values = {
        "name": domain.name,
        "package": domain.package,
        "distribution": domain.distribution,
        "title": domain.name.replace("_", " ").capitalize(),
        "owners": "[" + ", ".join(domain.owners) + "]",
    }
    files = {
        base / "pyproject.toml": PYPROJECT,
        package / "__init__.py": '"""The {name} domain."""\n',
        package / "defs" / "__init__.py": "",
        package / "defs" / "products" / "__init__.py": "",
        package / "defs" / "products" / "defs.yaml": PRODUCTS_YAML,
        package / "defs" / "products" / "example.py": PRODUCTS_PY,
        package / "definitions.py": DEFINITIONS_PY,
        base / "tests" / f"test_{domain.name}_location.py": TEST_PY,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values))
    return list(files)


def _append(path: Path, text: str) -> None:
    current = path.read_text()
    path.write_text(current + ("" if current.endswith("\n") else "\n") + text)


def _register_workspace(root: Path, domain: NewDomain) -> list[Path]:
    workspace, dg_toml = root / "workspace.yaml", root / "dg.toml"
    _append(
        workspace,
        f"  - python_module: {{module_name: {domain.package}.definitions, "
        f"location_name: {domain.name}}}\n",
    )
    _append(dg_toml, f'\n[[workspace.projects]]\npath = "{domain.folder}"\n')
    return [workspace, dg_toml]


def _register_root_pyproject(root: Path, domain: NewDomain) -> Path:
    path = root / "pyproject.toml"
    text = path.read_text()
    dist = domain.distribution
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


def _register_registry(root: Path, domain: NewDomain) -> Path:
    path = root / "governance" / REGISTRY_FILE
    _append(
        path,
        f"  {domain.name}:\n"
        f"    owners: [{', '.join(domain.owners)}]\n"
        f'    contact: "{domain.contact}"\n'
        f"    path: {domain.folder}\n"
        + (
            f"    extra_paths: [dbt_project/models/{domain.name}]\n"
            if (root / "dbt_project").is_dir()
            else ""
        )
        + f"    codeowners: [{', '.join(repr(c).replace(chr(39), chr(34)) for c in domain.codeowners)}]\n",
    )
    if domain.name not in load_config(root).registry.domains:
        raise ConfigurationError(f"{path}: the new entry did not land under domains:. Fix by hand.")
    return path


def _register_deployment(root: Path, domain: NewDomain) -> Path | None:
    """Copy the shape of the deployment's last location entry, renamed for the new domain."""
    for relative in DEPLOYMENT_FILES:
        path = root / relative
        if not path.is_file():
            continue
        data = yaml.safe_load(path.read_text()) or {}
        entries = data.get("locations") or []
        if not entries:
            return None
        template = entries[-1]
        old = template.get("location_name", "")
        renamed = yaml.safe_load(
            yaml.safe_dump(template)
            .replace(f"mesh_{old}", domain.package)
            .replace(old, domain.name)
        )
        data["locations"] = [*entries, renamed]
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path
    return None


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


def scaffold_domain(root: Path, domain: NewDomain, sync: bool = True) -> list[Path]:
    _validate(root, domain)
    written = _write_package(root, domain)
    written += _register_workspace(root, domain)
    written.append(_register_root_pyproject(root, domain))
    written.append(_register_registry(root, domain))
    deployment = _register_deployment(root, domain)
    if deployment:
        written.append(deployment)
    written.append(write_codeowners(root, load_config(root).registry))
    read_locations.cache_clear()
    if sync:
        _sync(root)
        written.append(root / "uv.lock")
    return [p.relative_to(root) for p in written]
