"""A waiver releases the hold a failed blocking check puts on downstream automation, through
Dagster's own evaluation of `all_deps_blocking_checks_passed` (public APIs only)."""

import dagster as dg
import pytest
from platform_core.errors import ConfigurationError
from platform_core.monitoring.quality import WAIVED_BY
from platform_core.monitoring.waivers import waive_check


@dg.asset(
    key=["shop", "orders"],
    check_specs=[dg.AssetCheckSpec("row_count_drop", asset=["shop", "orders"], blocking=True)],
)
def orders():
    yield dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=False)])


HELD = dg.AutomationCondition.all_deps_blocking_checks_passed()


@dg.asset(key=["shop", "revenue"], deps=[orders], automation_condition=HELD)
def revenue() -> None: ...


def _released(defs: dg.Definitions, instance: dg.DagsterInstance) -> bool:
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    return result.get_num_requested(dg.AssetKey(["shop", "revenue"])) > 0


def test_a_waiver_passes_the_check_for_the_latest_materialization_and_releases_the_hold():
    instance = dg.DagsterInstance.ephemeral()
    defs = dg.Definitions(assets=[orders, revenue])
    result = dg.materialize([orders], instance=instance, raise_on_error=False)
    assert not result.get_asset_check_evaluations()[0].passed
    assert not _released(defs, instance)  # held: the blocking check failed

    evaluation = waive_check(instance, "shop/orders", "row_count_drop", "t9 offboarded", "ana")

    record = instance.get_latest_asset_check_evaluation_record(
        dg.AssetCheckKey(dg.AssetKey(["shop", "orders"]), "row_count_drop")
    )
    assert record is not None and record.evaluation is not None and record.evaluation.passed
    assert record.evaluation.metadata[WAIVED_BY].value == "ana"
    assert evaluation.metadata[WAIVED_BY].value == "ana"
    assert _released(defs, instance)


def test_a_waiver_needs_a_reason_and_a_result_to_waive():
    instance = dg.DagsterInstance.ephemeral()
    with pytest.raises(ConfigurationError, match="needs a reason"):
        waive_check(instance, "shop/orders", "row_count_drop", " ", "ana")
    with pytest.raises(ConfigurationError, match="never been materialized"):
        waive_check(instance, "shop/orders", "row_count_drop", "why", "ana")
    dg.materialize([orders], instance=instance, raise_on_error=False)
    with pytest.raises(ConfigurationError, match="no result for check 'nulls'"):
        waive_check(instance, "shop/orders", "nulls", "why", "ana")
