"""Deployment manifests: generated from dg.toml, valid for the tools that read them."""

import subprocess
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster_cloud_cli.config.models import load_dagster_cloud_yaml
from mesh_tooling.manifests import image_context, topology
from platform_core.workspace import read_locations, read_workspace_yaml

from tests.support.processes import BIN


@pytest.fixture(scope="module")
def location_names(repo_root) -> list[str]:
    names = [loc.name for loc in read_locations(repo_root)]
    assert names == list(read_workspace_yaml(repo_root))  # the manifests agree to begin with
    return names


def test_committed_manifests_are_what_dg_toml_says(repo_root):
    assert topology.stale_manifests(repo_root) == []


def test_a_stale_or_missing_manifest_is_reported_with_the_fix(repo_root, tmp_path):
    for name in ("dg.toml", "pyproject.toml"):
        (tmp_path / name).write_text((repo_root / name).read_text())
    for loc in read_locations(repo_root):
        target = tmp_path / loc.path.relative_to(repo_root) / "pyproject.toml"
        target.parent.mkdir(parents=True)
        target.write_text((loc.path / "pyproject.toml").read_text())
    assert len(topology.stale_manifests(tmp_path)) == len(topology.manifests(tmp_path))
    topology.write_manifests(tmp_path)
    assert topology.stale_manifests(tmp_path) == []

    cloud = tmp_path / "deployment" / "dagster_cloud.yaml"
    cloud.write_text(cloud.read_text().replace("location_name: finance", "location_name: fin"))
    (problem,) = topology.stale_manifests(tmp_path)
    assert problem.startswith(
        "deployment/dagster_cloud.yaml: differs from the locations in dg.toml"
    )
    assert "meshctl deploy render" in problem


def test_dagster_cloud_yaml_validates_and_names_exactly_the_workspace_locations(
    repo_root, location_names
):
    text = (repo_root / "deployment" / "dagster_cloud.yaml").read_text()
    config = load_dagster_cloud_yaml(text)  # dagster-cloud-cli's own pydantic model
    assert [loc.location_name for loc in config.locations] == location_names
    modules = read_workspace_yaml(repo_root)
    for loc in config.locations:
        assert loc.code_source is not None
        assert loc.code_source.module_name == modules[loc.location_name]
        assert loc.build is not None and loc.build.registry.endswith(
            "/" + loc.location_name.replace("_", "-")  # image names use hyphens
        )
    registries = [loc.build.registry for loc in config.locations if loc.build]
    assert len(set(registries)) == len(registries), "one image repository per location"


def test_dagster_cloud_model_rejects_what_our_check_relies_on():
    # The model is strict: a typo'd key or a duplicated location is an error, not ignored.
    with pytest.raises(ValueError, match="duplicate location name"):
        load_dagster_cloud_yaml(
            "locations:\n"
            "  - {location_name: sales, code_source: {module_name: a}}\n"
            "  - {location_name: sales, code_source: {module_name: b}}\n"
        )
    with pytest.raises(ValueError, match="locaton_name"):
        load_dagster_cloud_yaml("locations:\n  - {locaton_name: sales}\n")


def test_compose_file_validates_against_the_compose_spec(repo_root, location_names):
    # No Docker daemon here (and no `docker compose` plugin): validate against the Compose
    # Specification's JSON schema, vendored by check-jsonschema.
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(repo_root / "docker-compose.yml")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

    compose = yaml.safe_load((repo_root / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "webserver", "daemon"} <= set(services)
    for name in location_names:
        service = services[topology.compose_service_name(name)]
        assert service["build"]["args"] == {"LOCATION": name}
        assert (repo_root / service["build"]["dockerfile"]).is_file()
        assert service["command"][-2:] == ["--location-name", name]
    for volume in services["webserver"]["volumes"]:
        source = volume.split(":")[0]
        assert not source.startswith("./") or (repo_root / source).exists(), volume

    workspace = yaml.safe_load((repo_root / "deployment/compose/workspace.yaml").read_text())
    servers = [entry["grpc_server"] for entry in workspace["load_from"]]
    assert [s["location_name"] for s in servers] == location_names
    assert all(s["host"] in services for s in servers)


def test_compose_spec_validation_catches_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  web:\n    image: x\n    ports: 3000\n    restart: sometimes\n")
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1


def test_helm_values_have_one_user_deployment_per_location(repo_root, location_names):
    values = yaml.safe_load((repo_root / "deployment/helm/values.yaml").read_text())
    user = values["dagster-user-deployments"]
    assert user["enabled"] is True
    deployments = {d["name"]: d for d in user["deployments"]}
    assert sorted(deployments) == sorted(topology.k8s_name(n) for n in location_names)
    modules = read_workspace_yaml(repo_root)
    for name in location_names:
        deployment = deployments[topology.k8s_name(name)]
        assert deployment["dagsterApiGrpcArgs"] == ["--module-name", modules[name]]
        assert deployment["image"]["repository"] == topology.image_repository(name)
        assert {"name": topology.SNOWFLAKE_SECRET} in deployment["envSecrets"]
    queue = values["dagsterDaemon"]["runCoordinator"]
    assert queue["type"] == "QueuedRunCoordinator"
    limits = queue["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    assert {limit["key"] for limit in limits} == {
        topology.LOCATION_TAG, topology.TENANT_TAG, topology.STREAM_TAG, topology.THROTTLED_TAG,
    }  # fmt: skip
    assert values["postgresql"]["enabled"] is False  # external PostgreSQL, password in a secret
    assert "postgresqlPassword" not in values["postgresql"]


def test_stream_tag_is_the_one_streaming_runs_carry():
    from platform_core.streaming.sensor import STREAM_TAG

    assert topology.STREAM_TAG == STREAM_TAG


def test_image_context_reads_dg_toml_like_the_workspace_module(repo_root):
    # image_context runs inside `docker build` without dependencies, so it parses dg.toml
    # itself; it must agree with platform_core.workspace on every location.
    projects = image_context.read_projects(repo_root)
    expected = [(loc.name, loc.root_module) for loc in read_locations(repo_root)]
    assert [(p.location, p.root_module) for p in projects] == expected


def test_image_context_refuses_an_unknown_location(repo_root, tmp_path):
    with pytest.raises(image_context.ImageContextError, match=r"not a code location in dg\.toml"):
        image_context.prepare("billing", repo_root, tmp_path)


def test_image_context_holds_platform_core_and_one_location_only(repo_root, tmp_path):
    image_context.prepare("marketing", repo_root, tmp_path)
    app = tmp_path / "app"
    packages = {p.parent.name for p in app.glob("domains/*/*/*.py")}
    assert packages == {"mesh_marketing"}
    # Every other domain contributes only its declarations (the catalog reads them).
    copied = 0
    for loc in read_locations(repo_root):
        for declared in loc.declaration_files:  # tenant_sync declares no products
            assert (app / declared.relative_to(repo_root)).is_file()
            copied += 1
    assert copied == 3  # platform, marketing, finance
    others = [p for p in app.glob("domains/*/*/defs/**/*.py") if "mesh_marketing" not in p.parts]
    assert others == []  # declarations only, never another domain's code
    # The one dbt project every location slices, without build output from this machine.
    assert (app / "dbt_project" / "dbt_project.yml").is_file()
    assert list((app / "dbt_project" / "models" / "sales").rglob("*.sql"))
    assert not (app / "dbt_project" / "target").exists()
    assert (app / ".mesh-package").read_text() == "mesh-marketing"
    assert (app / ".mesh-module").read_text() == "mesh_marketing.definitions"
    assert not list(app.rglob("tests"))

    def tomls(tree: str) -> set[str]:
        return {str(p.relative_to(tmp_path / tree)) for p in (tmp_path / tree).rglob("*.toml")}

    # The third-party layer is the same for every location; the location's own pyproject next.
    assert tomls("deps") == {"pyproject.toml", "platform_core/pyproject.toml"}
    assert tomls("location") == tomls("deps") | {"domains/marketing/pyproject.toml"}
    assert (tmp_path / "location" / ".mesh-package").read_text() == "mesh-marketing"


def test_dockerfile_runs_as_non_root_and_uses_the_image_context_script(repo_root):
    dockerfile = (repo_root / topology.DOCKERFILE).read_text()
    assert "tooling/mesh_tooling/manifests/image_context.py" in dockerfile
    assert Path(image_context.__file__).resolve() == (
        repo_root / "tooling/mesh_tooling/manifests/image_context.py"
    )
    stages = dockerfile.split("\nFROM ")
    for target in ("instance", "location"):
        (stage,) = [s for s in stages if s.split("\n", 1)[0].endswith(f" AS {target}")]
        assert "\nUSER mesh\n" in stage, f"stage {target} must drop root"
        assert "uv sync --frozen --no-dev" in stage


@pytest.mark.slow
def test_oss_instance_config_runs_on_a_real_postgresql(repo_root, tmp_path, monkeypatch):
    """deployment/dagster.yaml as Dagster loads it: PostgreSQL storage, the run queue and its
    tag limits, monitoring and retries, with a run stored in PostgreSQL."""
    import psycopg2

    from tests.support.tcp_postgres import tcp_postgres

    with tcp_postgres(tmp_path / "pgdata") as pg:
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text((repo_root / "deployment/dagster.yaml").read_text())
        env = {
            "DAGSTER_PG_USERNAME": pg.user, "DAGSTER_PG_PASSWORD": "unused-trust-auth",
            "DAGSTER_PG_HOST": pg.host, "DAGSTER_PG_DB": pg.database,
            "DAGSTER_PG_PORT": str(pg.port), topology.MAX_CONCURRENT_RUNS_ENV: "7",
        }  # fmt: skip
        for key, value in env.items():
            monkeypatch.setenv(key, value)

        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
            coordinator = instance.run_coordinator
            assert type(coordinator).__name__ == "QueuedRunCoordinator"
            assert coordinator.get_run_queue_config().max_concurrent_runs == 7
            limits = coordinator.get_run_queue_config().tag_concurrency_limits
            assert {(limit["key"], limit["limit"]) for limit in limits} == {
                (topology.LOCATION_TAG, topology.RUNS_PER_LOCATION),
                (topology.TENANT_TAG, topology.RUNS_PER_TENANT),
                (topology.STREAM_TAG, topology.RUNS_PER_STREAM),
                (topology.THROTTLED_TAG, topology.THROTTLED_RUNS),
            }
            assert instance.run_monitoring_enabled
            assert instance.run_retries_enabled and instance.run_retries_max_retries == 2

            @dg.op
            def hello() -> int:
                return 1

            @dg.job
            def smoke():
                hello()

            assert smoke.execute_in_process(instance=instance).success

        connection = psycopg2.connect(host=pg.host, port=pg.port, user=pg.user, dbname=pg.database)
        with connection, connection.cursor() as cursor:
            cursor.execute("select count(*) from runs where pipeline_name = 'smoke'")
            assert cursor.fetchone()[0] == 1
        connection.close()
