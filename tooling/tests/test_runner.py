"""The headless runner's plan: every asset after its upstreams, few runs, cycles refused."""

import dagster as dg
import pytest
from mesh_tooling.runner import plan_batches
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
