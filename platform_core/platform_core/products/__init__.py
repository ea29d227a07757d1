"""Data products: declare once (DataProducts defs.yaml), implement in a function, get definitions."""

from platform_core.products.catalog import Catalog, depend_on_product
from platform_core.products.declaration import (
    DomainProducts,
    ProductDeclaration,
    Visibility,
    load_domain_products,
)
from platform_core.products.factory import (
    ProductContext,
    ProductImplementation,
    build_product_assets,
    python_product,
    sql_product,
)

__all__ = [
    "Catalog",
    "DomainProducts",
    "ProductContext",
    "ProductDeclaration",
    "ProductImplementation",
    "Visibility",
    "build_product_assets",
    "depend_on_product",
    "load_domain_products",
    "python_product",
    "sql_product",
]
