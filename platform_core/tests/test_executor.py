"""The executor the platform gives every location: in-process locally; elsewhere a process per
step, forked from one server per run that imported the location once (not a fresh interpreter
re-importing it for every step), and in-process still available through run config."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
from platform_core.environment import Environment, EnvName
from platform_core.executor import executor_for, module_named_by_file

LOCATION = """
import json, os
from pathlib import Path

import dagster as dg
from platform_core.environment import EnvName, Environment
from platform_core.executor import executor_for, module_named_by_file

IMPORTED_BY = os.getpid()  # the process that imported this location


def record(step):
    with Path(os.environ["EXECUTOR_TEST_RECORDS"]).open("a") as out:
        out.write(json.dumps({
            "step": step, "pid": os.getpid(), "ppid": os.getppid(), "imported_by": IMPORTED_BY,
        }) + "\\n")


@dg.asset
def first():
    record("first")


@dg.asset(deps=[first])
def second():
    record("second")


@dg.asset(deps=[first])
def third():
    record("third")


PRODUCTION = Environment(EnvName.PROD, Path("."))
defs = dg.Definitions(
    assets=[first, second, third],
    jobs=[dg.define_asset_job("everything")],
    executor=executor_for(PRODUCTION, module_named_by_file(Path(__file__))),
)


def everything_job():
    return defs.resolve_job_def("everything")
"""


@pytest.fixture
def location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "location_under_test.py").write_text(textwrap.dedent(LOCATION))
    records = tmp_path / "records.jsonl"
    monkeypatch.delitem(sys.modules, "location_under_test", raising=False)
    # Not first on sys.path: Dagster drops sys.path[0] (the script's folder) while importing.
    monkeypatch.setattr(sys, "path", [sys.path[0], str(tmp_path), *sys.path[1:]])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    monkeypatch.setenv("EXECUTOR_TEST_RECORDS", str(records))
    return records


def _run(records: Path, run_config: dict | None = None) -> list[dict]:
    with dg.instance_for_test() as instance:
        job = dg.build_reconstructable_job("location_under_test", "everything_job")
        result = dg.execute_job(job, instance=instance, run_config=run_config or {})
        assert result.success
    return [json.loads(line) for line in records.read_text().splitlines()]


def test_locally_steps_run_in_the_runs_process():
    local = Environment(EnvName.LOCAL, Path("."))
    assert executor_for(local) is dg.in_process_executor


def test_elsewhere_each_step_is_a_process_forked_from_one_server_per_run(location: Path):
    steps = _run(location)
    assert sorted(s["step"] for s in steps) == ["first", "second", "third"]
    pids = {s["pid"] for s in steps}
    assert os.getpid() not in pids and len(pids) == 3  # a process per step
    # All forked by one server (Python's forkserver), not started by the run's process itself,
    # as a spawned interpreter per step would be.
    (server,) = {s["ppid"] for s in steps}
    assert server != os.getpid()
    # The server imported the location (named by its definitions file) once; no step did.
    assert {s["imported_by"] for s in steps} == {server}


def test_the_preloaded_module_is_the_one_a_definitions_file_defines(location: Path):
    import location_under_test

    assert module_named_by_file(Path(location_under_test.__file__)) == ["location_under_test"]
    assert module_named_by_file(location.parent / "not_imported.py") == []


def test_a_run_may_still_ask_for_in_process_steps(location: Path):
    steps = _run(location, {"execution": {"config": {"in_process": {}}}})
    assert {s["pid"] for s in steps} == {os.getpid()}
