"""`meshctl dev` (what `./mesh up` runs): the UI serves every location and the global graph,
and stopping meshctl stops Dagster."""

import json
import os
import signal
import urllib.request

import pytest

from tests.support.processes import BIN, background, free_port, wait_for

LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename } } } } }"""
GRAPH = (
    "{ assetNodes { assetKey { path } dependencyKeys { path } repository { location { name } } } }"
)


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


@pytest.mark.slow
def test_dev_serves_all_locations_with_cross_location_edges(repo_root, tmp_path):
    port = free_port()
    env = {**os.environ, "MESH_HOME": str(tmp_path / "mesh")}
    env.pop("DAGSTER_HOME")  # meshctl dev sets up .mesh/dagster_home from deployment/local
    command = [
        str(BIN / "meshctl"),
        "dev",
        "--port",
        str(port),
        "--broker-port",
        str(free_port()),
        "--tenants",
        "2",
        "--orders-per-tenant",
        "100",
    ]
    with background(command, env, repo_root, tmp_path / "dev.log") as meshctl:

        def loaded():
            try:
                entries = graphql(port, LOCATIONS)["workspaceOrError"]["locationEntries"]
            except OSError:
                return None
            statuses = {e["name"]: e["locationOrLoadError"]["__typename"] for e in entries}
            return statuses if all(e["loadStatus"] == "LOADED" for e in entries) else None

        # meshctl dev first materializes the mesh, dbt builds included, then starts Dagster.
        statuses = wait_for(loaded, 480, "the webserver to load every location")
        assert statuses == dict.fromkeys(
            ("platform", "sales", "marketing", "finance", "tenant_sync"), "RepositoryLocation"
        )

        nodes = graphql(port, GRAPH)["assetNodes"]
        where = {tuple(n["assetKey"]["path"]): n["repository"]["location"]["name"] for n in nodes}
        edges = {
            (where[tuple(d["path"])], where[tuple(n["assetKey"]["path"])])
            for n in nodes
            for d in n["dependencyKeys"]
            if where[tuple(d["path"])] != where[tuple(n["assetKey"]["path"])]
        }
        assert {("platform", "sales"), ("sales", "marketing"), ("sales", "finance"),
                ("marketing", "finance"), ("tenant_sync", "platform")} <= edges  # fmt: skip
        # meshctl dev materialized the mesh before starting, so the UI opens on data.
        assert (tmp_path / "mesh" / "warehouse.duckdb").is_file()

        meshctl.send_signal(signal.SIGTERM)
        meshctl.wait(timeout=60)  # raises if meshctl (and the Dagster it started) keeps running
        with pytest.raises(OSError):
            graphql(port, LOCATIONS)
    log = (tmp_path / "dev.log").read_text()
    assert (
        "32/32 assets" in log
    )  # 14 Python products (incl. 3 tenant_sync) + 18 dbt models; and "Dagster services shut down" in log
