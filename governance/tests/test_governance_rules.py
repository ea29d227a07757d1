"""Every rule: a small mesh that violates it (the gate fails with the rule id and the fix) and
the same mesh made compliant (the rule is silent). Meshes are real packages loaded the way
Dagster loads them."""

from datetime import date
from pathlib import Path

import pytest
from meshfactory import Loc, only, product, rule_ids, write_mesh

RAW = """
@dg.asset(key=["{domain}", "{name}"], description={description!r}, owners={owners!r},
          deps=[dg.AssetKey.from_user_string(d) for d in {deps!r}], tags={tags!r}, metadata={metadata!r}, freshness_policy={freshness})
def {name}() -> None: ...
EXTRA_ASSETS.append({name})
"""

FRESH = "dg.FreshnessPolicy.time_window(fail_window=__import__('datetime').timedelta(hours=24))"
SCHEMA = {"dagster/column_schema": "SCHEMA"}


def raw(domain, name, *, description="Something useful.", owners=None, deps=(), tags=None,
        metadata=None, freshness="None", check=None):  # fmt: skip
    code = RAW.format(
        domain=domain, name=name, description=description,
        owners=[f"team:{domain}"] if owners is None else owners, deps=list(deps),
        tags=tags or {}, metadata=metadata or {}, freshness=freshness,
    )  # fmt: skip
    code = code.replace(
        "'SCHEMA'", "dg.TableSchema(columns=[dg.TableColumn('x', 'integer', description='x')])"
    )
    if check is not None:
        code += (
            f"\n@dg.asset_check(asset={name}, blocking={check})\n"
            f"def {name}_check() -> dg.AssetCheckResult:\n"
            "    return dg.AssetCheckResult(passed=True)\n"
            f"EXTRA_ASSETS.append({name}_check)\n"
        )
    return code


def mesh(tmp_path, locations, **kwargs):
    return write_mesh(tmp_path, locations, **kwargs)


def test_a_compliant_mesh_passes_every_rule(tmp_path):
    result = mesh(tmp_path, {
        "sales": Loc([product("orders"), product("scratch", visibility="internal")],
                     extra=raw("sales", "notes", deps=["sales/scratch"])),
        "marketing": Loc([product("attribution", inputs=("sales/orders",))],
                         extra=raw("marketing", "public_feed", tags={"visibility": "public"},
                                   metadata=SCHEMA, freshness=FRESH, check=True)),
    }).gate()  # fmt: skip
    assert result.violations == [], [v.message for v in result.violations]
    assert result.passed


@pytest.mark.parametrize(
    ("rule", "bad", "good"),
    [
        ("GOV002", dict(owners=["team:strangers"]), dict(owners=["team:sales"])),
        ("GOV010", dict(description=""), dict()),
        ("GOV020", dict(tags={"domain": "marketing"}), dict(tags={"domain": "sales"})),
        ("GOV030", dict(tags={"visibility": "public"}, freshness=FRESH, check=True),
         dict(tags={"visibility": "public"}, freshness=FRESH, check=True, metadata=SCHEMA)),
        ("GOV031", dict(tags={"visibility": "public"}, metadata=SCHEMA, check=True),
         dict(tags={"visibility": "public"}, metadata=SCHEMA, check=True, freshness=FRESH)),
        ("GOV032", dict(tags={"visibility": "public"}, metadata=SCHEMA, freshness=FRESH, check=False),
         dict(tags={"visibility": "public"}, metadata=SCHEMA, freshness=FRESH, check=True)),
        ("GOV041", dict(deps=["nowhere/thing"]), dict(deps=["sales/orders"])),
    ],
)  # fmt: skip
def test_asset_rules(tmp_path, rule, bad, good):
    bad_mesh = mesh(
        tmp_path / "bad", {"sales": Loc([product("orders")], extra=raw("sales", "extra", **bad))}
    )
    found = only(bad_mesh.gate(), rule)
    assert "sales/extra" in found[0].message and found[0].fix
    good_mesh = mesh(
        tmp_path / "good", {"sales": Loc([product("orders")], extra=raw("sales", "extra", **good))}
    )
    assert rule not in rule_ids(good_mesh.gate())


RAW_LOCATION = """
import dagster as dg

@dg.asset(key=["sales", "loose"], description="Built without the platform's root.")
def loose() -> None: ...

defs = dg.Definitions(assets=[loose])
"""


def test_assets_need_owners(tmp_path):
    # The platform's root gives an asset without owners its domain team (team:<location>), so
    # GOV001 catches a location that bypasses the root.
    bad = Loc([product("orders")], files={"definitions.py": RAW_LOCATION})
    found = only(mesh(tmp_path / "bad", {"sales": bad}).gate(), "GOV001")
    assert "sales/loose" in found[0].message
    fallback = Loc([product("orders")], extra=raw("sales", "extra", owners=[]))
    assert "GOV001" not in rule_ids(mesh(tmp_path / "good", {"sales": fallback}).gate())


def test_public_columns_must_be_documented(tmp_path):
    bare = product("orders", columns=[{"name": "x", "type": "integer"}])
    found = only(mesh(tmp_path / "bad", {"sales": Loc([bare])}).gate(), "GOV011")
    assert "['x']" in found[0].message
    assert found[0].file.endswith("defs/products/defs.yaml")
    lines = (tmp_path / "bad" / found[0].file).read_text().splitlines()
    assert found[0].line == lines.index("  - name: orders") + 1
    internal = product("orders", visibility="internal", columns=[{"name": "x", "type": "integer"}])
    assert "GOV011" not in rule_ids(mesh(tmp_path / "good", {"sales": Loc([internal])}).gate())


def test_dangling_dependency_can_be_declared_an_external_source(tmp_path):
    locations = {"sales": Loc(extra=raw("sales", "extra", deps=["crm/accounts"]))}
    ok = mesh(tmp_path, locations, policy={"external_sources": ["crm/accounts"]}).gate()
    assert "GOV041" not in rule_ids(ok)


def test_cross_domain_dependency_on_an_internal_product_fails(tmp_path):
    sales = Loc([product("orders"), product("scratch", visibility="internal")])
    bad = mesh(
        tmp_path / "bad",
        {"sales": sales, "marketing": Loc(extra=raw("marketing", "x", deps=["sales/scratch"]))},
    )
    found = only(bad.gate(), "GOV040")
    assert "'sales/scratch'" in found[0].message and "publish" in found[0].fix
    good = mesh(
        tmp_path / "good",
        {"sales": sales, "marketing": Loc(extra=raw("marketing", "x", deps=["sales/orders"]))},
    )
    assert "GOV040" not in rule_ids(good.gate())


def test_a_key_defined_in_two_locations_fails(tmp_path):
    twice = raw("shared", "thing", tags={"domain": "x"})
    bad = mesh(tmp_path / "bad", {"sales": Loc(extra=twice), "marketing": Loc(extra=twice)})
    found = only(bad.gate(), "GOV042")
    assert "['marketing', 'sales']" in found[0].message
    good = mesh(tmp_path / "good", {"sales": Loc(extra=twice), "marketing": Loc()})
    assert "GOV042" not in rule_ids(good.gate())


def test_a_cycle_between_domains_fails(tmp_path):
    bad = mesh(tmp_path / "bad", {
        "sales": Loc([product("orders")], extra=raw("sales", "x", deps=["marketing/leads"])),
        "marketing": Loc([product("leads", inputs=("sales/orders",))]),
    })  # fmt: skip
    found = only(bad.gate(), "GOV043")
    assert "marketing" in found[0].message and "sales" in found[0].message
    good = mesh(tmp_path / "good", {
        "sales": Loc([product("orders")]),
        "marketing": Loc([product("leads", inputs=("sales/orders",))]),
    })  # fmt: skip
    assert "GOV043" not in rule_ids(good.gate())


def test_a_domain_importing_another_domains_package_fails(tmp_path):
    bad = mesh(tmp_path / "bad", {
        "sales": Loc(),
        "marketing": Loc(files={"helpers.py": "import os\nfrom {pkg} import definitions\n"}),
    })  # fmt: skip
    sales_package = bad.packages["sales"]
    bad_helper = bad.root / "domains/marketing" / bad.packages["marketing"] / "helpers.py"
    bad_helper.write_text(f"import os\nfrom {sales_package} import definitions\n")
    found = only(bad.gate(), "GOV050")
    assert found[0].line == 2 and found[0].file.endswith("helpers.py")
    assert "platform_core" in found[0].fix
    good = mesh(
        tmp_path / "good",
        {"sales": Loc(), "marketing": Loc(files={"helpers.py": "import platform_core\n"})},
    )
    assert "GOV050" not in rule_ids(good.gate())


@pytest.mark.parametrize(
    ("today", "severity"), [(date(2027, 1, 2), "error"), (date(2026, 12, 1), "warning")]
)
def test_consumers_of_a_deprecated_product(tmp_path, today, severity):
    locations = {
        "sales": Loc([product("orders", deprecation_date="2027-01-01")]),
        "marketing": Loc([product("leads", inputs=("sales/orders",))]),
    }
    found = only(mesh(tmp_path, locations).gate(today=today), "GOV060")
    assert found[0].severity.value == severity and "'sales/orders'" in found[0].message
    assert "GOV060" not in rule_ids(
        mesh(tmp_path / "later", locations).gate(today=date(2026, 1, 1))
    )


def test_manifests_must_name_the_same_locations(tmp_path):
    locations = {"sales": Loc(), "marketing": Loc()}
    missing_ws = only(
        mesh(tmp_path / "a", locations, workspace_skip=("marketing",)).gate(), "GOV070"
    )
    assert "'marketing'" in missing_ws[0].message and "workspace.yaml" in missing_ws[0].message
    missing_reg = only(mesh(tmp_path / "b", locations, registry_skip=("sales",)).gate(), "GOV070")
    assert "governance/domains.yaml" in missing_reg[0].message
    assert "GOV070" not in rule_ids(mesh(tmp_path / "c", locations).gate())


def test_deployment_location_list_is_compared_when_present(tmp_path):
    m = mesh(tmp_path, {"sales": Loc(), "marketing": Loc()})
    (m.root / "deployment").mkdir()
    (m.root / "deployment" / "dagster_cloud.yaml").write_text(
        "locations:\n  - location_name: sales\n"
    )
    found = only(m.gate(), "GOV070")
    assert "deployment/dagster_cloud.yaml" in found[0].message


def test_codeowners_must_be_generated_from_the_registry(tmp_path):
    m = mesh(tmp_path / "a", {"sales": Loc()})
    (m.root / ".github" / "CODEOWNERS").write_text("* @someone\n")
    assert "meshctl codeowners --write" in only(m.gate(), "GOV071")[0].fix
    absent = mesh(tmp_path / "b", {"sales": Loc()}, codeowners=False)
    only(absent.gate(), "GOV071")


def test_a_location_that_fails_to_load_is_reported(tmp_path):
    broken = Loc(extra="raise RuntimeError('boom in definitions')")
    found = only(mesh(tmp_path, {"sales": broken, "marketing": Loc()}).gate(), "GOV072")
    assert "boom in definitions" in found[0].message


# Secret-shaped strings are assembled at run time so this file never contains one.
SECRETS = {
    "literal password": "PASSWORD = " + '"' + "hunter2" + "hunter2" + '"\n',
    "connection string": 'url = "postgresql://app:' + "s3cr3t" + "pw@db.internal:5432/app" + '"\n',
    "aws key": "key = " + "AKIA" + "ABCDEFGHIJKLMNOP" + "\n",
    "api token": "API_TOKEN = '" + "a1b2c3d4" + "e5f6g7h8'\n",
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_credentials_in_code_or_config_fail(tmp_path, kind):
    m = mesh(tmp_path, {"sales": Loc(files={"settings.py": SECRETS[kind]})})
    found = only(m.gate(), "GOV080")
    assert found[0].file.endswith("settings.py") and found[0].line == 1
    assert "environment variable" in found[0].fix


def test_the_secret_scan_skips_only_lines_no_pattern_can_match(repo_root):
    # The scan's cheap pre-filter must let through every line a secret pattern matches: checked
    # on the repository's own files plus the planted secrets above, pattern by pattern.
    from governance.rules import secrets

    patterns = [secrets._ASSIGNED, secrets._UNQUOTED, secrets._URL, *secrets._SHAPES.values()]
    lines = [text for kind in SECRETS.values() for text in kind.splitlines()]
    lines += [text for _, text, _ in UNQUOTED.values()]
    lines += ["-----BEGIN " + "RSA PRIVATE KEY-----", "x = 'xoxb-" + "1234567890abc'"]
    lines += ["t = 'ghp_" + "a" * 36 + "'", "Private_Key: " + "abcdefgh"]
    for path in secrets._files(repo_root, []):
        try:
            lines += path.read_text().splitlines()
        except (UnicodeDecodeError, OSError):
            continue
    matched = [line for line in lines if any(p.search(line) for p in patterns)]
    assert len(matched) > 20  # the check saw real candidates
    assert [line for line in matched if not secrets._CANDIDATE.search(line)] == []


# Unquoted values in config and dotfiles (.env is scanned although it has no suffix).
UNQUOTED = {
    "yaml password": ("values.yaml", "db:\n  password: " + "hunter2" + "hunter2\n", 2),
    "dotenv": (".env", "SNOWFLAKE_PASSWORD=" + "hunter2" + "hunter2\n", 1),
    "dotenv variant": (".env.local", "export API_TOKEN=" + "a1b2c3" + "d4e5f6\n", 1),
}


@pytest.mark.parametrize("kind", sorted(UNQUOTED))
def test_unquoted_credentials_and_dotfiles_fail(tmp_path, kind):
    name, text, line = UNQUOTED[kind]
    m = mesh(tmp_path, {"sales": Loc(files={name: text})})
    found = only(m.gate(), "GOV080")
    assert found[0].file.endswith(name) and found[0].line == line


def test_unquoted_references_are_not_secrets(tmp_path):
    ok = (
        "password: SNOWFLAKE_PASSWORD\n"
        "password: ${DB_PASSWORD}\n"
        "existingSecret: mesh-snowflake\n"
        "token_url: https://example.com/oauth\n"
        "password: {env: SNOWFLAKE_PASSWORD}\n"
        "secret: true\n"
    )
    assert "GOV080" not in rule_ids(
        mesh(
            tmp_path,
            {"sales": Loc(files={"values.yaml": ok, ".env.example": "PASSWORD=<set me>\n"})},
        ).gate()
    )


def test_references_to_secrets_are_not_secrets(tmp_path):
    ok = (
        'password = os.environ["DB_PASSWORD"]\n'
        'PASSWORD = "${DB_PASSWORD}"\n'
        'SECRET = {"password": "SNOWFLAKE_PASSWORD"}\n'
        'url = f"postgresql://{user}:{password}@{host}/db"\n'
        "# postgresql://user:password@host/db\n"
        'SNOWFLAKE_SECRET = "mesh-snowflake"\n'
        '"global": {"postgresqlSecretName": "dagster-postgresql-secret"}\n'
    )
    assert "GOV080" not in rule_ids(
        mesh(tmp_path, {"sales": Loc(files={"settings.py": ok})}).gate()
    )


DBT_PROJECT = "name: mesh\nversion: '1.0'\nprofile: mesh\n"


def _dbt(root, schema: str) -> None:
    (root / "dbt_project" / "models" / "sales").mkdir(parents=True)
    (root / "dbt_project" / "dbt_project.yml").write_text(DBT_PROJECT)
    (root / "dbt_project" / "models" / "sales" / "schema.yml").write_text(schema)


def test_dbt_groups_need_owners_and_public_models_enforced_contracts(tmp_path):
    m = mesh(tmp_path / "bad", {"sales": Loc()})
    _dbt(m.root, (
        "groups:\n  - name: sales\n"
        "models:\n  - name: fct_orders\n    config: {access: public, group: sales}\n"
    ))  # fmt: skip
    result = m.gate()
    assert only(result, "GOV090")[0].line == 2
    contract = only(result, "GOV091")[0]
    assert "fct_orders" in contract.message and contract.line == 4
    good = mesh(tmp_path / "good", {"sales": Loc()})
    _dbt(good.root, (
        "groups:\n  - name: sales\n    owner: {name: Sales, email: sales-data@example.com}\n"
        "models:\n  - name: fct_orders\n"
        "    config: {access: public, group: sales, contract: {enforced: true}}\n"
        "    columns: [{name: id, data_type: integer}]\n"
        "  - name: stg_orders\n    config: {access: private, group: sales}\n"
    ))  # fmt: skip
    assert not {"GOV090", "GOV091"} & rule_ids(good.gate())
    stranger = mesh(tmp_path / "stranger", {"sales": Loc()})
    _dbt(stranger.root, "groups:\n  - name: sales\n    owner: {email: someone@example.com}\n")
    found = only(stranger.gate(), "GOV090")
    assert "someone@example.com" in found[0].message and "domains.sales.owners" in found[0].fix


def test_severity_can_be_lowered_or_switched_off_in_policy(tmp_path):
    locations = {"sales": Loc(extra=raw("sales", "extra", description=""))}
    warned = mesh(tmp_path / "a", locations, policy={"severity": {"GOV010": "warning"}}).gate()
    assert only(warned, "GOV010")[0].severity.value == "warning" and warned.passed
    off = mesh(tmp_path / "b", locations, policy={"severity": {"GOV010": "off"}}).gate()
    assert "GOV010" not in rule_ids(off)


def test_dbt_configs_may_not_choose_the_database(tmp_path):
    m = mesh(tmp_path / "bad", {"sales": Loc()})
    _dbt(m.root, "models:\n  - name: fct_orders\n    config: {database: ANALYTICS}\n")
    (m.root / "dbt_project" / "dbt_project.yml").write_text(
        DBT_PROJECT + "models:\n  mesh:\n    +database: ANALYTICS\n"
    )
    (m.root / "dbt_project" / "models" / "sales" / "escape.sql").write_text(
        "{{ config(materialized='table',\n   database=var('prod', 'ANALYTICS')) }}\nselect 1 as x\n"
    )
    found = only(m.gate(), "GOV092")
    assert sorted((Path(v.file).name, v.line) for v in found) == [
        ("dbt_project.yml", 6),
        ("escape.sql", 1),
        ("schema.yml", 3),  # the config mapping naming the database
    ]
    assert all("target's database" in v.fix for v in found)
    good = mesh(tmp_path / "good", {"sales": Loc()})
    _dbt(good.root, "models:\n  - name: fct_orders\n    config: {schema: sales}\n")
    (good.root / "dbt_project" / "profiles.yml").write_text(
        "mesh:\n  outputs:\n    x: {database: D}\n"
    )
    assert "GOV092" not in rule_ids(good.gate())
