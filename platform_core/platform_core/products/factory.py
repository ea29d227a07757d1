"""The one place that turns product declarations and their code into Dagster definitions.

A domain writes, per product, an entry in its DataProducts defs.yaml and a small function:

    @sql_product("daily_revenue")
    def daily_revenue(p: ProductContext) -> str:
        return f"select ... from {p.ref('sales/orders')} group by ..."

`build_product_assets` pairs them, checks the pairing and the inputs against the mesh catalog,
and returns assets carrying owners, tags, kinds, column schema, freshness policy and
automation, plus the standard blocking checks.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Union

import dagster as dg

from platform_core.environment import Environment, current_environment
from platform_core.errors import ProductDeclarationError
from platform_core.identifiers import qualified
from platform_core.products.catalog import Catalog, depend_on_product
from platform_core.products.checks import ROW_COUNT, product_checks
from platform_core.products.code_version import code_version
from platform_core.products.declaration import (
    Automation,
    DomainProducts,
    ProductDeclaration,
)
from platform_core.warehouse.base import Warehouse, WarehouseSession

if TYPE_CHECKING:  # pandas (~1 s) and pyarrow (~0.2 s): only a run that returns data needs them
    import pandas as pd
    import pyarrow as pa


@dataclass
class ProductContext:
    """What a product function gets: its declaration, the warehouse session and refs."""

    product: ProductDeclaration
    session: WarehouseSession
    dagster: dg.AssetExecutionContext
    environment: Environment

    @property
    def log(self):
        return self.dagster.log

    def ref(self, product_ref: str) -> str:
        """`schema.table` of a declared input, for use in SQL. Undeclared inputs are refused,
        so the lineage Dagster shows is the lineage the SQL really has."""
        if product_ref not in self.product.inputs:
            raise ProductDeclarationError(
                f"Data product '{self.product.ref}'",
                f"reads '{product_ref}', which is not among its inputs {self.product.inputs}",
                f"add '{product_ref}' to inputs in {self.product.source_file}",
            )
        domain, name = product_ref.split("/", 1)
        return qualified(domain, name)


ProductFunction = Callable[[ProductContext], Union[str, "pd.DataFrame", "pa.Table"]]


# Builds a product's asset itself (e.g. a stream landed by micro-batches rather than rebuilt):
# gets the declaration, its input keys, the environment and the standard asset attributes.
AssetBuilder = Callable[
    [ProductDeclaration, Sequence[dg.AssetKey], Environment, dict], dg.AssetsDefinition
]


@dataclass(frozen=True)
class ProductImplementation:
    name: str
    kind: Literal["sql", "python", "stream"]
    function: ProductFunction | None = None
    build_asset: AssetBuilder | None = None


def sql_product(name: str) -> Callable[[Callable[[ProductContext], str]], ProductImplementation]:
    """Implement product `name` as a SELECT that runs inside the warehouse."""
    return lambda function: ProductImplementation(name, "sql", function)


def python_product(
    name: str,
) -> Callable[[Callable[[ProductContext], "pd.DataFrame | pa.Table"]], ProductImplementation]:
    """Implement product `name` in Python, returning a pandas DataFrame or an Arrow table."""
    return lambda function: ProductImplementation(name, "python", function)


def automation_condition(product: ProductDeclaration) -> dg.AutomationCondition | None:
    """Eager/cron automation that also holds while an input's blocking check fails."""
    automation = product.effective_automation
    if automation is Automation.MANUAL:
        return None
    base = (
        dg.AutomationCondition.eager()
        if automation is Automation.EAGER
        else dg.AutomationCondition.on_cron(product.cron or "")
    )
    if not product.inputs:
        return base
    return (base & dg.AutomationCondition.all_deps_blocking_checks_passed()).with_label(
        f"{automation.value}, inputs' blocking checks passed"
    )


def _to_arrow(value: object, product: ProductDeclaration) -> "pa.Table":
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return value
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return pa.Table.from_pandas(value, preserve_index=False)
    raise ProductDeclarationError(
        f"Data product '{product.ref}'",
        f"its python_product function returned {type(value).__name__}",
        "return a pandas DataFrame or a pyarrow Table",
    )


def product_asset_attributes(
    product: ProductDeclaration,
    kind: str,
    deps: Sequence[dg.AssetKey],
    env: Environment,
    pool: str | None = None,
) -> dict:
    """The `@dg.asset` arguments every product gets, whoever builds its asset."""
    return dict(
        key=product.key,
        deps=deps,
        description=product.description,
        owners=product.owners,
        group_name=product.domain,
        tags={  # domain and code_location: the location's root (platform_core.definitions)
            "visibility": product.visibility.value,
            "tier": str(product.tier),
        },
        kinds={kind, env.warehouse_kind},
        metadata={
            "dagster/column_schema": product.column_schema(),
            "declared_in": product.source_file,
            "product_version": product.version,
            **(
                {"deprecation_date": product.deprecation_date.isoformat()}
                if product.deprecation_date
                else {}
            ),
        },
        freshness_policy=product.sla.freshness_policy(),
        automation_condition=automation_condition(product),
        pool=pool,
    )


def _product_asset(
    product: ProductDeclaration,
    implementation: ProductImplementation,
    deps: Sequence[dg.AssetKey],
    env: Environment,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    attributes = product_asset_attributes(product, implementation.kind, deps, env, pool)
    # What must change for the data to change; the UI and the preview compare it.
    attributes["code_version"] = code_version(
        product, implementation.function or implementation.build_asset
    )
    if implementation.build_asset is not None:
        return implementation.build_asset(product, deps, env, attributes)
    assert implementation.function is not None  # sql/python implementations carry one

    @dg.asset(**attributes)
    def materialize(
        context: dg.AssetExecutionContext, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        started = time.perf_counter()
        with warehouse.session() as session:
            produced = implementation.function(ProductContext(product, session, context, env))
            if implementation.kind == "sql":
                if not isinstance(produced, str):
                    raise ProductDeclarationError(
                        f"Data product '{product.ref}'",
                        f"its sql_product function returned {type(produced).__name__}",
                        "return the SELECT statement as a string",
                    )
                session.replace_table(product.domain, product.name, produced)
            else:
                session.write_arrow(product.domain, product.name, _to_arrow(produced, product))
            rows = session.row_count(product.domain, product.name)
        return dg.MaterializeResult(
            metadata={
                ROW_COUNT: rows,
                "dagster/table_name": f"{warehouse.database}.{product.domain}.{product.name}",
                "compute_seconds": round(time.perf_counter() - started, 3),
            }
        )

    return materialize


def build_product_assets(
    declared: DomainProducts,
    implementations: Sequence[ProductImplementation],
    catalog: Catalog,
    env: Environment | None = None,
    pool: str | None = None,
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """`pool`: the concurrency pool of every product's step (a tenant's own location uses its
    tenant pool, which budgets throttle)."""
    env = env or current_environment()
    source = Path(declared.products[0].source_file).name if declared.products else "defs.yaml"
    by_name: dict[str, ProductImplementation] = {}
    for implementation in implementations:
        if implementation.name in by_name:
            raise ProductDeclarationError(
                f"Data product '{declared.domain}/{implementation.name}'",
                "has two implementations",
                "keep one @sql_product/@python_product per product",
            )
        by_name[implementation.name] = implementation

    declared_names = {p.name for p in declared.products}
    for name in sorted(set(by_name) - declared_names):
        raise ProductDeclarationError(
            f"Data product '{declared.domain}/{name}'",
            f"has an implementation but no declaration in {source}",
            f"declare it (owners, visibility, description, columns) in {source}",
        )

    assets, checks = [], []
    for product in declared.products:
        implementation = by_name.get(product.name)
        if implementation is None:
            raise ProductDeclarationError(
                f"Data product '{product.ref}' ({product.source_file})",
                "is declared but has no implementation",
                f"write @sql_product('{product.name}') or @python_product('{product.name}') "
                "and pass it to build_domain_definitions",
            )
        deps = [depend_on_product(ref, product.ref, catalog) for ref in product.inputs]
        deps += [dg.AssetKey(source.split("/")) for source in product.sources]
        assets.append(_product_asset(product, implementation, deps, env, pool))
        checks.extend(product_checks(product))
    return assets, checks
