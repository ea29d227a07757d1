"""`DataProducts`: a domain's data products, declared in a `defs.yaml` of its `defs/` folder.

    type: platform_core.components.DataProducts
    attributes:
      domain: sales
      products:
        - name: daily_revenue
          owners: [team:sales]
          ...

The attributes are the declaration (`dg check yaml` validates them against this schema); the
implementations are the `@sql_product` / `@python_product` functions in the component's folder,
or those named by dotted path under `implementations:`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from platform_core.catalog import catalog_for
from platform_core.declarations import DEFS_FILE
from platform_core.errors import ProductDeclarationError
from platform_core.identifiers import IDENTIFIER
from platform_core.products.declaration import DomainProductsSpec, ProductSpec, declared_products
from platform_core.products.factory import ProductImplementation, build_product_assets


def _implementations_in(objects: Iterable[object]) -> list[ProductImplementation]:
    return [o for o in objects if isinstance(o, ProductImplementation)]


def _by_reference(reference: str, where: str) -> ProductImplementation:
    module_name, _, attribute = reference.rpartition(".")
    try:
        value = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ProductDeclarationError(
            f"{where}: implementations",
            f"'{reference}' cannot be imported ({exc})",
            "name a @sql_product/@python_product by its dotted path, e.g. "
            "mesh_sales.defs.products.revenue.daily_revenue",
        ) from None
    if not isinstance(value, ProductImplementation):
        raise ProductDeclarationError(
            f"{where}: implementations",
            f"'{reference}' is a {type(value).__name__}, not a product implementation",
            "decorate the function with @sql_product('<name>') or @python_product('<name>')",
        )
    return value


class DataProductsAttributes(DomainProductsSpec):
    """The YAML schema of a DataProducts component: the declaration itself, plus where the
    implementations are."""

    domain: str = Field(
        pattern=IDENTIFIER.pattern, description="The domain (= code location) declaring these."
    )
    products: list[ProductSpec] = Field(min_length=1, description="One entry per product.")
    implementations: list[str] = Field(
        default_factory=list,
        description="Dotted paths of the products' functions; default: every @sql_product / "
        "@python_product in the Python files of this folder.",
    )


class DataProducts(dg.Component):
    """A domain's data products: owners, visibility, tier, SLA, inputs, column contract and
    checks per product; each becomes an asset with the platform's standard blocking checks."""

    def __init__(self, attributes: DataProductsAttributes) -> None:
        self.attributes = attributes

    @classmethod
    def get_model_cls(cls) -> type[DataProductsAttributes]:
        return DataProductsAttributes

    @classmethod
    def load(cls, attributes: Any, context: dg.ComponentLoadContext) -> DataProducts:
        return cls(DataProductsAttributes.model_validate(attributes))

    def find_implementations(self, context: dg.ComponentLoadContext) -> list[ProductImplementation]:
        where = str(context.path / DEFS_FILE)
        if self.attributes.implementations:
            return [_by_reference(r, where) for r in self.attributes.implementations]
        found: list[ProductImplementation] = []
        for path in sorted(context.path.glob("*.py")):
            if path.name != "__init__.py":
                module = context.load_defs_relative_python_module(path)
                found.extend(_implementations_in(vars(module).values()))
        return found

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        path = context.path / DEFS_FILE
        spec = DomainProductsSpec(domain=self.attributes.domain, products=self.attributes.products)
        return product_definitions(
            declared_products(spec, path), self.find_implementations(context), path
        )


def product_definitions(
    declared, implementations: list[ProductImplementation], path: Path, pool: str | None = None
) -> dg.Definitions:
    """The products' assets and checks, their inputs resolved against the mesh catalog."""
    assets, checks = build_product_assets(declared, implementations, catalog_for(path), pool=pool)
    return dg.Definitions(assets=assets, asset_checks=checks)
