"""platform_core: what every code location of the mesh imports.

The exports load on first use (PEP 562), so tools that need one light module (the governance
gate reads `platform_core.workspace`) do not pay for the warehouse stack's imports."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from platform_core.definitions import build_domain_definitions, location_definitions
    from platform_core.environment import Environment, current_environment
    from platform_core.products import (
        ProductContext,
        depend_on_product,
        python_product,
        sql_product,
    )

_EXPORTS = {
    "Environment": "platform_core.environment",
    "ProductContext": "platform_core.products",
    "build_domain_definitions": "platform_core.definitions",
    "current_environment": "platform_core.environment",
    "location_definitions": "platform_core.definitions",
    "depend_on_product": "platform_core.products",
    "python_product": "platform_core.products",
    "sql_product": "platform_core.products",
}

__all__ = [
    "Environment",
    "ProductContext",
    "build_domain_definitions",
    "current_environment",
    "depend_on_product",
    "location_definitions",
    "python_product",
    "sql_product",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'platform_core' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
