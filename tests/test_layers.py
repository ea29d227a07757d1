"""Imports point down the layers: platform_core (the runtime every image installs) imports no
tooling, governance or domain code, governance imports no tooling, and all product code uses
Dagster's and dagster-dbt's public APIs only. Every import counts, including those inside
functions."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT_CODE = ("platform_core", "governance", "tooling", "domains")
# A leading underscore marks a private module of a Dagster distribution (dagster._core,
# dagster_dbt._utils ...): none may be imported.
PRIVATE_MODULE = re.compile(r"dagster(_[a-z]+)*(\.[a-z][\w]*)*\._\w*(\..*)?")


def imported_modules(folder: Path, root: Path = ROOT) -> dict[str, set[str]]:
    """repo-relative file -> every module it imports (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        if "tests" in path.relative_to(root).parts:
            continue
        modules = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module)
        found[str(path.relative_to(root))] = modules
    return found


def offending(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    result = {}
    for file, modules in imported_modules(ROOT / folder).items():
        bad = sorted(m for m in modules if m.split(".")[0] in forbidden)
        if bad:
            result[file] = bad
    return result


DOMAIN_PACKAGES = tuple(f"mesh_{p.name}" for p in (ROOT / "domains").iterdir() if p.is_dir())


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("platform_core", ("mesh_tooling", "governance", *DOMAIN_PACKAGES)),
        ("governance/governance", ("mesh_tooling", *DOMAIN_PACKAGES)),
        ("tooling", DOMAIN_PACKAGES),
    ],
)
def test_imports_point_down_the_layers(folder, forbidden):
    assert DOMAIN_PACKAGES, "no domain packages found: the test would look at nothing"
    assert offending(folder, forbidden) == {}


def private_imports(folder: Path, root: Path = ROOT) -> dict[str, list[str]]:
    found = {
        file: sorted(m for m in modules if PRIVATE_MODULE.fullmatch(m))
        for file, modules in imported_modules(folder, root).items()
    }
    return {file: modules for file, modules in found.items() if modules}


@pytest.mark.parametrize("folder", PRODUCT_CODE)
def test_product_code_uses_public_dagster_apis_only(folder):
    assert any((ROOT / folder).rglob("*.py")), f"{folder}: nothing to look at"
    assert private_imports(ROOT / folder) == {}


def test_the_private_module_scan_tells_private_from_public(tmp_path):
    module = tmp_path / "pkg" / "m.py"
    module.parent.mkdir()
    module.write_text(
        "import dagster._core.errors\nfrom dagster_dbt._utils import x\n"
        "from dagster_dbt.core._private import y\nimport dagster.components.definitions\n"
        "from dagster_dbt import DbtProject\nimport dagster_shared\nimport dagster\n"
    )
    assert private_imports(tmp_path / "pkg", tmp_path) == {
        "pkg/m.py": ["dagster._core.errors", "dagster_dbt._utils", "dagster_dbt.core._private"]
    }


def test_the_scan_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "pkg" / "m.py"
    module.parent.mkdir()
    module.write_text(
        "def f():\n    from mesh_tooling.runner import x\n    import dagster._core.y\n"
    )
    assert imported_modules(tmp_path / "pkg", tmp_path) == {
        "pkg/m.py": {"mesh_tooling.runner", "dagster._core.y"}
    }
