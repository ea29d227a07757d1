"""Every location's asset specs, as a reviewed snapshot, and the platform defaults on them.

A change to keys, owners, tags, kinds or dependencies of any asset shows up as a diff of
tests/snapshots/location_specs.json in review (as dagster-open-platform snapshots its specs).
After an intended change: `MESH_UPDATE_SNAPSHOTS=1 ./mesh test tests/test_location_specs.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest
import yaml
from platform_core.workspace import read_locations

SNAPSHOT = Path(__file__).parent / "snapshots" / "location_specs.json"


def _spec_record(spec: dg.AssetSpec) -> dict[str, object]:
    return {
        "owners": list(spec.owners),
        "tags": dict(sorted(spec.tags.items())),
        "kinds": sorted(spec.kinds),
        "group": spec.group_name,
        "deps": sorted(d.asset_key.to_user_string() for d in spec.deps),
    }


@pytest.fixture(scope="module")
def location_defs(repo_root) -> dict[str, dg.Definitions]:
    return {loc.name: loc.load_definitions() for loc in read_locations(repo_root)}


def _own_specs(defs: dg.Definitions) -> dict[str, dg.AssetSpec]:
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string(): graph.get(key).to_asset_spec()
        for key in graph.materializable_asset_keys
    }


def test_asset_specs_match_the_reviewed_snapshot(location_defs):
    current = {
        name: {key: _spec_record(spec) for key, spec in sorted(_own_specs(defs).items())}
        for name, defs in sorted(location_defs.items())
    }
    if os.environ.get("MESH_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, (
        "asset specs changed; review the diff and refresh the snapshot with "
        "MESH_UPDATE_SNAPSHOTS=1 if it is intended"
    )


def test_the_root_applies_the_platform_defaults_to_every_location(location_defs):
    for name, defs in location_defs.items():
        specs = _own_specs(defs)
        assert specs, name
        for key, spec in specs.items():
            assert spec.tags["code_location"] == name, key
            assert spec.tags["domain"] == name, key
            assert spec.owners, key
            assert spec.kinds, key
        repository = defs.get_repository_def()
        sensors = {s.name for s in repository.sensor_defs}
        # tenant_sync gets the same automation and monitoring sensors as every domain
        assert {f"{name}_automation", f"{name}_monitoring", f"{name}_run_failure_alerts"} <= sensors
        assert repository.get_implicit_global_asset_job_def().executor_def in (
            dg.in_process_executor,
            dg.multiprocess_executor,
        )


def test_declared_products_are_the_locations_assets(repo_root, location_defs):
    """What the defs.yaml files declare (read here with plain YAML) is what the locations have."""
    for loc in read_locations(repo_root):
        declared = set()
        for path in loc.declaration_files:
            attributes = yaml.safe_load(path.read_text())["attributes"]
            declared |= {f"{attributes['domain']}/{p['name']}" for p in attributes["products"]}
        assert declared <= set(_own_specs(location_defs[loc.name])), loc.name
    assert {loc.name for loc in read_locations(repo_root) if not loc.declaration_files} == {
        "sales",
        "tenant_sync",
    }
