"""Asset-precise change detection: `meshctl impact` on a copy of the mesh, edit by edit.

dbt models follow dbt's state:modified rules (base and head manifests), Python products their
code_version; downstream is the global graph's. Each case edits the branch, asks the real
command (the copy's code on PYTHONPATH), and resets the branch.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.mesh_copy import copy_mesh, edit, git
from tests.support.processes import BIN

DAILY_REVENUE = "dbt_project/models/sales/marts/daily_revenue.sql"
CUSTOMERS = "dbt_project/models/sales/marts/customers.sql"
USD_USES = {
    DAILY_REVENUE: "sum(case when status = 'completed' then amount else 0 end)",
    CUSTOMERS: "coalesce(sum(case when o.status = 'completed' then o.amount end), 0)",
}
COMMIT = ("-c", "user.name=t", "-c", "user.email=t@example.com")


@pytest.fixture(scope="module")
def mesh(repo_root, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("changes")
    repo = copy_mesh(repo_root, tmp / "mesh")
    # A macro a model uses, so that changing the macro has a model to mark.
    (repo / "dbt_project/macros/usd.sql").write_text(
        "{% macro usd(expression) %}cast({{ expression }} as numeric(14, 2)){% endmacro %}\n"
    )
    git(repo, *COMMIT, "add", "-A")
    git(repo, *COMMIT, "commit", "-qm", "governance and a macro")
    git(repo, "checkout", "-q", "-b", "feature")
    return repo


def home_of(repo: Path) -> Path:
    """One MESH_HOME for the module: the cases against main share its cached base graph."""
    return repo.parent / "home"


def meshctl(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """`meshctl ARGS` on the copy; the branch's edits are reset afterwards."""
    paths = [repo / "platform_core", *sorted((repo / "domains").iterdir())]
    env = {
        **os.environ, "MESH_HOME": str(home_of(repo)),
        "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
    }  # fmt: skip
    try:
        return subprocess.run(
            [str(BIN / "meshctl"), *args],
            cwd=repo, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        git(repo, "checkout", "-q", "--", ".")
        git(repo, "clean", "-qfd", "--", "dbt_project/models", "domains")


def impact(repo: Path, tmp_path: Path, base: str = "main") -> dict:
    done = meshctl(repo, "impact", "--base", base, "--format", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def changed(report: dict) -> dict[str, list[str]]:
    return {c["key"]: c["fields"] for c in report["changes"]}


@pytest.mark.slow
def test_one_dbt_model_edit_marks_that_model_and_its_downstream(mesh, tmp_path):
    edit(mesh / DAILY_REVENUE, "when status = 'completed' then amount", "when status in ('completed') then amount")  # fmt: skip
    report = impact(mesh, tmp_path)
    assert changed(report) == {"sales/daily_revenue": ["body"]}
    # Downstream: finance builds on daily_revenue (dbt GMV and billing, the Python forecast).
    assert report["downstream"] == [
        "finance/int_finance__monthly_gmv", "finance/revenue_forecast", "finance/tenant_billing",
    ]  # fmt: skip
    assert report["changed_files"] == {"sales": [DAILY_REVENUE]}


@pytest.mark.slow
def test_a_models_sql_edit_needs_only_the_base_manifest_and_a_new_ref_loads_the_base(
    mesh, tmp_path
):
    """governance.base_derive: an edit of models' SQL alone takes the base's graph from the
    head (only the base manifest is parsed and kept); when the edit also changes what the
    model depends on, the manifests differ beyond the bodies and the base is loaded in full."""
    home = tmp_path / "home"  # its own: no base of another case is cached here
    paths = [mesh / "platform_core", *sorted((mesh / "domains").iterdir())]
    env = {**os.environ, "MESH_HOME": str(home),
           "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}  # fmt: skip

    def impact_here() -> dict:
        try:
            done = subprocess.run(
                [str(BIN / "meshctl"), "impact", "--base", "main", "--format", "json"],
                cwd=mesh, env=env, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
        finally:
            git(mesh, "checkout", "-q", "--", ".")
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    def kept() -> list[str]:
        return sorted(p.name.rsplit("-", 1)[-1] for p in (home / "cache/impact-base").iterdir())

    edit(mesh / DAILY_REVENUE, "then amount else 0", "then amount * 1 else 0")
    report = impact_here()
    assert changed(report) == {"sales/daily_revenue": ["body"]}
    assert report["downstream"] == [
        "finance/int_finance__monthly_gmv", "finance/revenue_forecast", "finance/tenant_billing",
    ]  # fmt: skip
    assert kept() == ["manifest"]  # the base's manifest only: its graph was never loaded
    # A new upstream: the model's dependencies differ, so the base graph is loaded and kept.
    edit(mesh / DAILY_REVENUE, "from {{ ref('orders') }}",
         "from {{ ref('orders') }} cross join (select count(*) from {{ ref('customers') }})")  # fmt: skip
    report = impact_here()
    assert changed(report) == {"sales/daily_revenue": ["deps", "body"]}
    assert len(kept()) == 2 and "manifest" in kept()


@pytest.mark.slow
def test_a_whitespace_only_change_marks_nothing(mesh, tmp_path):
    path = mesh / DAILY_REVENUE
    text = path.read_text()
    path.write_text("\n" + text.replace("    ", "        ").replace(",\n", " ,\n") + "\n\n")
    report = impact(mesh, tmp_path)
    assert report["changes"] == [] and report["downstream"] == []
    assert report["changed_files"] == {"sales": [DAILY_REVENUE]}  # listed, changes nothing


@pytest.mark.slow
def test_a_macro_change_marks_the_models_that_use_it(mesh, tmp_path):
    # Two models use the macro on the base branch (a side branch), then the macro changes.
    git(mesh, "checkout", "-q", "-b", "uses-macro", "main")
    for model, expression in USD_USES.items():
        edit(
            mesh / model, f"cast({expression} as numeric(14, 2))", f'{{{{ usd("{expression}") }}}}'
        )
    git(mesh, *COMMIT, "commit", "-qam", "use the macro")
    git(mesh, "checkout", "-q", "-b", "macro-change")
    edit(mesh / "dbt_project/macros/usd.sql", "numeric(14, 2)", "numeric(16, 2)")
    paths = [mesh / "platform_core", *sorted((mesh / "domains").iterdir())]
    env = {
        **os.environ, "MESH_HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
    }  # fmt: skip
    done = subprocess.run(
        [str(BIN / "meshctl"), "impact", "--base", "uses-macro", "--format", "json"],
        cwd=mesh, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    git(mesh, "checkout", "-q", "--", ".")
    git(mesh, "checkout", "-q", "feature")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    marked = {key for key, fields in changed(report).items() if "macro:usd" in fields}
    assert marked == {"sales/daily_revenue", "sales/customers"}
    assert set(changed(report)) == marked  # orders, staging: untouched
    assert "finance/tenant_billing" in report["downstream"]


@pytest.mark.slow
def test_a_python_products_implementation_change_marks_only_that_product(mesh, tmp_path):
    edit(
        mesh / "domains/marketing/mesh_marketing/defs/products/campaigns.py",
        'return read_landing(p.environment.landing_dir, "ad_spend")',
        'return read_landing(p.environment.landing_dir, "ad_spend").slice(0)',
    )
    # A comment or a docstring is no change of the code.
    edit(
        mesh / "domains/marketing/mesh_marketing/defs/products/campaigns.py",
        "def clicks(",
        "def clicks(  ",
    )
    report = impact(mesh, tmp_path)
    assert changed(report) == {"marketing/ad_spend": ["code"]}
    assert "marketing/campaign_spend" in report["downstream"]


FORECAST = "domains/finance/mesh_finance/defs/products/forecast.py"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["impact", "preview"])
def test_a_branch_location_that_does_not_load_is_an_error_not_nothing_changed(mesh, command):
    # A daily_revenue edit (a real change) plus a finance module that fails at import: finance's
    # assets would look removed and its downstream rebuild would vanish from the plan.
    edit(mesh / DAILY_REVENUE, "then amount else 0", "then amount * 1 else 0")
    source = (mesh / FORECAST).read_text()
    (mesh / FORECAST).write_text(source + "\nraise RuntimeError('forecast table is gone')\n")
    # The preview copies main's warehouse first; the impact stops it before anything reads it.
    home_of(mesh).mkdir(parents=True, exist_ok=True)
    (home_of(mesh) / "warehouse.duckdb").touch()
    done = meshctl(mesh, command, "--base", "main", "--format", "json")
    assert done.returncode != 0, done.stdout[-2000:]
    assert done.stdout.strip() == ""  # no report, in particular no "nothing changed"
    error = done.stderr
    assert "This branch does not load" in error, error[-3000:]
    assert "location 'finance' (domains/finance" in error
    assert "forecast table is gone" in error
    assert "Fix:" in error and "dagster definitions validate" in error
    assert "location 'sales'" not in error  # only the broken location is named


@pytest.mark.slow
def test_platform_core_changes_mark_every_asset(mesh, tmp_path):
    edit(mesh / "platform_core/platform_core/errors.py", "Errors users see.", "Errors.")
    report = impact(mesh, tmp_path)
    assert report["everything"] is True
    fields = changed(report)
    assert "sales/daily_revenue" in fields and "marketing/ad_spend" in fields
    assert all("platform" in f for f in fields.values())


def cached_bases(repo: Path) -> list[Path]:
    folder = home_of(repo) / "cache" / "impact-base"
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.mark.slow
def test_the_cached_base_follows_the_base_commit(mesh, tmp_path):
    git(mesh, "checkout", "-q", "-b", "moving-base", "main")
    git(mesh, "checkout", "-q", "-b", "on-moving-base")
    try:
        edit(mesh / DAILY_REVENUE, "then amount else 0", "then amount * 1 else 0")
        first = impact(mesh, tmp_path, base="moving-base")
        assert changed(first) == {"sales/daily_revenue": ["body"]}
        # main's commit: its graph and manifest (or, for an edit of models' SQL only, its
        # manifest) are kept, by this case or an earlier one
        stored = {entry: (entry / "meta.json").stat().st_mtime_ns for entry in cached_bases(mesh)}
        assert stored
        # The same base again: the stored entries serve, untouched (a damaged one is rebuilt,
        # see governance/tests/test_governance_basecache.py).
        edit(mesh / DAILY_REVENUE, "then amount else 0", "then amount * 1 else 0")
        assert impact(mesh, tmp_path, base="moving-base") == first
        assert {e: (e / "meta.json").stat().st_mtime_ns for e in cached_bases(mesh)} == stored
        # The base moves on (a new commit changes customers): a fresh base, so only the
        # branch's own edit is a change (the old base would also show customers).
        git(mesh, "checkout", "-q", "moving-base")
        edit(mesh / CUSTOMERS, "o.amount end), 0)", "o.amount * 1 end), 0)")
        git(mesh, *COMMIT, "commit", "-qam", "customers on the base")
        git(mesh, "checkout", "-q", "on-moving-base")
        git(mesh, "merge", "-q", "--ff-only", "moving-base")
        edit(mesh / DAILY_REVENUE, "then amount else 0", "then amount * 1 else 0")
        moved = impact(mesh, tmp_path, base="moving-base")
        assert changed(moved) == {"sales/daily_revenue": ["body"]}
        assert moved["base"] != first["base"]
        assert len(cached_bases(mesh)) == len(stored) + 1
    finally:
        git(mesh, "checkout", "-q", "-f", "feature")
