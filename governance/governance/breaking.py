"""Breaking changes between a base tree and the working tree.

Breaking: a public product removed, or a column of it removed or retyped, unless a new
version is declared (`version:` in a DataProducts defs.yaml for Python/SQL products, dbt `versions` /
`latest_version` for dbt models). Read from declarations, so no code is imported."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from platform_core.products.declaration import ProductDeclaration, load_domain_products
from platform_core.workspace import read_locations

from governance.engine import Severity, Violation
from governance.rules.dbt import DbtModel, load_dbt_project
from governance.yamllines import product_line


@dataclass(frozen=True)
class PublicInterface:
    ref: str
    file: str
    version: str
    columns: dict[str, str]
    deprecation_date: date | None = None


def _products(tree: Path) -> dict[str, PublicInterface]:
    interfaces: dict[str, PublicInterface] = {}
    read_locations.cache_clear()  # a temp tree may reuse a path
    for location in read_locations(tree):
        for path in location.declaration_files:
            for product in load_domain_products(path).products:
                if product.is_public:
                    interfaces[product.ref] = _interface(product, tree)
    return interfaces


def _interface(product: ProductDeclaration, tree: Path) -> PublicInterface:
    return PublicInterface(
        ref=product.ref,
        file=str(Path(product.source_file).relative_to(tree)),
        version=str(product.version),
        columns={c.name: c.type for c in product.columns},
        deprecation_date=product.deprecation_date,
    )


def _dbt_models(tree: Path) -> dict[str, DbtModel]:
    project = load_dbt_project(tree)
    if project is None:
        return {}
    return {m.name: m for m in project.models.values() if m.access == "public"}


# Warehouse type spellings -> the platform's logical types, so moving a product from
# a defs.yaml declaration to a dbt model (or switching varchar for text) is not a "retype".
_TYPE_FAMILIES = {
    "integer": (
        "int",
        "integer",
        "bigint",
        "smallint",
        "tinyint",
        "hugeint",
        "int64",
        "number(38,0)",
    ),
    "string": ("string", "varchar", "text", "char", "character varying"),
    "decimal": ("decimal", "numeric", "number"),
    "float": ("float", "double", "real", "float64", "double precision"),
    "boolean": ("boolean", "bool"),
    "date": ("date",),
    "timestamp": ("timestamp", "datetime", "timestamp_ntz", "timestamp_tz", "timestamptz"),
}


def logical_type(declared: str) -> str:
    text = declared.strip().lower()
    if text in _TYPE_FAMILIES["integer"]:
        return "integer"
    base = text.split("(")[0].strip()
    for family, spellings in _TYPE_FAMILIES.items():
        if base in spellings:
            return family
    return text


def public_interfaces(tree: Path) -> dict[str, PublicInterface]:
    """Public products by asset key ("domain/name"): declared products and public dbt models."""
    interfaces = _products(tree)
    for model in _dbt_models(tree).values():
        ref = f"{model.domain}/{model.name}" if model.domain else f"dbt/{model.name}"
        deprecation = model.deprecation_date[:10]
        interfaces[ref] = PublicInterface(
            ref, model.file, model.latest_version or "1", model.columns,
            date.fromisoformat(deprecation) if deprecation else None,
        )  # fmt: skip
    return interfaces


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)


def breaking_changes(base: Path, head: Path, today: date | None = None) -> list[Violation]:
    today = today or date.today()
    before, after = public_interfaces(base), public_interfaces(head)
    found = []
    for ref, old in sorted(before.items()):
        new = after.get(ref)
        if new is None:
            if old.deprecation_date and old.deprecation_date <= today:
                continue  # announced and past its date: removal is the plan
            found.append(
                Violation(
                    "GOV100",
                    Severity.ERROR,
                    ref,
                    f"public product '{ref}' was removed (it was in {old.file})",
                    "keep it, or deprecate it first (deprecation_date:) so consumers move off "
                    "it, and remove it after that date",
                    old.file,
                    0,
                )
            )
            continue
        removed = sorted(set(old.columns) - set(new.columns))
        retyped = sorted(
            f"{c}: {old.columns[c]} -> {new.columns[c]}"
            for c in set(old.columns) & set(new.columns)
            if logical_type(old.columns[c]) != logical_type(new.columns[c])
        )
        if not (removed or retyped):
            continue
        if _version_key(new.version) > _version_key(old.version):
            continue  # a new version is declared: the change is announced
        what = "; ".join(
            part
            for part in (
                f"removed columns {removed}" if removed else "",
                f"retyped {retyped}" if retyped else "",
            )
            if part
        )
        line = (
            product_line(head / new.file, ref.split("/", 1)[-1])
            if not new.file.startswith("dbt_project/")
            else 0
        )
        found.append(
            Violation(
                "GOV100",
                Severity.ERROR,
                ref,
                f"breaking change to public product '{ref}': {what} (version {old.version})",
                "declare a new version (version: in its defs.yaml, dbt versions:) so consumers "
                "can migrate, or keep the column and its type",
                new.file,
                line,
            )
        )
    return found
