"""Open Data Contract Standard (ODCS v3) documents for every public product, generated from
its declaration: a DataProducts defs.yaml for Python/SQL products, the model's YAML for dbt.

A contract says what a consumer may rely on: owners, the schema (types, required columns),
the freshness SLA, the quality rules the product's checks enforce, the version and the
deprecation date. Each document is validated by the standard's own Pydantic model and JSON
schema (the `open-data-contract-standard` package); breaking changes (governance/breaking.py)
are judged by comparing the contracts of a base and a head tree, as consumers see them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from open_data_contract_standard.model import OpenDataContractStandard
from platform_core.errors import ConfigurationError
from platform_core.products.declaration import (
    ProductDeclaration,
    Sla,
    load_domain_products,
    parse_duration,
)
from platform_core.workspace import read_locations

from governance.rules.dbt import DbtModel, load_dbt_project
from governance.yamllines import product_line

API_VERSION = "v3.0.2"

# Warehouse type spellings -> the platform's logical types, so moving a product from
# a defs.yaml declaration to a dbt model (or switching varchar for text) is not a "retype".
_TYPE_FAMILIES = {
    "integer": ("int", "integer", "bigint", "smallint", "tinyint", "hugeint", "int64",
                "number(38,0)"),
    "string": ("string", "varchar", "text", "char", "character varying"),
    "decimal": ("decimal", "numeric", "number"),
    "float": ("float", "double", "real", "float64", "double precision"),
    "boolean": ("boolean", "bool"),
    "date": ("date",),
    "timestamp": ("timestamp", "datetime", "timestamp_ntz", "timestamp_tz", "timestamptz"),
}  # fmt: skip
# the platform's logical type -> ODCS logicalType
_ODCS_TYPES = {"integer": "integer", "string": "string", "decimal": "number", "float": "number",
               "boolean": "boolean", "date": "date", "timestamp": "timestamp"}  # fmt: skip


def logical_type(declared: str) -> str:
    text = declared.strip().lower()
    if text.replace(" ", "") in _TYPE_FAMILIES["integer"]:
        return "integer"
    base = text.split("(")[0].strip()
    for family, spellings in _TYPE_FAMILIES.items():
        if base in spellings:
            return family
    return text


@dataclass(frozen=True)
class ProductContract:
    ref: str  # the product's asset key, "domain/name"
    file: str  # repo-relative declaration
    line: int
    document: OpenDataContractStandard

    @property
    def major_version(self) -> int:
        head = (self.document.version or "1").split(".")[0]
        return int(head) if head.isdigit() else 0

    def properties(self) -> dict[str, Any]:
        [table] = self.document.schema_ or [None]
        return {p.name: p for p in (table.properties or [])} if table else {}

    def to_yaml(self) -> str:
        return self.document.to_yaml()

    def as_json(self) -> dict[str, Any]:
        document = json.loads(self.document.model_dump_json(by_alias=True, exclude_none=True))
        return {"ref": self.ref, "file": self.file, "line": self.line, "document": document}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProductContract:
        document = OpenDataContractStandard.model_validate(data["document"])
        return cls(data["ref"], data["file"], int(data["line"]), document)


def _quality_of_column(not_null: bool, max_null_fraction: float | None = None) -> list[dict]:
    rules = []
    if not_null:
        rules.append({"type": "library", "metric": "nullValues", "mustBe": 0,
                      "description": "no NULLs (a blocking check)"})  # fmt: skip
    if max_null_fraction is not None:
        rules.append({"type": "library", "metric": "nullValues", "unit": "percent",
                      "mustBeLessOrEqualTo": round(max_null_fraction * 100, 6)})  # fmt: skip
    return rules


def _property(name: str, declared: str, description: str, required: bool, quality: list[dict]):
    prop: dict[str, Any] = {"name": name, "physicalType": declared, "required": required}
    odcs_type = _ODCS_TYPES.get(logical_type(declared))
    if odcs_type:
        prop["logicalType"] = odcs_type
    if description:
        prop["description"] = description
    if quality:
        prop["quality"] = quality
    return prop


def _sla(sla: Sla, element: str) -> list[dict]:
    hours = parse_duration(sla.fail_after).total_seconds() / 3600
    properties = [{"property": "freshness", "value": round(hours, 3), "unit": "h",
                   "element": element, "description": "fails when older than this"}]  # fmt: skip
    return properties


def _document(
    *, ref: str, description: str, owners: list[str], version: str, table: str,
    properties: list[dict], quality: list[dict], sla: Sla,
    deprecation: date | None, source: str, extra: dict[str, Any],
) -> OpenDataContractStandard:  # fmt: skip
    domain, name = ref.split("/", 1)
    custom = [{"property": "declaredIn", "value": source}]
    if deprecation:
        custom.append({"property": "deprecationDate", "value": deprecation.isoformat()})
    custom += [{"property": k, "value": v} for k, v in extra.items()]
    data = {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "id": ref,
        "name": name,
        "version": version,
        "status": "deprecated" if deprecation else "active",
        "domain": domain,
        "dataProduct": ref,
        "description": {"purpose": description},
        "team": [{"username": owner, "role": "owner"} for owner in owners],
        "schema": [{
            "name": name, "physicalName": table, "logicalType": "object",
            "physicalType": "table", "description": description,
            "properties": properties, **({"quality": quality} if quality else {}),
        }],
        "slaDefaultElement": f"{name}",
        "slaProperties": _sla(sla, name),
        "customProperties": custom,
    }  # fmt: skip
    document = OpenDataContractStandard.model_validate(data)
    problems = validation_errors(document)
    if problems:
        raise ConfigurationError(
            f"the ODCS contract generated for '{ref}' ({source}) is invalid: {problems[0]}. "
            "Fix: correct the declaration (and report the generator's bug)."
        )
    return document


def contract_of_product(product: ProductDeclaration, tree: Path) -> ProductContract:
    file = _relative(Path(product.source_file), tree)
    properties = [
        _property(c.name, c.type, c.description, c.not_null,
                  _quality_of_column(c.not_null, c.max_null_fraction))
        for c in product.columns
    ]  # fmt: skip
    quality = [
        {"type": "library", "metric": "rowCount", "mustBeGreaterThan": 0,
         "description": "the product is not empty (blocking check)"},
        {"type": "custom", "engine": "dagster", "name": "row_count_drop",
         "description": "row count is at least this share of the previous materialization",
         "implementation": f"min_row_count_ratio: {product.checks.min_row_count_ratio}"},
    ]  # fmt: skip
    document = _document(
        ref=product.ref, description=product.description, owners=product.owners,
        version=f"{product.version}.0.0", table=product.name, properties=properties,
        quality=quality, sla=product.sla, deprecation=product.deprecation_date, source=file,
        extra={"tier": product.tier},
    )  # fmt: skip
    return ProductContract(product.ref, file, product_line(tree / file, product.name), document)


def _column_tests(column: dict[str, Any]) -> tuple[bool, list[dict]]:
    tests = column.get("data_tests") or column.get("tests") or []
    names = {t if isinstance(t, str) else next(iter(t), "") for t in tests}
    constraints = column.get("constraints") or []
    required = "not_null" in names or any(
        isinstance(c, dict) and c.get("type") == "not_null" for c in constraints
    )
    quality = _quality_of_column(required)
    if "unique" in names:
        quality.append({"type": "library", "metric": "duplicateValues", "mustBe": 0})
    for test in tests:
        if isinstance(test, dict) and "accepted_values" in test:
            spec = test["accepted_values"] or {}
            values = (spec.get("arguments") or spec).get("values", [])
            quality.append({"type": "library", "metric": "invalidValues", "mustBe": 0,
                            "arguments": {"validValues": values}})  # fmt: skip
    return required, quality


def contract_of_dbt_model(model: DbtModel, owners: list[str]) -> ProductContract:
    entry = model.entry
    properties = []
    for column in entry.get("columns", []) or []:
        if not isinstance(column, dict) or not column.get("name"):
            continue
        required, quality = _column_tests(column)
        properties.append(
            _property(column["name"], str(column.get("data_type", "")),
                      str(column.get("description", "")), required, quality)
        )  # fmt: skip
    config = entry.get("config") or {}
    meta = config.get("meta") or entry.get("meta") or {}
    deprecation = model.deprecation_date[:10]
    ref = f"{model.domain}/{model.name}" if model.domain else f"dbt/{model.name}"
    document = _document(
        ref=ref, description=str(entry.get("description", "")), owners=owners,
        version=f"{model.latest_version or 1}.0.0", table=model.name, properties=properties,
        quality=[], sla=Sla(**(meta.get("sla") or {})),
        deprecation=date.fromisoformat(deprecation) if deprecation else None,
        source=model.file, extra={"tier": meta.get("tier", 2), "dbtModel": model.name},
    )  # fmt: skip
    return ProductContract(ref, model.file, model.line, document)


def declared_products(tree: Path) -> list[ProductDeclaration]:
    """Every product declaration of the tree's locations (one place to change when the
    declarations move)."""
    read_locations.cache_clear()  # a temp tree may reuse a path
    products = []
    for location in read_locations(tree):
        for path in location.declaration_files:  # platform_core.declarations finds them
            products += load_domain_products(path).products
    return products


def product_contracts(tree: Path) -> dict[str, ProductContract]:
    """The ODCS contract of every public product of `tree`, by asset key."""
    contracts = {
        p.ref: contract_of_product(p, tree) for p in declared_products(tree) if p.is_public
    }
    project = load_dbt_project(tree)
    if project is not None:
        for model in project.models.values():
            if model.access != "public":
                continue
            group = project.groups.get(model.group or model.domain)
            owner = (group[0].get("owner") or {}) if group else {}
            owners = [o for o in (owner.get("email"), owner.get("name")) if o][:1]
            contract = contract_of_dbt_model(model, owners or [f"team:{model.domain}"])
            contracts[contract.ref] = contract
    return contracts


@cache
def _schema() -> dict[str, Any]:
    return json.loads(OpenDataContractStandard.json_schema())


def validation_errors(document: OpenDataContractStandard) -> list[str]:
    """What the standard's JSON schema finds wrong with a document (empty: valid)."""
    data = json.loads(document.model_dump_json(by_alias=True, exclude_none=True))
    validator = jsonschema.Draft201909Validator(_schema())
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(document)'}: {error.message}"
        for error in validator.iter_errors(data)
    ]


def export_contracts(root: Path, output: Path) -> list[Path]:
    written = []
    for ref, contract in sorted(product_contracts(root).items()):
        path = output / f"{ref}.odcs.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(contract.to_yaml())
        written.append(path)
    return written


def _relative(path: Path, tree: Path) -> str:
    try:
        return str(path.resolve().relative_to(tree.resolve()))
    except ValueError:
        return str(path)
