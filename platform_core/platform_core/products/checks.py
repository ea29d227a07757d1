"""The standard quality checks every data product gets, all blocking.

Each evaluator is a plain function of a warehouse session and the declaration, so it is tested
directly on passing and failing data; `product_checks()` wraps them as Dagster asset checks.
"""

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

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


def previous_row_count(
    instance: dg.DagsterInstance, key: dg.AssetKey, *, before_latest: bool = True
) -> int | None:
    """Row count recorded by the materialization before the one checked: the one before the
    latest for a check step that runs after its materialization; the latest for checks
    evaluated inside the materializing step (`before_latest=False`), whose own
    materialization is not stored yet."""
    index = 1 if before_latest else 0
    records = instance.fetch_materializations(key, limit=index + 1).records
    if len(records) <= index:
        return None
    materialization = records[index].asset_materialization
    value = materialization.metadata.get(ROW_COUNT) if materialization else None
    return int(value.value) if value is not None else None


def _row_count_drop(
    session: WarehouseSession,
    product: ProductDeclaration,
    instance: dg.DagsterInstance,
    in_materialization: bool,
) -> dg.AssetCheckResult:
    current = session.row_count(product.domain, product.name)
    previous = previous_row_count(instance, product.key, before_latest=not in_materialization)
    return evaluate_row_count_drop(current, previous, product.checks.min_row_count_ratio)


@dataclass(frozen=True)
class StandardCheck:
    """One standard check: what it promises, which products get it, how it is evaluated
    (session, declaration, instance, evaluated inside the materializing step)."""

    description: str
    applies: Callable[[ProductDeclaration], bool]
    evaluate: Callable[
        [WarehouseSession, ProductDeclaration, dg.DagsterInstance, bool], dg.AssetCheckResult
    ]


# The one table of standard checks, in evaluation order.
STANDARD_CHECKS: dict[str, StandardCheck] = {
    "schema_contract": StandardCheck(
        "Columns and types match the declared contract.",
        lambda product: True,
        lambda session, product, *_: evaluate_schema_contract(session, product),
    ),
    "row_count_drop": StandardCheck(
        "Fails below {ratio:.0%} of the previous materialization's rows.",
        lambda product: True,
        _row_count_drop,
    ),
    "not_null": StandardCheck(
        "Columns the contract marks not_null hold no NULLs.",
        lambda product: any(c.not_null for c in product.columns),
        lambda session, product, *_: evaluate_not_null(session, product),
    ),
    "null_fraction": StandardCheck(
        "Columns with max_null_fraction stay within their NULL share.",
        lambda product: any(c.max_null_fraction is not None for c in product.columns),
        lambda session, product, *_: evaluate_null_fraction(session, product),
    ),
}


def product_check_names(product: ProductDeclaration) -> list[str]:
    """The names of the product's checks, without building them (monitoring needs every
    product's check keys at each location load)."""
    return [name for name, check in STANDARD_CHECKS.items() if check.applies(product)]


def product_check_specs(product: ProductDeclaration) -> list[dg.AssetCheckSpec]:
    """The specs of the product's blocking checks: contract, row-count drop, not-null, null
    share. Each keeps its own key, so it is shown, selected and alerted on by itself."""
    ratio = product.checks.min_row_count_ratio
    return [
        dg.AssetCheckSpec(
            name,
            asset=product.key,
            blocking=True,
            description=STANDARD_CHECKS[name].description.format(ratio=ratio),
        )
        for name in product_check_names(product)
    ]


def evaluate_product_checks(
    product: ProductDeclaration,
    session: WarehouseSession,
    instance: dg.DagsterInstance,
    names: Collection[str],
    *,
    in_materialization: bool = False,
) -> Iterator[dg.AssetCheckResult]:
    """The results of the product's checks named in `names`, on one session. A check that
    raises leaves the others' results, then its error is raised after them (as one step per
    check would). `in_materialization`: evaluated by the materializing step itself."""
    failure: Exception | None = None
    for name in product_check_names(product):
        if name not in names:
            continue
        try:
            result = STANDARD_CHECKS[name].evaluate(session, product, instance, in_materialization)
        except Exception as error:
            failure = failure or error
            continue
        yield dg.AssetCheckResult(
            asset_key=product.key,
            check_name=name,
            passed=result.passed,
            severity=result.severity,
            description=result.description,
            metadata=result.metadata,
        )
    if failure is not None:
        raise failure


def product_checks(product: ProductDeclaration) -> list[dg.AssetChecksDefinition]:
    """The product's checks as ONE multi-asset check: one step and one warehouse session per
    product and run instead of one per check (each step costs its own events). Each check can
    still be selected and run on its own."""

    @dg.multi_asset_check(
        specs=product_check_specs(product),
        name=f"{product.domain}__{product.name}__checks",
        can_subset=True,
    )
    def checks(
        context: dg.AssetCheckExecutionContext, warehouse: Warehouse
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {key.name for key in context.selected_asset_check_keys}
        with warehouse.session() as session:
            yield from evaluate_product_checks(product, session, context.instance, selected)

    return [checks]
