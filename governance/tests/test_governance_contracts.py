"""ODCS v3 contracts: generated for every public product from its declaration, valid by the
standard's own model and schema, and the basis of breaking-change detection."""

import shutil
import subprocess
import sys

import yaml
from governance.breaking import breaking_changes
from governance.contracts import product_contracts, validation_errors
from meshfactory import Loc, product, write_mesh
from open_data_contract_standard.model import OpenDataContractStandard

COLUMNS = [
    {"name": "order_id", "type": "integer", "description": "Order id.", "not_null": True},
    {"name": "amount", "type": "decimal", "description": "Amount in USD."},
]


def _mesh(root):
    return write_mesh(root, {"sales": Loc([
        product("orders", columns=COLUMNS, version=3, deprecation_date="2027-06-30",
                sla={"fail_after": "6h"}),
        product("scratch", visibility="internal"),
    ])})  # fmt: skip


def test_export_writes_a_valid_contract_per_public_product(tmp_path):
    m = _mesh(tmp_path / "mesh")
    out = tmp_path / "contracts"
    done = subprocess.run(
        [sys.executable, "-m", "governance", "contracts", "export", "--root", str(m.root),
         "--output-dir", str(out)], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml")) == [
        "sales/orders.odcs.yaml"
    ]  # the internal product has no contract
    text = (out / "sales" / "orders.odcs.yaml").read_text()
    document = OpenDataContractStandard.from_string(text)  # the standard's own model
    assert validation_errors(document) == []  # and its JSON schema
    raw = yaml.safe_load(text)
    assert (raw["apiVersion"], raw["kind"], raw["id"]) == ("v3.0.2", "DataContract", "sales/orders")
    assert raw["version"] == "3.0.0" and raw["status"] == "deprecated"
    assert [t["username"] for t in raw["team"]] == ["team:sales"]
    [table] = raw["schema"]
    columns = {p["name"]: p for p in table["properties"]}
    assert columns["order_id"]["physicalType"] == "integer"
    assert columns["order_id"]["logicalType"] == "integer" and columns["order_id"]["required"]
    assert columns["amount"]["logicalType"] == "number" and not columns["amount"]["required"]
    assert {"metric": "nullValues", "mustBe": 0}.items() <= columns["order_id"]["quality"][
        0
    ].items()
    [sla] = raw["slaProperties"]
    assert (sla["property"], sla["value"], sla["unit"]) == ("freshness", 6.0, "h")
    custom = {c["property"]: c["value"] for c in raw["customProperties"]}
    assert custom["deprecationDate"] == "2027-06-30"


def test_a_type_change_of_a_public_product_is_breaking_through_its_contract(tmp_path):
    base = _mesh(tmp_path / "base").root
    head = tmp_path / "head"
    shutil.copytree(base, head)
    products_file = next(head.rglob("defs.yaml"))
    data = yaml.safe_load(products_file.read_text())
    data["attributes"]["products"][0]["columns"][1]["type"] = "string"  # amount: decimal -> string
    data["attributes"]["products"][0]["columns"][0]["not_null"] = False  # order_id may be NULL now
    products_file.write_text(yaml.safe_dump(data, sort_keys=False))
    before, after = product_contracts(base)["sales/orders"], product_contracts(head)["sales/orders"]
    assert before.properties()["amount"].logicalType == "number"
    assert after.properties()["amount"].logicalType == "string"
    [found] = breaking_changes(base, head)
    assert found.rule == "GOV100" and found.target == "sales/orders"
    assert "amount: decimal -> string" in found.message
    assert "no longer required" in found.message and "order_id" in found.message
    assert found.file.endswith("defs.yaml") and found.line > 0
    data["attributes"]["products"][0]["version"] = 4  # a new major version announces the change
    products_file.write_text(yaml.safe_dump(data, sort_keys=False))
    assert breaking_changes(base, head) == []


def test_the_real_repository_contracts_are_valid(repo_root):
    contracts = product_contracts(repo_root)
    assert {"sales/orders", "finance/revenue_forecast"} <= set(contracts)
    for ref, contract in contracts.items():
        assert validation_errors(contract.document) == [], ref
        assert contract.properties(), ref
        assert contract.document.team, ref
