"""The impact model's per-commit cache of the base side: found again by the same key, never by
another, and rebuilt (said on stderr) when its entry is damaged. The end-to-end case, a base
that moves on, is in tests/test_change_detection.py."""

import json

import pytest
from governance.basecache import BaseCache, BaseSide, base_key
from governance.model import AssetRecord, LocationRecord, MeshGraph
from platform_core.errors import ConfigurationError

MANIFEST = {"nodes": {"model.mesh.orders": {"raw_code": "select 1"}}, "macros": {}}


def _graph(load_error: str = "") -> MeshGraph:
    graph = MeshGraph(root="/base")
    graph.locations["sales"] = LocationRecord("sales", "mesh_sales", load_error=load_error)
    graph.add(AssetRecord("sales/orders", "sales", owners=["team:sales"], deps=["sales/raw"]))
    return graph


def _stored(tmp_path) -> BaseCache:
    cache = BaseCache(tmp_path / "home", "k1")
    cache.put(BaseSide(_graph(), MANIFEST))
    return cache


def test_an_entry_is_read_back_as_it_was_stored(tmp_path):
    side = _stored(tmp_path).get()
    assert side is not None
    assert side.graph.to_json() == _graph().to_json()
    assert side.manifest == MANIFEST


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / "graph.json").write_text('{"root": "/base", "locat'),
        # valid JSON, another graph: the digest no longer matches what was stored
        lambda folder: (folder / "graph.json").write_text(
            json.dumps({"root": "/x", "locations": {}, "assets": {}})
        ),
        lambda folder: (folder / "manifest.json").unlink(),
        lambda folder: (folder / "meta.json").write_text("not json"),
        lambda folder: (folder / "meta.json").unlink(),
    ],
    ids=["truncated graph", "other graph", "manifest gone", "bad meta", "meta gone"],
)
def test_a_damaged_entry_is_reported_deleted_and_not_trusted(tmp_path, capsys, damage):
    cache = _stored(tmp_path)
    damage(cache.folder)
    assert cache.get() is None
    assert "unreadable" in capsys.readouterr().err
    assert not cache.folder.exists()  # the caller rebuilds it
    cache.put(BaseSide(_graph(), MANIFEST))
    assert cache.get() is not None


def test_a_base_with_a_failed_location_is_not_kept(tmp_path):
    cache = BaseCache(tmp_path / "home", "k1")
    cache.put(BaseSide(_graph(load_error="ImportError: boom"), None))
    assert cache.get() is None and not cache.folder.exists()


def test_the_key_changes_with_the_commit_the_lock_and_the_environment(tmp_path, monkeypatch):
    (tmp_path / "uv.lock").write_text("version = 1\n")
    key = base_key(tmp_path, "a" * 40, "duckdb")
    assert base_key(tmp_path, "a" * 40, "duckdb") == key
    assert base_key(tmp_path, "b" * 40, "duckdb") != key
    assert base_key(tmp_path, "a" * 40, "snowflake") != key
    monkeypatch.setenv("MESH_ENV", "other")
    assert base_key(tmp_path, "a" * 40, "duckdb") != key
    monkeypatch.delenv("MESH_ENV")
    # set by a dbt parse in this process, derived from the rest: not part of the key
    monkeypatch.setenv("MESH_DBT_DUCKDB_PATH", "/somewhere/warehouse.duckdb")
    assert base_key(tmp_path, "a" * 40, "duckdb") == key
    (tmp_path / "uv.lock").write_text("version = 2\n")
    assert base_key(tmp_path, "a" * 40, "duckdb") != key


def test_the_base_contracts_are_kept_and_judge_breaking_changes_as_fresh_ones_do(
    tmp_path, repo_root
):
    from dataclasses import replace

    from governance.breaking import breaking_between
    from governance.contracts import product_contracts

    contracts = product_contracts(repo_root)
    assert "sales/orders" in contracts
    cache = BaseCache(tmp_path / "home", "k1")
    cache.put(BaseSide(_graph(), MANIFEST, contracts))
    kept = cache.get().contracts
    assert {ref: c.as_json() for ref, c in kept.items()} == {
        ref: c.as_json() for ref, c in contracts.items()
    }
    # A head whose sales/orders lost a column: the same breaking change either way.
    orders = contracts["sales/orders"]
    [table] = orders.document.schema_
    dropped = table.model_copy(update={"properties": table.properties[1:]})
    head = {**contracts, "sales/orders": replace(
        orders, document=orders.document.model_copy(update={"schema_": [dropped]})
    )}  # fmt: skip
    fresh = breaking_between(contracts, head)
    assert [v.message for v in fresh] == [v.message for v in breaking_between(kept, head)]
    assert fresh and "removed columns" in fresh[0].message


def test_a_cache_hit_does_not_extract_the_base_tree(tmp_path, clean_environment, monkeypatch):
    """The root is no git checkout: extracting the base from git would fail, a hit does not."""
    from governance.impact import PendingBase
    from platform_core.environment import current_environment

    monkeypatch.setenv("MESH_HOME", str(tmp_path / "home"))
    root = tmp_path / "not-a-checkout"
    root.mkdir()
    (root / "uv.lock").write_text("version = 1\n")
    env = current_environment()
    key = base_key(root, "c" * 40, env.dbt_target)
    BaseCache(env.mesh_home, key).put(BaseSide(_graph(), MANIFEST))
    side = PendingBase(root, "c" * 40, use_cache=True).result()
    assert side.graph.to_json() == _graph().to_json() and side.manifest == MANIFEST
    # Without the cache the base is loaded from git in its own process, which fails here.
    with pytest.raises(ConfigurationError, match="git cannot read ref"):
        PendingBase(root, "c" * 40, use_cache=False).result()
