"""platform_core: what every code location of the mesh imports."""

from platform_core.definitions import build_domain_definitions
from platform_core.environment import Environment, current_environment
from platform_core.products import (
    ProductContext,
    depend_on_product,
    python_product,
    sql_product,
)

__all__ = [
    "Environment",
    "ProductContext",
    "build_domain_definitions",
    "current_environment",
    "depend_on_product",
    "python_product",
    "sql_product",
]
