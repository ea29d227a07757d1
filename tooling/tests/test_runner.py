"""The headless runner's plan: every asset after its upstreams, few runs, cycles refused."""

import dagster as dg
import pytest
from mesh_tooling.runner import held_back, plan_batches
from platform_core.errors import ConfigurationError


def key(ref: str) -> dg.AssetKey:
    return dg.AssetKey(ref.split("/"))


def test_batches_respect_cross_location_order_and_group_by_location():
    producer = {
        key(k): k.split("/")[0] for k in ["a/raw", "a/clean", "b/model", "c/report", "a/extra"]
    }
    parents = {
        key("a/clean"): {key("a/raw")},
        key("b/model"): {key("a/clean")},
        key("c/report"): {key("b/model"), key("a/extra")},
        key("a/extra"): {key("a/raw")},
    }
    batches = plan_batches(producer, parents, set(producer))
    assert [loc for loc, _ in batches] == ["a", "b", "c"]
    assert set(batches[0][1]) == {key("a/raw"), key("a/clean"), key("a/extra")}
    position = {k: i for i, (_, keys) in enumerate(batches) for k in keys}
    for child, ups in parents.items():
        assert all(position[p] <= position[child] for p in ups)


def test_selection_ignores_unselected_upstreams():
    producer = {key("a/raw"): "a", key("b/model"): "b"}
    parents = {key("b/model"): {key("a/raw")}}
    assert plan_batches(producer, parents, {key("b/model")}) == [("b", [key("b/model")])]


def test_cycle_is_refused():
    producer = {key("a/x"): "a", key("b/y"): "b"}
    parents = {key("a/x"): {key("b/y")}, key("b/y"): {key("a/x")}}
    with pytest.raises(ConfigurationError, match="Dependency cycle"):
        plan_batches(producer, parents, set(producer))


def test_a_location_that_can_wait_runs_once_instead_of_twice():
    # m/early could run first, but m/late needs s/model: running m early would cut m in two
    # runs (two dbt invocations for a dbt location); waiting keeps it whole.
    # (m could do two keys now, as many as s: the old plan ran m first and m again last.)
    keys = ["m/early", "m/early2", "m/late", "s/raw", "s/model"]
    producer = {key(k): k.split("/")[0] for k in keys}
    parents = {key("s/model"): {key("s/raw")}, key("m/late"): {key("s/model"), key("m/early")}}
    batches = plan_batches(producer, parents, set(producer))
    assert batches == [
        ("s", [key("s/model"), key("s/raw")]),
        ("m", [key("m/early"), key("m/early2"), key("m/late")]),
    ]


def test_a_location_that_cannot_stay_whole_still_runs_in_two():
    # a and b feed each other both ways: no location can run whole, so a runs twice.
    producer = {key(k): k.split("/")[0] for k in ["a/first", "b/middle", "a/last"]}
    parents = {key("b/middle"): {key("a/first")}, key("a/last"): {key("b/middle")}}
    batches = plan_batches(producer, parents, set(producer))
    assert batches == [("a", [key("a/first")]), ("b", [key("b/middle")]), ("a", [key("a/last")])]


def test_a_broken_upstream_holds_back_its_downstream_within_the_batch():
    parents = {key("m/mid"): {key("s/broken")}, key("m/top"): {key("m/mid")}}
    keys = [key("m/top"), key("m/free"), key("m/mid")]
    assert held_back(keys, parents, {key("s/broken")}) == {key("m/mid"), key("m/top")}
