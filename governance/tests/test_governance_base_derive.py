"""When the base side of an impact may be derived from the head's graph: only dbt models' SQL
edited, and the two manifests equal but for those models' bodies (governance.base_derive). The
end-to-end cases (the derived base, and the full load it falls back to) are in
tests/test_change_detection.py."""

import copy
import subprocess

from governance.base_derive import edited_model_sql, same_but_bodies

MODEL = "dbt_project/models/sales/marts/daily_revenue.sql"
OTHER = "dbt_project/models/sales/marts/customers.sql"


def _manifest() -> dict:
    node = {
        "resource_type": "model", "original_file_path": "models/sales/marts/daily_revenue.sql",
        "raw_code": "select count(*) from {{ ref('orders') }}", "checksum": {"checksum": "a"},
        "depends_on": {"nodes": ["model.mesh.orders"]}, "config": {"materialized": "table"},
        "created_at": 1.0,
    }  # fmt: skip
    customers = {**node, "original_file_path": "models/sales/marts/customers.sql",
                 "raw_code": "select 1", "checksum": {"checksum": "c"}}  # fmt: skip
    return {
        "metadata": {"dbt_version": "1.11", "generated_at": "t1", "invocation_id": "i1"},
        "nodes": {"model.mesh.daily_revenue": node, "model.mesh.customers": customers},
        "macros": {}, "group_map": {"sales": ["model.mesh.daily_revenue", "model.mesh.customers"]},
    }  # fmt: skip


def _edited(change) -> dict:
    manifest = copy.deepcopy(_manifest())
    change(manifest)
    return manifest


def _body(manifest: dict, uid: str = "model.mesh.daily_revenue") -> None:
    manifest["nodes"][uid]["raw_code"] = "select count(order_id) from {{ ref('orders') }}"
    manifest["nodes"][uid]["checksum"] = {"checksum": "b"}


def test_the_edited_models_bodies_and_dbts_bookkeeping_may_differ():
    def change(manifest: dict) -> None:
        _body(manifest)
        manifest["nodes"]["model.mesh.daily_revenue"]["created_at"] = 2.0
        manifest["metadata"].update(generated_at="t2", invocation_id="i2")
        manifest["group_map"]["sales"].reverse()

    assert same_but_bodies(_manifest(), _edited(change), [MODEL])


def test_anything_else_that_differs_means_the_base_must_be_loaded():
    def deps(manifest: dict) -> None:
        _body(manifest)
        manifest["nodes"]["model.mesh.daily_revenue"]["depends_on"]["nodes"] = ["model.mesh.x"]

    def config(manifest: dict) -> None:
        manifest["nodes"]["model.mesh.daily_revenue"]["config"]["materialized"] = "view"

    def version(manifest: dict) -> None:
        manifest["metadata"]["dbt_version"] = "1.12"

    for change in (deps, config, version):
        assert not same_but_bodies(_manifest(), _edited(change), [MODEL]), change.__name__
    # A body that differs in a model whose file is not among the edited ones.
    assert not same_but_bodies(_manifest(), _edited(lambda m: _body(m)), [OTHER])
    assert not same_but_bodies(
        _manifest(), _edited(lambda m: _body(m, "model.mesh.customers")), [MODEL]
    )


def _repo(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                       cwd=tmp_path, check=True, capture_output=True)  # fmt: skip

    for path in (MODEL, OTHER, "domains/sales/defs.yaml", "dbt_project/models/sales/x.yml"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("one\n")
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "base")
    return git


def test_only_modified_model_sql_files_qualify(tmp_path):
    git = _repo(tmp_path)
    base = "HEAD"
    assert edited_model_sql(tmp_path, base) is None  # nothing changed
    (tmp_path / MODEL).write_text("two\n")
    (tmp_path / OTHER).write_text("two\n")
    assert edited_model_sql(tmp_path, base) == [OTHER, MODEL]
    for other in ("domains/sales/defs.yaml", "dbt_project/models/sales/x.yml"):
        (tmp_path / other).write_text("two\n")
        assert edited_model_sql(tmp_path, base) is None, other
        git("checkout", "-q", "--", other)
    new = tmp_path / "dbt_project/models/sales/new.sql"
    new.write_text("select 1\n")  # untracked: a model the base does not have
    assert edited_model_sql(tmp_path, base) is None
    new.unlink()
    git("mv", MODEL, "dbt_project/models/sales/marts/renamed.sql")  # a rename: removed + added
    assert edited_model_sql(tmp_path, base) is None
    git("mv", "dbt_project/models/sales/marts/renamed.sql", MODEL)
    (tmp_path / OTHER).unlink()  # removed
    assert edited_model_sql(tmp_path, base) is None
