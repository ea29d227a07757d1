"""Waivers, baseline, reports, the CLI, breaking changes and impact on a git repository the
test creates, the scaffolder, and the real repository."""

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml
from governance.config import load_config
from governance.engine import read_baseline, run_gate, write_baseline
from governance.loader import load_mesh
from governance.report import render_junit, render_sarif, render_terminal
from meshfactory import Loc, only, product, rule_ids, write_mesh

UNDOCUMENTED = """
@dg.asset(key=["sales", "extra"], owners=["team:sales"])
def extra() -> None: ...
EXTRA_ASSETS.append(extra)
"""


def _add_code(m, code: str) -> None:
    """Add assets to the sales location's definitions.py (before `defs = ...`)."""
    path = m.root / "domains/sales" / m.packages["sales"] / "definitions.py"
    path.write_text(path.read_text().replace("\ndefs = ", code + "\ndefs = "))


def _waiver(expires: str, target: str = "sales/extra") -> dict:
    return {"rule": "GOV010", "target": target, "reason": "legacy asset, documented in Q1",
            "expires": expires}  # fmt: skip


def test_a_valid_waiver_excuses_the_violation(tmp_path):
    m = write_mesh(tmp_path, {"sales": Loc(extra=UNDOCUMENTED)}, waivers=[_waiver("2027-03-31")])
    result = m.gate(today=date(2027, 1, 1))
    assert result.passed and "GOV010" not in rule_ids(result)
    assert [v.rule for v in result.waived] == ["GOV010"]
    assert result.waived[0].waived_by == "legacy asset, documented in Q1"


def test_an_expired_waiver_is_itself_a_violation(tmp_path):
    m = write_mesh(tmp_path, {"sales": Loc(extra=UNDOCUMENTED)}, waivers=[_waiver("2026-12-31")])
    result = m.gate(today=date(2027, 1, 1))
    expired = only(result, "GOV900")[0]
    assert "expired on 2026-12-31" in expired.message
    assert expired.file == "governance/waivers.yaml" and expired.line == 2
    assert "GOV010" in rule_ids(result) and not result.passed


def test_an_unused_waiver_is_a_warning(tmp_path):
    m = write_mesh(tmp_path, {"sales": Loc()}, waivers=[_waiver("2027-03-31", "sales/gone")])
    result = m.gate(today=date(2027, 1, 1))
    assert only(result, "GOV901")[0].severity.value == "warning" and result.passed


def test_baseline_fails_only_on_new_violations(tmp_path):
    m = write_mesh(tmp_path, {"sales": Loc(extra=UNDOCUMENTED)})
    baseline_file = tmp_path / "baseline.json"
    write_baseline(baseline_file, m.gate().violations)
    known = read_baseline(baseline_file)
    assert m.gate(baseline=known).passed
    _add_code(m, UNDOCUMENTED.replace("extra", "another"))
    result = m.gate(baseline=known)
    assert not result.passed
    assert [v.target for v in result.violations] == ["sales/another"]
    assert [v.target for v in result.baselined] == ["sales/extra"]


def test_reports_sarif_junit_and_terminal(tmp_path):
    bare = product("orders", columns=[{"name": "x", "type": "integer"}])
    m = write_mesh(tmp_path, {"sales": Loc([bare])})
    result = m.gate()
    sarif = json.loads(render_sarif(result))
    [run] = sarif["runs"]
    [finding] = [r for r in run["results"] if r["ruleId"] == "GOV011"]
    location = finding["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("defs/products/defs.yaml")
    lines = (m.root / location["artifactLocation"]["uri"]).read_text().splitlines()
    assert location["region"]["startLine"] == lines.index("  - name: orders") + 1
    assert "GOV011" in {r["id"] for r in run["tool"]["driver"]["rules"]}
    suite = ET.fromstring(render_junit(result))
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["GOV011 documentation/public-columns"]
    text = render_terminal(result, colour=True)
    assert "\033[31m" in text and "GOV011" in text and "fix:" in text and "FAILED" in text


def _meshctl(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "governance", *args, "--root", str(root)],
        capture_output=True, text=True, cwd=root, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip


def test_cli_exit_status_and_formats(tmp_path):
    bad = write_mesh(tmp_path / "bad", {"sales": Loc(extra=UNDOCUMENTED)})
    done = _meshctl(bad.root, "check", "--format", "json", "--junit-file", str(tmp_path / "j.xml"))
    assert done.returncode == 1, done.stderr
    assert [v["rule"] for v in json.loads(done.stdout)["violations"]] == ["GOV010"]
    assert ET.parse(tmp_path / "j.xml").getroot().get("failures") == "1"
    good = write_mesh(tmp_path / "good", {"sales": Loc()})
    done = _meshctl(good.root, "check")
    assert done.returncode == 0 and "PASSED" in done.stdout, done.stdout + done.stderr


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _repo(tmp_path: Path):
    locations = {
        "sales": Loc([product("orders", columns=[
            {"name": "x", "type": "integer", "description": "A number."},
            {"name": "amount", "type": "decimal", "description": "Money."},
        ]), product("refunds")]),
        "marketing": Loc([product("attribution", inputs=("sales/orders",))]),
    }  # fmt: skip
    m = write_mesh(tmp_path, locations)
    _git(m.root, "init", "-q", "-b", "main")
    _git(m.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    _git(m.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    return m


def _edit_products(m, domain: str, edit) -> None:
    path = m.root / "domains" / domain / m.packages[domain] / "defs" / "products" / "defs.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data["attributes"]["products"])
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_breaking_changes_against_a_base_ref(tmp_path):
    from governance.basetree import materialized_ref
    from governance.breaking import breaking_changes

    m = _repo(tmp_path)

    def retype_and_drop(products):
        orders = products[0]
        orders["columns"] = [{"name": "x", "type": "string", "description": "Now text."}]
        del products[1]  # remove public product sales/refunds

    _edit_products(m, "sales", retype_and_drop)
    with materialized_ref(m.root, "main") as base:
        found = breaking_changes(base, m.root)
    messages = sorted(v.message for v in found)
    assert {v.rule for v in found} == {"GOV100"} and len(found) == 2
    assert "removed columns ['amount']" in messages[0] and "x: integer -> string" in messages[0]
    assert "'sales/refunds' was removed" in messages[1]

    def new_version(products):
        products[0]["version"] = 2

    _edit_products(m, "sales", new_version)
    with materialized_ref(m.root, "main") as base:
        found = breaking_changes(base, m.root)
    assert [v.target for v in found] == ["sales/refunds"]  # the retype is now versioned

    done = _meshctl(m.root, "check", "--base", "main", "--format", "json")
    assert done.returncode == 1
    assert [v["rule"] for v in json.loads(done.stdout)["violations"]] == ["GOV100"]


def test_new_only_fails_on_what_the_change_adds(tmp_path):
    m = _repo(tmp_path)
    _add_code(m, UNDOCUMENTED)
    _git(m.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "legacy")
    assert _meshctl(m.root, "check", "--base", "HEAD", "--new-only").returncode == 0
    _add_code(m, UNDOCUMENTED.replace("extra", "fresh"))
    done = _meshctl(m.root, "check", "--base", "HEAD", "--new-only", "--format", "json")
    assert done.returncode == 1, done.stderr
    assert [v["target"] for v in json.loads(done.stdout)["violations"]] == ["sales/fresh"]


def test_impact_lists_changes_consumers_and_owners_to_notify(tmp_path):
    m = _repo(tmp_path)

    def change(products):
        products[0]["description"] = "One row per order, now with refunds netted."
        products.append(product("returns", owners="team:sales"))

    _edit_products(m, "sales", change)
    done = _meshctl(m.root, "impact", "--base", "main", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    changes = {c["key"]: c for c in report["changes"]}
    assert changes["sales/orders"]["status"] == "changed"
    assert changes["sales/orders"]["fields"] == ["description"]
    assert changes["sales/orders"]["consumers"] == ["marketing/attribution"]
    assert changes["sales/returns"]["status"] == "new"
    assert "#data-marketing" in report["notify"] and "team:marketing" in report["notify"]
    products_file = f"domains/sales/{m.packages['sales']}/defs/products/defs.yaml"
    assert report["changed_files"] == {"sales": [products_file]}
    markdown = _meshctl(m.root, "impact", "--base", "main").stdout
    assert (
        "| `sales/orders` | sales | changed (description) | `marketing/attribution` |" in markdown
    )


def test_the_real_repository_passes_the_gate(repo_root):
    result = run_gate(repo_root, load_mesh(repo_root), load_config(repo_root))
    assert result.violations == [], [v.message for v in result.violations]
    assert {"platform", "sales", "marketing", "finance"} <= set(load_mesh(repo_root).locations)


DBT_MODELS = """\
models:
  - name: fct_orders
    latest_version: {version}
    config: {{access: public, group: sales, contract: {{enforced: true}}}}
    columns:
      - {{name: order_id, data_type: {order_id}}}
      - {{name: note, data_type: {note}}}
    versions: [{{v: 1}}, {{v: {version}}}]
"""


def test_an_impact_against_a_base_that_does_not_load_is_an_error(tmp_path, clean_environment):
    """Else every asset of the broken base location would look new, and a preview rebuild all."""
    from governance.impact import assess
    from platform_core.errors import ConfigurationError

    m = _repo(tmp_path)
    init = m.package_dir("sales") / "__init__.py"
    init.write_text("raise ImportError('the base is broken')\n")
    commit = ("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "broken")
    _git(m.root, *commit)
    _git(m.root, "checkout", "-q", "-b", "fix")
    init.write_text("")
    with pytest.raises(ConfigurationError, match=r"does not load \(location 'sales': .*broken"):
        assess(m.root, "main", use_cache=False)


def test_breaking_changes_of_public_dbt_models(tmp_path):
    from governance.basetree import materialized_ref
    from governance.breaking import breaking_changes

    m = _repo(tmp_path)
    models = m.root / "dbt_project" / "models" / "sales"
    models.mkdir(parents=True)
    (m.root / "dbt_project" / "dbt_project.yml").write_text("name: mesh\nversion: '1.0'\n")
    schema = models / "_sales.yml"
    schema.write_text(DBT_MODELS.format(version=1, order_id="bigint", note="varchar"))
    _git(m.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    _git(m.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "dbt")

    def found() -> list[str]:
        with materialized_ref(m.root, "HEAD") as base:
            return [v.message for v in breaking_changes(base, m.root)]

    schema.write_text(DBT_MODELS.format(version=1, order_id="int", note="text"))
    assert found() == []  # same logical types, spelled differently
    schema.write_text(DBT_MODELS.format(version=1, order_id="varchar", note="text"))
    [message] = found()
    assert "'sales/fct_orders'" in message and "order_id: bigint -> varchar" in message
    schema.write_text(DBT_MODELS.format(version=2, order_id="varchar", note="text"))
    assert found() == []  # a new dbt version is declared
