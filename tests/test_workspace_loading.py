"""Load workspace.yaml the way the Dagster webserver does: one code server per location."""

import tomllib

import dagster as dg
import pytest
import yaml
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from platform_core.workspace import find_mesh_root, read_locations, read_workspace_yaml


@pytest.fixture(scope="module")
def workspace(repo_root, tmp_path_factory):
    with dg.DagsterInstance.local_temp(str(tmp_path_factory.mktemp("instance"))) as instance:
        target = WorkspaceFileTarget(paths=[str(repo_root / "workspace.yaml")])
        with WorkspaceProcessContext(instance, target) as context:
            yield context.create_request_context()


def test_every_location_loads_without_errors(workspace):
    errors = {
        name: entry.load_error
        for name, entry in workspace.get_code_location_entries().items()
        if entry.load_error
    }
    assert not errors
    assert set(workspace.get_code_location_entries()) == {
        "platform",
        "sales",
        "marketing",
        "finance",
        "tenant_sync",
    }


def test_cross_location_dependencies_resolve_to_exactly_one_producer(workspace):
    producers: dict[dg.AssetKey, list[str]] = {}
    for name in workspace.get_code_location_entries():
        location = workspace.get_code_location(name)
        for repository in location.get_repositories().values():
            for node in repository.get_asset_node_snaps():
                if node.is_materializable:
                    producers.setdefault(node.asset_key, []).append(name)

    duplicates = {k: v for k, v in producers.items() if len(v) > 1}
    assert not duplicates

    graph = workspace.asset_graph
    cross_location_edges = set()
    for key in graph.materializable_asset_keys:
        for parent in graph.get(key).parent_keys:
            assert parent in producers, f"{key} depends on {parent}, which no location produces"
            if producers[parent] != producers[key]:
                cross_location_edges.add((producers[parent][0], producers[key][0]))
    assert {("sales", "marketing"), ("sales", "finance"), ("marketing", "finance"),
            ("platform", "sales"), ("platform", "finance"),
            ("tenant_sync", "platform")} <= cross_location_edges  # fmt: skip


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
