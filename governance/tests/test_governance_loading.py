"""No silent pass: every kind of workspace entry is loaded and checked; what cannot be loaded
is an error naming the entry and the fix; a gate that examined nothing fails; external assets
and load-time imports are checked like the rest."""

import sys

import yaml
from meshfactory import Loc, only, product, rule_ids, write_mesh

ROGUE = """\
import dagster as dg


@dg.asset(key=["rogue", "thing"], description="An asset nobody owns.",
          deps=[dg.AssetKey(["sales", "scratch"])])
def thing() -> None: ...


defs = dg.Definitions(assets=[thing])
"""


def _add_entry(mesh, entry):
    path = mesh.root / "workspace.yaml"
    data = yaml.safe_load(path.read_text())
    data["load_from"].append(entry)
    path.write_text(yaml.safe_dump(data))


def test_a_python_file_location_with_a_violation_fails_the_gate(tmp_path):
    m = write_mesh(
        tmp_path, {"sales": Loc([product("orders"), product("scratch", visibility="internal")])}
    )
    (tmp_path / "rogue").mkdir()
    (tmp_path / "rogue" / "rogue_defs.py").write_text(ROGUE)
    _add_entry(
        m, {"python_file": {"relative_path": "rogue/rogue_defs.py", "location_name": "rogue"}}
    )
    result = m.gate()
    assert not result.passed
    assert [v.target for v in only(result, "GOV001")] == ["rogue/thing"]
    [dep] = only(result, "GOV040")
    assert dep.target == "rogue/thing" and dep.subject == "sales/scratch"
    assert dep.file == "rogue/rogue_defs.py" and dep.line == 4  # the decorated function
    assert result.examined["locations"] == 2 and result.examined["assets"] == 3


def test_every_entry_kind_dagster_accepts_is_loaded(tmp_path):
    m = write_mesh(
        tmp_path,
        {"sales": Loc(), "marketing": Loc(), "finance": Loc(), "platform": Loc()},
        entries={
            "sales": {"python_file": {"relative_path": "{dir}/{pkg}/definitions.py",
                                      "location_name": "sales", "working_directory": "{dir}"}},
            "marketing": {"python_package": {"package_name": "{pkg}.definitions",
                                             "location_name": "marketing",
                                             "working_directory": "{dir}"}},
            "finance": {"python_module": {"module_name": "{pkg}.definitions", "attribute": "defs",
                                          "location_name": "finance"}},
        },
        workspace_skip=("platform",),  # only in dg.toml: a dg project is a location too
    )  # fmt: skip
    result = m.gate()
    loaded = {name for name, loc in m.graph().locations.items() if loc.loaded}
    assert loaded == {"sales", "marketing", "finance", "platform"}
    assert "GOV072" not in rule_ids(result)
    assert result.examined["locations"] == 4 and result.examined["assets"] == 4
    # dg.toml lists platform, workspace.yaml does not: the manifests disagree, it is still checked
    assert {v.subject for v in only(result, "GOV070")} == {"platform"}


def test_a_workspace_with_no_loadable_location_fails(tmp_path):
    m = write_mesh(tmp_path, {"sales": Loc()}, workspace_skip=("sales",))
    (tmp_path / "dg.toml").write_text('directory_type = "workspace"\n\n[workspace]\n')
    (tmp_path / "workspace.yaml").write_text(
        yaml.safe_dump({"load_from": [
            {"grpc_server": {"host": "localhost", "port": 4266, "location_name": "remote"}},
            {"python_modul": {"module_name": "typo"}},
            {"python_module": {"module_name": "no_such_package_anywhere.definitions",
                               "location_name": "ghost"}},
        ]})
    )  # fmt: skip
    result = m.gate()
    assert not result.passed
    errors = {v.target: v for v in only(result, "GOV072")}
    assert set(errors) == {"remote", "workspace.yaml load_from[1]", "ghost"}
    assert "grpc_server" in errors["remote"].message and "python_module" in errors["remote"].fix
    text = (tmp_path / "workspace.yaml").read_text().splitlines()
    typo_line = next(n for n, line in enumerate(text, 1) if "python_modul:" in line)
    assert errors["workspace.yaml load_from[1]"].line == typo_line
    assert "no_such_package_anywhere" in errors["ghost"].message
    [nothing] = only(result, "GOV073")
    assert "0 loadable location(s) of 3 declared" in nothing.message


def test_an_empty_workspace_fails(tmp_path):
    m = write_mesh(tmp_path, {"sales": Loc()}, workspace_skip=("sales",), registry_skip=("sales",))
    (tmp_path / "dg.toml").write_text('directory_type = "workspace"\n\n[workspace]\n')
    result = m.gate()
    assert rule_ids(result) >= {"GOV073"} and not result.passed
    assert result.examined == {"locations": 0, "assets": 0, "checks": 0, "jobs": 0,
                               "schedules": 0, "sensors": 0}  # fmt: skip


EXTERNAL = """\
import dagster as dg

defs = dg.Definitions(assets=[
    dg.AssetSpec(key=["rogue", "raw_feed"]),
])
"""


def test_an_external_asset_without_owner_fails(tmp_path):
    # A plain Definitions (no platform defaults): the external AssetSpec carries nothing.
    m = write_mesh(tmp_path, {"sales": Loc()})
    (tmp_path / "rogue").mkdir()
    (tmp_path / "rogue" / "feeds.py").write_text(EXTERNAL)
    _add_entry(m, {"python_file": {"relative_path": "rogue/feeds.py", "location_name": "rogue"}})
    result = m.gate()
    expected_line = next(
        n for n, text in enumerate(EXTERNAL.splitlines(), 1) if '"raw_feed"' in text
    )
    for rule in ("GOV001", "GOV010", "GOV020"):
        found = [v for v in only(result, rule) if v.target == "rogue/raw_feed"]
        assert found, rule
        assert found[0].file == "rogue/feeds.py" and found[0].line == expected_line
    good = write_mesh(tmp_path / "good", {"sales": Loc()})
    (tmp_path / "good" / "rogue").mkdir()
    (tmp_path / "good" / "rogue" / "feeds.py").write_text(EXTERNAL.replace(
        'dg.AssetSpec(key=["rogue", "raw_feed"])',
        'dg.AssetSpec(key=["rogue", "raw_feed"], owners=["team:rogue"], description="Raw feed.",'
        ' tags={"domain": "rogue"})',
    ))  # fmt: skip
    _add_entry(good, {"python_file": {"relative_path": "rogue/feeds.py", "location_name": "rogue"}})
    rogue = {v.rule for v in good.gate().violations if v.target == "rogue/raw_feed"}
    assert not rogue & {"GOV001", "GOV010", "GOV020"}


DYNAMIC = """
import importlib

_helpers = importlib.import_module("{pkg:sales}" + ".definitions")
"""


def test_a_dynamic_cross_domain_import_fails(tmp_path, monkeypatch):
    m = write_mesh(tmp_path, {"sales": Loc(), "marketing": Loc(extra=DYNAMIC)})
    # Installed, as uv installs every domain package of the workspace: the import succeeds.
    # (Appended: Dagster's loader drops sys.path[0], the script's folder, while importing.)
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path / "domains" / "sales")])
    result = m.gate()
    assert "GOV072" not in rule_ids(result)
    [found] = only(result, "GOV050")
    lines = (m.package_dir("marketing") / "definitions.py").read_text().splitlines()
    expected = next(n for n, text in enumerate(lines, 1) if "import_module" in text)
    assert found.file.endswith("definitions.py") and m.packages["marketing"] in found.file
    assert found.line == expected and "while it loaded" in found.message
    assert found.subject == m.packages["sales"]
    good = write_mesh(tmp_path / "good", {
        "sales": Loc(), "marketing": Loc(extra=DYNAMIC.replace("{pkg:sales}", "platform_core"))
    })  # fmt: skip
    assert "GOV050" not in rule_ids(good.gate())
