"""The dbt project under the mesh's rules, asserted over the prepared manifest, and the platform's
handling of dbt: keys, owners, tags, schema, checks, slices, parse errors and preparation."""

import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
from platform_core.catalog import _dbt_declarations, load_catalog
from platform_core.dbt.assets import _check_sources, dbt_slice
from platform_core.dbt.nodes import model_key
from platform_core.dbt.preparer import prepare, prepared_manifest
from platform_core.dbt.project import MeshDbtProject, mesh_dbt_project
from platform_core.dbt.translator import MeshDbtTranslator
from platform_core.environment import current_environment, detect_environment
from platform_core.errors import DbtProjectError, ProductDeclarationError
from platform_core.products.declaration import Visibility


@pytest.fixture(scope="module")
def manifest(repo_root):
    env = current_environment()
    return prepared_manifest(mesh_dbt_project(env, repo_root), env)


def models(manifest):
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


def test_every_model_has_a_domain_group_and_an_access_level(manifest):
    for node in models(manifest):
        domain = Path(node["original_file_path"]).parts[1]  # models/<domain>/...
        assert node["group"] == domain, node["unique_id"]
        assert node["access"] in {"private", "protected", "public"}, node["unique_id"]


def test_every_public_model_has_an_enforced_contract_and_an_owner(manifest):
    groups = {g["name"]: g for g in manifest["groups"].values()}
    public = [n for n in models(manifest) if n["access"] == "public"]
    assert {model_key(n).to_user_string() for n in public} >= {
        "sales/orders", "sales/orders_v1", "sales/customers", "sales/daily_revenue",
        "marketing/campaign_spend", "marketing/revenue_attribution", "finance/tenant_billing",
    }  # fmt: skip
    for node in public:
        assert node["config"]["contract"]["enforced"], node["unique_id"]
        assert all(c.get("data_type") for c in node["columns"].values()), node["unique_id"]
        assert groups[node["group"]]["owner"]["email"], node["group"]


def test_a_versioned_public_model_deprecates_its_old_version(manifest):
    versions = {n["version"]: n for n in models(manifest) if n["name"] == "orders"}
    assert set(versions) == {1, 2}
    assert versions[2]["latest_version"] == 2 and versions[2]["alias"] == "orders"
    assert versions[1]["deprecation_date"] and not versions[2].get("deprecation_date")


def test_sources_have_freshness_and_the_project_has_each_kind_of_test(manifest):
    for source in manifest["sources"].values():
        freshness = source.get("freshness") or {}
        if source["name"] not in {"tenant_products", "campaigns"}:  # reference data
            assert freshness.get("error_after", {}).get("count"), source["unique_id"]
            assert source["loaded_at_field"], source["unique_id"]
    kinds = {
        n["test_metadata"]["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "test" and n.get("test_metadata")
    }
    assert {"unique", "not_null", "relationships", "accepted_values"} <= kinds


def spec_of(manifest, name: str, version: int | None = None) -> dg.AssetSpec:
    translator = MeshDbtTranslator(manifest)
    uid = next(
        n["unique_id"] for n in models(manifest)
        if n["name"] == name and (version is None or n.get("version") == version)
    )  # fmt: skip
    return translator.get_asset_spec(manifest, uid, None)


def test_dbt_models_get_the_product_key_owners_tags_and_schema(manifest):
    spec = spec_of(manifest, "orders", version=2)
    assert spec.key == dg.AssetKey(["sales", "orders"])
    assert spec.group_name == "sales"
    assert spec.owners == ["team:sales", "sales-data@mesh.example"]
    assert "domain" not in spec.tags  # the location's root tags it (tests/test_location_specs.py)
    assert (spec.tags["visibility"], spec.tags["tier"], spec.tags["dbt_access"]) == (
        "public", "1", "public",
    )  # fmt: skip
    assert spec.freshness_policy is not None
    columns = {c.name: c for c in spec.metadata["dagster/column_schema"].columns}
    assert (columns["amount"].type, columns["order_id"].type) == ("decimal", "integer")
    assert (columns["ordered_at"].type, columns["status"].type) == ("timestamp", "string")
    assert not columns["order_id"].constraints.nullable  # not_null test and constraint
    assert columns["category"].constraints.nullable
    assert {"dbt", "duckdb"} <= set(spec.kinds)

    old = spec_of(manifest, "orders", version=1)
    assert old.key == dg.AssetKey(["sales", "orders_v1"])
    assert old.metadata["dbt/deprecation_date"].startswith("2027-")

    private = spec_of(manifest, "stg_sales__orders")
    assert (private.tags["visibility"], private.tags["dbt_access"]) == ("internal", "private")
    assert private.freshness_policy is None


def test_a_location_gets_only_its_group_and_depends_on_other_locations_by_key(manifest):
    marketing = dbt_slice("marketing").assets[0]
    keys = {k.to_user_string() for k in marketing.keys}
    assert keys == {
        "marketing/stg_marketing__campaigns", "marketing/stg_marketing__ad_spend",
        "marketing/stg_marketing__clicks", "marketing/int_marketing__last_touch_orders",
        "marketing/campaign_spend", "marketing/revenue_attribution",
    }  # fmt: skip
    upstream = {dep.asset_key for spec in marketing.specs for dep in spec.deps} - marketing.keys
    assert upstream == {
        dg.AssetKey(["sales", "orders"]),  # a dbt ref into the sales group
        dg.AssetKey(["marketing", "campaigns"]),  # dbt sources = Python products
        dg.AssetKey(["marketing", "ad_spend"]),
        dg.AssetKey(["marketing", "clicks"]),
    }
    checks = {c.name: c for c in marketing.check_specs}
    assert checks["unique_revenue_attribution_campaign_id"].blocking


def test_dbt_models_join_the_catalog_so_python_products_can_depend_on_them(repo_root):
    catalog = load_catalog(repo_root)
    assert catalog.products["sales/daily_revenue"].visibility is Visibility.PUBLIC
    assert catalog.products["sales/stg_sales__orders"].visibility is Visibility.INTERNAL
    assert "sales/orders" in catalog.public_products("sales")
    assert catalog.products["finance/tenant_billing"].owners[0] == "team:finance"


def test_a_source_that_is_another_domains_internal_product_is_refused(manifest, repo_root):
    catalog = load_catalog(repo_root)
    hidden = catalog.products["platform/tenant_orders"].model_copy(
        update={"visibility": Visibility.INTERNAL}
    )
    products = {**catalog.products, "platform/tenant_orders": hidden}
    with pytest.raises(ProductDeclarationError) as error:
        _check_sources(manifest, "sales", type(catalog)(products))
    message = str(error.value)
    assert "'sales/stg_sales__orders'" in message and "'platform/tenant_orders'" in message
    assert "internal to domain 'platform'" in message and "Fix:" in message


@pytest.fixture
def project_copy(repo_root, tmp_path) -> MeshDbtProject:
    folder = tmp_path / "dbt_project"
    shutil.copytree(repo_root / "dbt_project", folder, ignore=shutil.ignore_patterns("target"))
    return MeshDbtProject(folder, "duckdb")


def test_a_private_ref_fails_only_the_offending_domain_with_dbt_error_and_the_fix(
    project_copy,
):
    env = current_environment()
    models = project_copy.project_dir / "models"
    (models / "marketing/marts/order_peek.sql").write_text(
        "select order_id from {{ ref('int_sales__priced_orders') }}\n"
    )
    # A finance model on top of the offending one: disabled with it, finance fails too.
    (models / "finance/marts/peek_total.sql").write_text(
        "select count(*) as orders from {{ ref('order_peek') }}\n"
    )
    untouched = {p: p.read_bytes() for p in project_copy.project_dir.rglob("*") if p.is_file()}
    prepare(project_copy, env)

    with pytest.raises(DbtProjectError) as error:
        dbt_slice("marketing", env, project_copy)
    message = str(error.value)
    # dbt's own words ...
    assert (
        "Node model.mesh.order_peek attempted to reference node "
        "model.mesh.int_sales__priced_orders, which is not allowed because the referenced node "
        "is private to the 'sales' group."
    ) in " ".join(message.split())
    # ... and the platform's: the domain at fault, the file, the fix and who to ask.
    assert "Domain 'marketing': model 'order_peek' (dbt_project/models/marketing/marts/" in message
    assert "ref a public model of 'sales' (customers, daily_revenue, orders)" in message
    assert "Sales analytics, sales-data@mesh.example" in message
    assert error.value.domain == "marketing"

    with pytest.raises(DbtProjectError) as downstream:
        dbt_slice("finance", env, project_copy)
    assert "model 'peek_total' (dbt_project/models/finance/marts/peek_total.sql) refs " in str(
        downstream.value
    )
    assert "'order_peek' of domain 'marketing', which is disabled" in str(downstream.value)

    # sales loads, with all its models, and runs in the copy that parsed
    sales = dbt_slice("sales", env, project_copy)
    keys = {k.to_user_string() for k in sales.assets[0].keys}
    assert {"sales/orders", "sales/customers", "sales/daily_revenue"} <= keys
    dbt_dir = Path(sales.resources["dbt"].project_dir)
    assert dbt_dir != project_copy.project_dir and (dbt_dir / "dbt_project.yml").is_file()
    manifest = project_copy.read_manifest(env)
    assert "model.mesh.order_peek" not in manifest["nodes"]
    assert "model.mesh.int_sales__priced_orders" in manifest["nodes"]
    # the catalog: the quarantined domains are broken (their consumers' errors name them)
    declared, broken = _dbt_declarations(project_copy.project_dir.parent)
    assert {b.domain: b.owners for b in broken} == {
        "marketing": ("Marketing analytics, marketing-data@mesh.example",),
        "finance": ("Finance, finance-data@mesh.example",),
    }
    assert {"sales/orders", "marketing/campaign_spend"} <= {
        f"{d.domain}/{d.name}" for d in declared
    }
    # the project itself is never edited: the disabling lives in the prepared copy
    assert {p: p.read_bytes() for p in untouched} == untouched

    # once fixed, a re-parse of the project itself clears the quarantine
    (models / "marketing/marts/order_peek.sql").unlink()
    (models / "finance/marts/peek_total.sql").unlink()
    prepare(project_copy, env, force=True)
    assert project_copy.quarantine() == {}
    assert Path(dbt_slice("marketing", env, project_copy).resources["dbt"].project_dir) == (
        project_copy.project_dir
    )


def test_a_model_that_does_not_parse_fails_only_its_domain(project_copy):
    env = current_environment()
    (project_copy.project_dir / "models/finance/marts/half_done.sql").write_text(
        "select {{ ref('revenue_by_tenant' }}\n"
    )
    prepare(project_copy, env)
    with pytest.raises(DbtProjectError) as error:
        dbt_slice("finance", env, project_copy)
    where = "(dbt_project/models/finance/marts/half_done.sql)"
    assert f"Domain 'finance': model 'half_done' {where} does not parse" in str(error.value)
    assert "Fix:" in str(error.value)
    assert dbt_slice("marketing", env, project_copy).assets  # the others load


def test_an_unattributable_parse_failure_still_fails_loudly(project_copy):
    (project_copy.project_dir / "models/broken.yml").write_text("models: [unclosed\n")
    with pytest.raises(DbtProjectError, match=r"dbt parse of .* failed") as error:
        prepare(project_copy, current_environment())
    assert "broken.yml" in str(error.value) and "Fix:" in str(error.value)
    assert project_copy.quarantine() == {}


def test_local_development_reparses_after_an_edit_and_only_then(project_copy):
    env = current_environment()
    first = prepare(project_copy, env)
    prepared_at = first.stat().st_mtime_ns
    assert prepare(project_copy, env).stat().st_mtime_ns == prepared_at  # fresh: no parse

    time.sleep(0.01)
    model = project_copy.project_dir / "models/finance/intermediate/int_finance__plan_pricing.sql"
    model.write_text(model.read_text() + "union all\nselect 'scale', 999, 0.015\n")
    assert project_copy.is_stale()
    manifest = prepared_manifest(project_copy, env)
    node = manifest["nodes"]["model.mesh.int_finance__plan_pricing"]
    assert "'scale'" in node["raw_code"]


def test_outside_local_development_a_missing_manifest_is_refused_not_parsed(tmp_path, project_copy):
    prod = detect_environment(
        {"MESH_ENV": "prod", "SNOWFLAKE_DATABASE": "analytics", "MESH_HOME": str(tmp_path)}
    )
    project = MeshDbtProject(project_copy.project_dir, prod.dbt_target)
    with pytest.raises(DbtProjectError, match="Fix: run `meshctl dbt-prepare`"):
        prepared_manifest(project, prod)
    assert not project.manifest_path.exists()


def test_dbt_targets_follow_the_environment_and_a_branch_only_names_its_clone(tmp_path):
    from platform_core.dbt.project import dbt_environment

    local = detect_environment({"MESH_HOME": str(tmp_path)})
    assert local.dbt_target == "duckdb"
    assert dbt_environment(local) == {"MESH_DBT_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb")}
    branch = detect_environment({
        "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1", "DAGSTER_CLOUD_PULL_REQUEST_ID": "17",
        "SNOWFLAKE_DATABASE": "analytics", "MESH_HOME": str(tmp_path),
    })  # fmt: skip
    assert branch.dbt_target == "snowflake_branch"
    assert dbt_environment(branch) == {"MESH_DBT_DATABASE": "ANALYTICS_CLONE_17"}
    prod = detect_environment({"MESH_ENV": "prod", "SNOWFLAKE_DATABASE": "analytics"})
    assert (prod.dbt_target, dbt_environment(prod)) == (
        "snowflake_prod",
        {"MESH_DBT_DATABASE": "ANALYTICS"},
    )


def test_profiles_hold_no_secret_and_read_the_database_the_platform_derives(repo_root):
    import yaml

    profile = yaml.safe_load((repo_root / "dbt_project" / "profiles.yml").read_text())["mesh"]
    assert set(profile["outputs"]) == {"duckdb", "snowflake_branch", "snowflake_prod"}
    for name in ("snowflake_branch", "snowflake_prod"):
        output = profile["outputs"][name]
        for field in ("account", "user", "password"):
            assert output[field].startswith("{{ env_var('SNOWFLAKE_"), (name, field)
        assert output["database"] == "{{ env_var('MESH_DBT_DATABASE') }}"
