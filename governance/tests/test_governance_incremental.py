"""The incremental gate gives the verdict a cold gate gives, after each of a series of edits,
and reloads only the locations whose inputs changed."""

import yaml
from meshfactory import Loc, product, write_mesh

DEFS = "defs/products/defs.yaml"  # where a domain declares its products


def _verdict(result):
    return result.passed, sorted(v.fingerprint for v in result.violations)


def _edit_yaml(path, edit):
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_incremental_recheck_gives_the_cold_verdict_after_each_edit(tmp_path):
    m = write_mesh(tmp_path, {
        "sales": Loc([product("orders"), product("scratch", visibility="internal")],
                     files={"helpers.py": "LIMIT = 1\n"},
                     extra="from .helpers import LIMIT\n"),
        "marketing": Loc([product("leads", inputs=("sales/orders",))]),
        "finance": Loc([product("forecast", inputs=("sales/orders",))]),
    })  # fmt: skip
    sales, marketing = m.package_dir("sales"), m.package_dir("marketing")
    finance = m.package_dir("finance")
    all_locations = {"sales", "marketing", "finance"}

    def no_owner(data):
        data["attributes"]["products"][0]["owners"] = ["team:strangers"]

    def depend_on_internal(data):
        data["attributes"]["products"][0]["inputs"] = ["sales/scratch"]

    def restore_owner(data):
        data["attributes"]["products"][0]["owners"] = ["team:sales"]

    def redescribe(data):
        data["attributes"]["products"][0]["description"] = "One row per forecast month."

    def restore_public(data):
        data["attributes"]["products"][0]["visibility"] = "public"

    def make_internal(data):
        data["attributes"]["products"][0]["visibility"] = "internal"

    def add_product(data):
        data["attributes"]["products"].append(product("extra"))

    def duplicate_product(data):
        data["attributes"]["products"].append(product("forecast"))

    edits = [
        ("nothing", lambda: None, set()),
        # a declaration edit reloads its location and those depending on what it declares
        ("sales owners", lambda: _edit_yaml(sales / DEFS, no_owner), all_locations),
        ("marketing dep", lambda: _edit_yaml(marketing / DEFS, depend_on_internal),
         {"marketing"}),
        ("finance description", lambda: _edit_yaml(finance / DEFS, redescribe), {"finance"}),
        # sales/orders turns internal: its consumers' loads now fail, as they do cold
        ("sales internal", lambda: _edit_yaml(sales / DEFS, make_internal), all_locations),
        ("sales public again", lambda: _edit_yaml(sales / DEFS, restore_public),
         all_locations),
        # a new product, or one declared twice, may reach every location: all reload
        ("finance new product", lambda: _edit_yaml(finance / DEFS, add_product),
         all_locations),
        ("finance duplicate", lambda: _edit_yaml(finance / DEFS, duplicate_product),
         all_locations),
        # a module the location imports (not its products file) changes what it defines
        ("sales helper", lambda: (sales / "helpers.py").write_text(
            "raise RuntimeError('broken helper')\n"), {"sales"}),
        ("sales helper back", lambda: (sales / "helpers.py").write_text("LIMIT = 2\n"),
         {"sales"}),
        ("sales owners back", lambda: _edit_yaml(sales / DEFS, restore_owner),
         all_locations),
        ("new marketing module", lambda: (marketing / "more.py").write_text("X = 1\n"),
         {"marketing"}),
        # the lock file pins every third-party package: a change reloads everything
        ("lock", lambda: (tmp_path / "uv.lock").write_text("# changed\n"), all_locations),
    ]  # fmt: skip
    failing: set[str] = set()  # a location that failed to load is never cached
    m.gate(cache=True)  # fills the cache
    verdicts = set()
    for label, edit, changed in edits:
        edit()
        warm = m.gate(cache=True)
        cold = m.gate(cache=False)
        assert _verdict(warm) == _verdict(cold), label
        assert all_locations - set(warm.cached) == changed | failing, label
        failing = {v.target for v in warm.violations if v.rule == "GOV072"}
        passed, found = _verdict(cold)
        verdicts.add((passed, tuple(found)))
    assert len(verdicts) >= 4  # the edits did change the verdict along the way


def test_a_dbt_model_edit_invalidates_a_location_that_read_the_manifest(tmp_path):
    # A model edit only makes the prepared manifest stale; it is re-parsed when the dbt
    # location loads. So a cached location that read the manifest must not survive the edit.
    from governance.cache import GraphCache
    from governance.model import LocationLoad, LocationRecord
    from governance.workspace_entries import WorkspaceEntry

    project = tmp_path / "dbt_project"
    (project / "models" / "sales").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: mesh\n")
    model = project / "models" / "sales" / "orders.sql"
    model.write_text("select 1 as id\n")
    manifest = project / "target" / "duckdb" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    folder = tmp_path / "domains" / "sales"
    folder.mkdir(parents=True)
    entry = WorkspaceEntry("sales", "python_module", "mesh_sales", folder=str(folder))
    cache = GraphCache.open(tmp_path, [entry])
    cache.put(entry, LocationLoad(LocationRecord("sales", "mesh_sales"), reads={str(manifest)}))
    cache.save()
    assert GraphCache.open(tmp_path, [entry]).get(entry) is not None  # unchanged: reused
    model.write_text("select 2 as id\n")
    assert GraphCache.open(tmp_path, [entry]).get(entry) is None
    model.write_text("select 1 as id\n")
    (project / "models" / "sales" / "new_model.sql").write_text("select 3 as id\n")
    assert GraphCache.open(tmp_path, [entry]).get(entry) is None  # a new model counts too
