"""The catalog of declared data products, and the consumer helper `depend_on_product`.

A domain depends on another only through the keys of its published products. A domain whose
declarations do not load is recorded as broken, not raised: a location loads on its own
declarations, and only a product that depends on the broken domain fails (naming it). The
mesh's catalog is assembled by platform_core.catalog (declaration files and dbt models).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg

from platform_core.errors import ProductDeclarationError
from platform_core.products.declaration import ProductDeclaration

DBT_SOURCE = "dbt_project"  # BrokenDomain.source when the dbt project failed to parse


@dataclass(frozen=True)
class BrokenDomain:
    """A domain whose declarations failed to load: what failed, and who can fix it."""

    domain: str
    source: str  # the failing file (or the dbt project)
    error: str
    owners: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    products: dict[str, ProductDeclaration] = field(default_factory=dict)
    broken: dict[str, BrokenDomain] = field(default_factory=dict)

    @classmethod
    def from_declarations(
        cls, declarations: Iterable[ProductDeclaration], broken: Iterable[BrokenDomain] = ()
    ) -> Catalog:
        products: dict[str, ProductDeclaration] = {}
        for product in declarations:
            if product.ref in products:
                raise ProductDeclarationError(
                    f"{product.source_file}: product '{product.name}'",
                    f"'{product.ref}' is also declared in {products[product.ref].source_file}",
                    "each product key is declared by exactly one domain; rename one of them",
                )
            products[product.ref] = product
        return cls(products, {b.domain: b for b in broken})

    def public_products(self, domain: str) -> list[str]:
        return sorted(p.ref for p in self.products.values() if p.domain == domain and p.is_public)

    def owners_of(self, domain: str) -> list[str]:
        return sorted({o for p in self.products.values() if p.domain == domain for o in p.owners})


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
    broken = catalog.broken.get(ref.split("/", 1)[0])
    if product is None and broken is not None:
        raise ProductDeclarationError(
            where,
            f"depends on '{ref}' of domain '{broken.domain}', whose declarations fail to load "
            f"({broken.source}):\n    {_indent(broken.error)}",
            f"domain '{broken.domain}' must fix its declaration; tell its owners "
            f"({', '.join(broken.owners)}), or drop the input until it loads again",
        )
    dbt_broken = next((b for b in catalog.broken.values() if b.source == DBT_SOURCE), None)
    if product is None and dbt_broken is not None:
        raise ProductDeclarationError(
            where,
            f"depends on '{ref}', which is not declared while the dbt project fails to parse "
            f"because of domain '{dbt_broken.domain}' (it may be one of its models)",
            f"domain '{dbt_broken.domain}' must fix its dbt model; tell its owners "
            f"({', '.join(dbt_broken.owners) or 'team:' + dbt_broken.domain})",
        )
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


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")
