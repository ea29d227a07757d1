"""The standard quality checks every data product gets, all blocking.

Each evaluator is a plain function of a warehouse session and the declaration, so it is tested
directly on passing and failing data; `product_checks()` wraps them as Dagster asset checks.
"""

from collections.abc import Callable

import dagster as dg

from platform_core.identifiers import qualified
from platform_core.products.declaration import ProductDeclaration
from platform_core.warehouse.base import Warehouse, WarehouseSession

ROW_COUNT = "dagster/row_count"


def evaluate_schema_contract(
    session: WarehouseSession, product: ProductDeclaration
) -> dg.AssetCheckResult:
    """The table has exactly the contract's columns, with the contract's types."""
    actual = {c.name: c.logical_type for c in session.columns(product.domain, product.name)}
    expected = {c.name: c.type for c in product.columns}
    missing = sorted(set(expected) - set(actual))
    unexpected = sorted(set(actual) - set(expected))
    retyped = sorted(
        f"{name}: contract {expected[name]}, table {actual[name]}"
        for name in set(expected) & set(actual)
        if expected[name] != actual[name]
    )
    problems = []
    if not actual:
        problems.append(f"table {product.domain}.{product.name} does not exist")
    else:
        if missing:
            problems.append(f"missing columns {missing}")
        if unexpected:
            problems.append(f"columns not in the contract {unexpected}")
        if retyped:
            problems.append(f"type mismatches {retyped}")
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems)
        or f"{len(expected)} columns match the contract of {product.ref}",
        metadata={
            "missing_columns": ", ".join(missing),
            "unexpected_columns": ", ".join(unexpected),
            "type_mismatches": "; ".join(retyped),
        },
    )


def evaluate_row_count_drop(
    current: int, previous: int | None, min_ratio: float
) -> dg.AssetCheckResult:
    """Fail when the row count fell below `min_ratio` of the previous materialization's."""
    metadata: dict[str, float | int | None] = {
        "current_rows": current,
        "previous_rows": previous,
        "min_ratio": min_ratio,
    }
    if previous is None or previous == 0:
        return dg.AssetCheckResult(
            passed=True,
            description=f"{current} rows; no earlier materialization to compare with",
            metadata=metadata,
        )
    ratio = current / previous
    metadata["ratio"] = round(ratio, 4)
    passed = ratio >= min_ratio
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{current} rows is {ratio:.0%} of the previous {previous} "
            f"({'at or above' if passed else 'below'} the {min_ratio:.0%} floor)"
        ),
        metadata=metadata,
    )


def evaluate_not_null(
    session: WarehouseSession, product: ProductDeclaration
) -> dg.AssetCheckResult:
    """Columns the contract marks not_null hold no NULLs."""
    columns = [c.name for c in product.columns if c.not_null]
    counts_sql = ", ".join(f"sum(case when {c} is null then 1 else 0 end)" for c in columns)
    row = session.fetch(f"select {counts_sql} from {qualified(product.domain, product.name)}")[0]
    nulls = {column: int(count or 0) for column, count in zip(columns, row, strict=True)}
    offending = {column: count for column, count in nulls.items() if count}
    return dg.AssetCheckResult(
        passed=not offending,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"NULLs in not_null columns: {offending}"
            if offending
            else f"no NULLs in {len(columns)} not_null columns"
        ),
        metadata={f"nulls_{column}": count for column, count in nulls.items()},
    )


def evaluate_null_fraction(
    session: WarehouseSession, product: ProductDeclaration
) -> dg.AssetCheckResult:
    """Columns with a `max_null_fraction` hold at most that share of NULLs."""
    limits = {
        c.name: c.max_null_fraction for c in product.columns if c.max_null_fraction is not None
    }
    fractions_sql = ", ".join(f"sum(case when {c} is null then 1 else 0 end)" for c in limits)
    row = session.fetch(
        f"select count(*), {fractions_sql} from {qualified(product.domain, product.name)}"
    )[0]
    total = int(row[0] or 0)
    fractions = {
        column: (int(nulls or 0) / total if total else 0.0)
        for column, nulls in zip(limits, row[1:], strict=True)
    }
    offending = {
        column: f"{fraction:.1%} > {limits[column]:.1%}"
        for column, fraction in fractions.items()
        if fraction > (limits[column] or 0.0)
    }
    return dg.AssetCheckResult(
        passed=not offending,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"NULL share above the limit: {offending}"
            if offending
            else f"NULL shares within limits for {len(limits)} columns"
        ),
        metadata={f"null_fraction_{c}": round(f, 4) for c, f in fractions.items()},
    )


def previous_row_count(instance: dg.DagsterInstance, key: dg.AssetKey) -> int | None:
    """Row count recorded by the materialization before the latest one."""
    records = instance.fetch_materializations(key, limit=2).records
    if len(records) < 2:
        return None
    materialization = records[1].asset_materialization
    value = materialization.metadata.get(ROW_COUNT) if materialization else None
    return int(value.value) if value is not None else None


def product_check_names(product: ProductDeclaration) -> list[str]:
    """The names of `product_checks(product)`, without building them (monitoring needs every
    product's check keys at each location load)."""
    names = ["schema_contract", "row_count_drop"]
    if any(c.not_null for c in product.columns):
        names.append("not_null")
    if any(c.max_null_fraction is not None for c in product.columns):
        names.append("null_fraction")
    return names


def product_checks(product: ProductDeclaration) -> list[dg.AssetChecksDefinition]:
    """Blocking asset checks for one product: contract, row-count drop, not-null, null share."""
    wanted = product_check_names(product)

    def check(name: str, description: str) -> Callable[..., dg.AssetChecksDefinition]:
        return dg.asset_check(asset=product.key, name=name, blocking=True, description=description)

    @check("schema_contract", "Columns and types match the declared contract.")
    def schema_contract(warehouse: Warehouse) -> dg.AssetCheckResult:
        with warehouse.session() as session:
            return evaluate_schema_contract(session, product)

    ratio = product.checks.min_row_count_ratio

    @check("row_count_drop", f"Fails below {ratio:.0%} of the previous materialization's rows.")
    def row_count_drop(
        context: dg.AssetCheckExecutionContext, warehouse: Warehouse
    ) -> dg.AssetCheckResult:
        with warehouse.session() as session:
            current = session.row_count(product.domain, product.name)
        return evaluate_row_count_drop(
            current, previous_row_count(context.instance, product.key), ratio
        )

    checks = [schema_contract, row_count_drop]
    if "not_null" in wanted:

        @check("not_null", "Columns the contract marks not_null hold no NULLs.")
        def not_null(warehouse: Warehouse) -> dg.AssetCheckResult:
            with warehouse.session() as session:
                return evaluate_not_null(session, product)

        checks.append(not_null)
    if "null_fraction" in wanted:

        @check("null_fraction", "Columns with max_null_fraction stay within their NULL share.")
        def null_fraction(warehouse: Warehouse) -> dg.AssetCheckResult:
            with warehouse.session() as session:
                return evaluate_null_fraction(session, product)

        checks.append(null_fraction)
    return checks
