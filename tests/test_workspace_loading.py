"""Load workspace.yaml the way Dagster does (`dagster definitions validate`: one code server
per location), and the mesh's global graph across locations."""

import subprocess
import tomllib

import dagster as dg
import pytest
import yaml
from mesh_tooling.runner import load_mesh_graph
from platform_core.workspace import find_mesh_root, read_locations, read_workspace_yaml

from tests.support.processes import BIN

LOCATIONS = {"platform", "sales", "marketing", "finance", "tenant_sync"}


def test_every_location_loads_without_errors(repo_root):
    done = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-w", str(repo_root / "workspace.yaml")],
        cwd=repo_root, capture_output=True, text=True,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    validated = {n for n in LOCATIONS if f"Validation successful for code location {n}." in output}
    assert validated == LOCATIONS, output[-3000:]


@pytest.fixture(scope="module")
def mesh(repo_root):
    return load_mesh_graph(repo_root)  # refuses a key produced by two locations


def test_cross_location_dependencies_resolve_to_exactly_one_producer(mesh):
    assert set(mesh.definitions) == LOCATIONS
    cross_location_edges = set()
    for key, parents in mesh.parents.items():
        for parent in parents:
            assert parent in mesh.producer, f"{key} depends on {parent}, which no location produces"
            if mesh.producer[parent] != mesh.producer[key]:
                cross_location_edges.add((mesh.producer[parent], mesh.producer[key]))
    assert {("sales", "marketing"), ("sales", "finance"), ("marketing", "finance"),
            ("platform", "sales"), ("platform", "finance"),
            ("tenant_sync", "platform")} <= cross_location_edges  # fmt: skip
    assert isinstance(next(iter(mesh.producer)), dg.AssetKey)


def test_workspace_yaml_and_dg_toml_name_the_same_locations(repo_root):
    from_dg = {
        loc.name: loc.definitions_module for loc in read_locations(find_mesh_root(repo_root))
    }
    assert read_workspace_yaml(repo_root) == from_dg
    for location in read_locations(repo_root):
        pyproject = tomllib.loads((location.path / "pyproject.toml").read_text())
        assert pyproject["tool"]["dg"]["project"]["code_location_name"] == location.name
        assert "platform-core" in pyproject["project"]["dependencies"]
    assert yaml.safe_load((repo_root / "workspace.yaml").read_text())["load_from"]
