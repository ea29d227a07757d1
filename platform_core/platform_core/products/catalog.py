"""The mesh-wide catalog of declared data products, and the consumer helper.

Built from every location's products.yaml (found through dg.toml), never by importing another
domain's code: a domain depends on another only through the keys of its published products.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import dagster as dg

from platform_core.errors import ProductDeclarationError
from platform_core.products.declaration import ProductDeclaration, load_domain_products
from platform_core.workspace import find_mesh_root, read_locations


@dataclass(frozen=True)
class Catalog:
    products: dict[str, ProductDeclaration] = field(default_factory=dict)

    @classmethod
    def from_declarations(cls, declarations: Iterable[ProductDeclaration]) -> Catalog:
        products: dict[str, ProductDeclaration] = {}
        for product in declarations:
            if product.ref in products:
                raise ProductDeclarationError(
                    f"{product.source_file}: product '{product.name}'",
                    f"'{product.ref}' is also declared in {products[product.ref].source_file}",
                    "each product key is declared by exactly one domain; rename one of them",
                )
            products[product.ref] = product
        return cls(products)

    def public_products(self, domain: str) -> list[str]:
        return sorted(p.ref for p in self.products.values() if p.domain == domain and p.is_public)

    def owners_of(self, domain: str) -> list[str]:
        return sorted({o for p in self.products.values() if p.domain == domain for o in p.owners})


@cache
def load_catalog(root: Path) -> Catalog:
    """Every product declared in the mesh rooted at `root` (cached per process)."""
    declarations: list[ProductDeclaration] = []
    for location in read_locations(root):
        if location.products_file.is_file():
            declarations.extend(load_domain_products(location.products_file).products)
    declarations.extend(_dbt_declarations(root))
    return Catalog.from_declarations(declarations)


def _dbt_declarations(root: Path) -> list[ProductDeclaration]:
    """The mesh's dbt models, from the prepared manifest (none if the mesh has no dbt project)."""
    from platform_core.dbt.project import PROJECT_FOLDER, mesh_dbt_project

    if not (root / PROJECT_FOLDER / "dbt_project.yml").is_file():
        return []
    from platform_core.dbt.catalog import dbt_product_declarations
    from platform_core.environment import current_environment

    env = current_environment()
    project = mesh_dbt_project(env, root)
    return dbt_product_declarations(project.manifest(env), project.project_dir)


def catalog_for(path: Path) -> Catalog:
    """The catalog of the mesh that contains `path` (a products.yaml or any file in the repo)."""
    return load_catalog(find_mesh_root(path.parent if path.is_file() else path))


def depend_on_product(ref: str, consumer: str, catalog: Catalog) -> dg.AssetKey:
    """The AssetKey of product `ref` ("domain/name") for use as a dependency of `consumer`.

    Refuses, while definitions load, a product no domain declares and another domain's
    internal product, naming both assets and the fix.
    """
    consumer_domain = consumer.split("/", 1)[0]
    where = f"Data product '{consumer}'"
    if ref == consumer:
        raise ProductDeclarationError(where, "lists itself as an input", "remove it from inputs")
    product = catalog.products.get(ref)
    if product is None:
        close = difflib.get_close_matches(ref, list(catalog.products), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ProductDeclarationError(
            where,
            f"depends on '{ref}', which no domain in the mesh declares",
            f"{hint}inputs name products as 'domain/name'; see `meshctl products` for the list",
        )
    if product.domain != consumer_domain and not product.is_public:
        alternatives = ", ".join(catalog.public_products(product.domain)) or "none yet"
        raise ProductDeclarationError(
            where,
            f"depends on '{ref}', which is internal to domain '{product.domain}'; another domain "
            "may only depend on public products",
            f"use a public product of '{product.domain}' ({alternatives}), or ask its owners "
            f"({', '.join(product.owners)}) to publish '{ref}' with visibility: public",
        )
    return product.key
