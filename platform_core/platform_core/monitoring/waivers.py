"""Waive a failed blocking check: the owners accept the data as it is.

A waiver is recorded as a passing evaluation of the check against the asset's latest
materialization, with who waived it and why as metadata. That is what releases the hold
(downstream automation waits for the check to pass), it is visible in the check's history in
the UI, and the monitoring sensor resolves the incident with the waiver's reason.

The evaluation is reported without a run and without naming the materialization (Dagster's
type for that is private): Dagster then matches it to the latest materialization recorded
before it, comparing the materialization's time with the evaluation's record time, which SQLite
storage keeps in whole seconds. So a waiver is recorded in a later second than the
materialization it waives (it waits for that second if it has to, at most one).
"""

from __future__ import annotations

import math
import time

import dagster as dg

from platform_core.errors import ConfigurationError
from platform_core.monitoring.quality import WAIVED_BY


def waive_check(
    instance: dg.DagsterInstance, asset: str, check_name: str, reason: str, waived_by: str
) -> dg.AssetCheckEvaluation:
    if not reason.strip():
        raise ConfigurationError(
            f"Waiving {asset} {check_name} needs a reason. Fix: --reason 'why the data is fine'."
        )
    key = dg.AssetKey.from_user_string(asset)
    latest = instance.fetch_materializations(key, limit=1).records
    if not latest:
        raise ConfigurationError(
            f"Asset '{asset}' has never been materialized, so it has no check result to waive. "
            "Fix: check the key with `meshctl products`."
        )
    check_key = dg.AssetCheckKey(key, check_name)
    if instance.get_latest_asset_check_evaluation_record(check_key) is None:
        raise ConfigurationError(
            f"Asset '{asset}' has no result for check '{check_name}'. "
            "Fix: name one of its checks (schema_contract, row_count_drop, not_null, null_fraction)."
        )
    later_second = math.floor(latest[0].timestamp) + 1
    time.sleep(max(0.0, later_second - time.time()))  # see the module docstring
    evaluation = dg.AssetCheckEvaluation(
        asset_key=key,
        check_name=check_name,
        passed=True,
        metadata={WAIVED_BY: waived_by, "reason": reason},
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"Waived by {waived_by}: {reason}",
        blocking=True,
    )
    instance.report_runless_asset_event(evaluation)
    return evaluation
