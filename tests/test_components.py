"""The platform's components as `dg` sees them: a domain project loads through its component
tree, a broken sibling domain does not break it, and `dg check yaml` names file and line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from platform_core.components import DataProducts, DbtModels, KafkaStream
from platform_core.definitions import build_domain_definitions
from platform_core.errors import ProductDeclarationError
from platform_core.products.catalog import DBT_SOURCE, BrokenDomain, Catalog, depend_on_product

from platform_core import sql_product

BIN = Path(sys.executable).parent


def test_marketing_loads_through_its_component_tree(repo_root):
    project = repo_root / "domains" / "marketing"
    tree = dg.ComponentTree.for_project(project)
    assert isinstance(tree.load_component("products"), DataProducts)
    assert isinstance(tree.load_component("dbt"), DbtModels)
    assert isinstance(tree.load_component("click_stream"), KafkaStream)

    defs = tree.build_defs()  # the defs folder alone: the root adds the warehouse and defaults
    keys = {k.to_user_string() for a in defs.assets or [] for k in a.keys}
    declared = yaml.safe_load((project / "mesh_marketing/defs/products/defs.yaml").read_text())
    python_products = {f"marketing/{p['name']}" for p in declared["attributes"]["products"]}
    assert python_products <= keys
    assert "marketing/revenue_attribution" in keys  # a dbt model of group marketing
    assert "clicks_ingest" in {j.name for j in defs.jobs or []}
    assert all("code_location" not in spec.tags for a in defs.assets or [] for spec in a.specs)


SALES = """
domain: sales
products:
  - name: orders
    description: One row per order.
    owners: [team:sales, sales-lead@example.com]
    visibility: public
    columns: [{name: order_id, type: integer}]
"""
MARKETING = """
domain: marketing
products:
  - name: attribution
    description: Revenue per campaign.
    owners: [team:marketing]
    visibility: public
    inputs: [sales/orders]
    columns: [{name: campaign_id, type: integer}]
"""
FINANCE = """
domain: finance
products:
  - name: budget
    description: One row per month.
    owners: [team:finance]
    visibility: public
    columns: [{name: month, type: date}]
"""


def _impl(name: str):
    return sql_product(name)(lambda p: "select 1 as x")


def test_a_broken_sibling_breaks_only_its_consumers(fixture_mesh):
    files = fixture_mesh({"sales": SALES, "marketing": MARKETING, "finance": FINANCE})
    text = files["sales"].read_text().replace("visibility: public", "visibility: everyone")
    files["sales"].write_text(text)

    # finance does not depend on sales: it loads on its own declarations
    finance = build_domain_definitions(files["finance"], [_impl("budget")])
    assert dg.AssetKey(["finance", "budget"]) in finance.resolve_asset_graph().get_all_asset_keys()

    # marketing consumes sales/orders: its error names the broken domain, its file and owners
    with pytest.raises(ProductDeclarationError) as error:
        build_domain_definitions(files["marketing"], [_impl("attribution")])
    message = str(error.value)
    assert "depends on 'sales/orders' of domain 'sales'" in message
    assert str(files["sales"]) in message
    assert "team:sales" in message and "sales-lead@example.com" in message

    # and sales itself fails naming file, line, product and field
    line = text.splitlines().index("      visibility: everyone") + 1
    with pytest.raises(ProductDeclarationError, match=rf"defs.yaml:{line}: product 'orders'"):
        build_domain_definitions(files["sales"], [_impl("orders")])


def test_a_broken_dbt_project_names_the_domain_that_broke_it():
    broken = BrokenDomain("marketing", DBT_SOURCE, "dbt parse failed", ("team:marketing",))
    catalog = Catalog(products={}, broken={"marketing": broken})
    with pytest.raises(ProductDeclarationError) as error:
        depend_on_product("sales/daily_revenue", "finance/revenue_forecast", catalog)
    assert "because of domain 'marketing'" in str(error.value)
    assert "team:marketing" in str(error.value)


def _copy_mesh(repo_root: Path, target: Path) -> Path:
    ignore = shutil.ignore_patterns(".venv", ".mesh", ".git", "__pycache__", "logs")
    for name in ("dg.toml", "pyproject.toml", "workspace.yaml"):
        shutil.copy2(repo_root / name, target / name)
    for folder in ("domains", "dbt_project", "governance"):
        shutil.copytree(repo_root / folder, target / folder, ignore=ignore)
    return target


def test_a_broken_domain_in_a_copy_of_the_repo_leaves_the_others_loading(repo_root, tmp_path):
    mesh = _copy_mesh(repo_root, tmp_path)
    declared = mesh / "domains/marketing/mesh_marketing/defs/products/defs.yaml"
    declared.write_text(declared.read_text().replace("owners: [team:marketing]", "owners: []", 1))
    paths = os.pathsep.join(str(p) for p in sorted((mesh / "domains").glob("*")))
    env = {**os.environ, "PYTHONPATH": paths}
    probe = (
        "import importlib, sys; m = importlib.import_module(sys.argv[1]); "
        "print(m.__file__); print(len(m.defs.resolve_asset_graph().materializable_asset_keys))"
    )
    for module in ("mesh_platform", "mesh_sales", "mesh_finance"):
        done = subprocess.run(
            [sys.executable, "-c", probe, f"{module}.definitions"],
            cwd=mesh,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        file, count = done.stdout.split()[-2:]
        assert file.startswith(str(mesh)) and int(count) > 0  # the copy's code was loaded
    broken = subprocess.run(
        [sys.executable, "-c", probe, "mesh_marketing.definitions"],
        cwd=mesh,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert broken.returncode != 0
    assert "defs.yaml:" in broken.stderr and "owners" in broken.stderr


def test_dg_check_yaml_names_the_file_and_line_of_a_schema_error(repo_root, tmp_path):
    project = tmp_path / "finance"
    shutil.copytree(
        repo_root / "domains" / "finance", project, ignore=shutil.ignore_patterns("__pycache__")
    )
    declared = project / "mesh_finance/defs/products/defs.yaml"
    text = declared.read_text().replace("visibility: public", "visibility: publik", 1)
    declared.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "visibility: publik" in t)
    done = subprocess.run(
        [str(BIN / "dg"), "check", "yaml"],
        cwd=project,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert f"{declared}:{line}" in output
    assert "'publik' is not one of ['public', 'internal']" in output


def test_dg_list_defs_lists_a_domain_projects_products_and_dbt_models(repo_root):
    project = repo_root / "domains" / "finance"
    done = subprocess.run(
        [str(BIN / "dg"), "list", "defs", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    listed = {a["asset_key"]: a for a in json.loads(done.stdout)["assets"]}
    # Expected from the files themselves: the YAML's products and the group's dbt model files.
    declared = yaml.safe_load((project / "mesh_finance/defs/products/defs.yaml").read_text())
    products = {f"finance/{p['name']}" for p in declared["attributes"]["products"]}
    models = {
        f"finance/{sql.stem}" for sql in (repo_root / "dbt_project/models/finance").rglob("*.sql")
    }
    assert products and models
    own = {key for key in listed if key.startswith("finance/")}
    assert own == products | models
    assert not any(listed[key]["is_executable"] for key in set(listed) - own)  # upstreams only
    assert {listed[k]["source"] for k in models} == {"mesh_finance/defs/dbt/defs.yaml:2"}


def test_dg_dev_at_the_workspace_root_serves_every_project(repo_root, tmp_path):
    """`dg dev` at the root loads each project of dg.toml with its own interpreter path
    (<project>/.venv, which ./mesh points at the workspace environment)."""
    import tomllib
    import urllib.request

    from tests.support.processes import background, free_port, wait_for

    projects = tomllib.loads((repo_root / "dg.toml").read_text())["workspace"]["projects"]
    expected = {
        tomllib.loads((repo_root / p["path"] / "pyproject.toml").read_text())["tool"]["dg"][
            "project"
        ]["code_location_name"]
        for p in projects
    }
    port = free_port()
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus " \
        "locationOrLoadError { __typename ... on PythonError { message } } } } } }"  # fmt: skip

    def entries() -> list[dict] | None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                found = json.loads(response.read())["data"]["workspaceOrError"]["locationEntries"]
        except OSError:
            return None
        loading = not found or any(e["loadStatus"] == "LOADING" for e in found)
        return None if loading else found

    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    log = tmp_path / "dg-dev.log"
    with background([str(BIN / "dg"), "dev", "--port", str(port)], env, repo_root, log):
        found = wait_for(entries, timeout=400, what="dg dev to load every location", interval=2)
    assert {e["name"] for e in found} == expected, log.read_text()[-3000:]
    errors = [e for e in found if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
    assert errors == [], errors
