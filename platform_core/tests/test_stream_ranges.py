"""The rules that make micro-batch ingestion lossless, on plain offsets (no broker needed)."""

import pytest
from platform_core.errors import ConfigurationError
from platform_core.streaming.ranges import (
    OffsetRange,
    commit_frontier,
    format_ranges,
    parse_ranges,
    plan_ranges,
    waves,
)


def r(partition: int, start: int, end: int) -> OffsetRange:
    return OffsetRange("clicks", partition, start, end)


def test_ranges_round_trip_through_the_run_tag():
    ranges = [r(3, 40, 89), r(0, 100, 199)]
    assert format_ranges(ranges) == "0:100-199,3:40-89"
    assert parse_ranges("clicks", "0:100-199,3:40-89") == sorted(ranges)


def test_an_empty_or_negative_range_is_refused_with_the_fix():
    with pytest.raises(ConfigurationError, match=r"0:10-9 .* start <= end"):
        r(0, 10, 9)


def test_commit_advances_only_through_contiguous_successes():
    assert commit_frontier(100, [r(0, 100, 199), r(0, 200, 299)]) == 300
    # 200..299 failed (not among successes): 300..399 landed but must not be committed past.
    assert commit_frontier(100, [r(0, 100, 199), r(0, 300, 399)]) == 200
    assert commit_frontier(100, [r(0, 50, 99)]) == 100  # already committed: no change


def test_gaps_become_ranges_of_at_most_the_batch_size():
    assert plan_ranges("clicks", 0, 100, 350, [], 100, 10) == [
        r(0, 100, 199), r(0, 200, 299), r(0, 300, 349)
    ]  # fmt: skip


def test_a_failed_range_is_planned_again_and_in_flight_ones_are_not():
    in_flight = [r(0, 200, 299)]  # 100..199 failed: it is not covered
    planned = plan_ranges("clicks", 0, 100, 400, in_flight, 1_000, 10)
    assert planned == [r(0, 100, 199), r(0, 300, 399)]


def test_open_ranges_are_bounded_behind_a_stuck_run():
    stuck = [r(0, 0, 99)]
    assert plan_ranges("clicks", 0, 0, 10_000, stuck, 100, 3) == [r(0, 100, 199), r(0, 200, 299)]


def test_after_the_first_pass_only_full_batches_are_planned():
    assert plan_ranges("clicks", 0, 0, 150, [], 100, 10, full_batches_only=True) == [r(0, 0, 99)]


def test_waves_put_at_most_one_range_per_partition_in_a_run():
    planned = {0: [r(0, 0, 9), r(0, 10, 19)], 1: [r(1, 0, 9)]}
    assert waves(planned) == [[r(0, 0, 9), r(1, 0, 9)], [r(0, 10, 19)]]
