"""Changed-asset detection against a git base, and `meshctl preview` on a copy of the mesh."""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from mesh_tooling.preview.branch import branch_slug, prepare_branch_home
from mesh_tooling.preview.changes import detect_changes
from platform_core.environment import detect_environment
from platform_core.errors import ConfigurationError
from platform_core.workspace import read_locations

from tests.support.processes import BIN

MESH_FILES = ("dg.toml", "workspace.yaml", "pyproject.toml", "uv.lock", ".gitignore")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".venv", ".mesh")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def copy_mesh(repo_root: Path, target: Path) -> Path:
    """The mesh's sources in a fresh git repository with one commit on main."""
    target.mkdir(parents=True)
    for name in MESH_FILES:
        shutil.copy2(repo_root / name, target / name)
    shutil.copytree(repo_root / "platform_core", target / "platform_core", ignore=IGNORED)
    shutil.copytree(repo_root / "domains", target / "domains", ignore=IGNORED)
    shutil.copytree(
        repo_root / "dbt_project", target / "dbt_project",
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"),
    )  # fmt: skip
    git(target, "init", "-q", "-b", "main")
    git(target, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(target, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def mesh_copy(repo_root, tmp_path) -> Path:
    repo = copy_mesh(repo_root, tmp_path / "mesh")
    git(repo, "checkout", "-q", "-b", "feature/x")
    return repo


LAST_TOUCH = "dbt_project/models/marketing/intermediate/int_marketing__last_touch_orders.sql"
WINDOW = 'var("attribution_window_days", 7)'


def test_a_code_change_touches_its_location_only(mesh_copy):
    edit(mesh_copy / "domains/marketing/mesh_marketing/products.py", "landed with Arrow", "landed")
    changes = detect_changes(mesh_copy, "main")
    assert changes.files == ["domains/marketing/mesh_marketing/products.py"]
    assert (changes.everything, changes.code_changed, changes.locations) == (
        False, {"marketing"}, {"marketing"},
    )  # fmt: skip


def test_a_dbt_model_change_belongs_to_its_groups_location(mesh_copy):
    edit(mesh_copy / LAST_TOUCH, WINDOW, 'var("attribution_window_days", 3)')
    changes = detect_changes(mesh_copy, "main")
    assert (changes.everything, changes.code_changed, changes.locations) == (
        False, {"marketing"}, {"marketing"},
    )  # fmt: skip
    # Project-wide dbt files shape every location's slice of the shared manifest.
    edit(mesh_copy / "dbt_project/dbt_project.yml", "name:", "name: ")
    assert detect_changes(mesh_copy, "main").everything


def test_a_declaration_change_touches_the_product_and_redeploys_its_consumers(mesh_copy):
    declarations = mesh_copy / "domains/platform/mesh_platform/defs/products/defs.yaml"
    edit(declarations, "tier: 1", "tier: 2")  # the first product: platform/tenants
    changes = detect_changes(mesh_copy, "main")
    assert changes.products_changed == {"platform/tenants"}
    assert changes.code_changed == set()
    # finance's dbt tenant_billing reads source('platform', 'tenants'); sales reads other
    # platform products only.
    assert changes.locations == {"platform", "finance"}


def test_platform_core_or_the_lock_changes_everything_and_docs_nothing(mesh_copy):
    (mesh_copy / "NOTES.md").write_text("docs only\n")
    assert detect_changes(mesh_copy, "main").locations == set()
    edit(mesh_copy / "platform_core/platform_core/errors.py", "Errors users see.", "Errors.")
    changes = detect_changes(mesh_copy, "main")
    assert changes.everything
    assert changes.locations == {loc.name for loc in read_locations(mesh_copy)}


def test_an_unknown_base_ref_is_a_clear_error(mesh_copy):
    with pytest.raises(ConfigurationError, match="pass an existing --base ref"):
        detect_changes(mesh_copy, "no-such-branch")


def test_preview_needs_a_main_warehouse_and_a_usable_branch_name(tmp_path):
    env = detect_environment({"MESH_HOME": str(tmp_path)})
    with pytest.raises(ConfigurationError, match=r"Fix: run `\./mesh materialize`"):
        prepare_branch_home(env, "feature")
    assert branch_slug("feature/new attribution!") == "feature-new-attribution"
    with pytest.raises(ConfigurationError, match="--branch"):
        branch_slug("///")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def attributed_orders(warehouse: Path) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select sum(attributed_orders) from marketing.revenue_attribution"
        ).fetchone()[0]


@pytest.mark.slow
def test_preview_runs_the_branch_on_a_copy_and_leaves_main_byte_identical(mesh_copy, tmp_path):
    home = tmp_path / "home"
    # The copy's code, not the installed worktree's, is what the branch changes.
    paths = [mesh_copy / "platform_core", *sorted((mesh_copy / "domains").iterdir())]
    env = {
        **os.environ, "MESH_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
        "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
    }  # fmt: skip
    (home / "dagster_home").mkdir(parents=True)

    def meshctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "meshctl"), *args], cwd=mesh_copy, env=env, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip

    git(mesh_copy, "checkout", "-q", "main")
    base = meshctl("materialize", "--tenants", "2", "--orders-per-tenant", "300")
    assert base.returncode == 0, base.stdout + base.stderr
    main_warehouse = home / "warehouse.duckdb"
    main_attributed = attributed_orders(main_warehouse)
    before = sha256(main_warehouse)

    git(mesh_copy, "checkout", "-q", "feature/x")
    # A narrower attribution window (a dbt model) and a re-tiered declaration of a product
    # another domain's dbt model reads.
    edit(mesh_copy / LAST_TOUCH, WINDOW, 'var("attribution_window_days", 1)')
    edit(mesh_copy / "domains/platform/mesh_platform/defs/products/defs.yaml", "tier: 1", "tier: 2")
    preview = meshctl("preview", "--base", "main")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    out = preview.stdout

    def listed(label: str) -> set[str]:
        line = next(line for line in out.splitlines() if line.strip().startswith(label))
        return set(line.split(": ", 1)[1].split(", "))

    assert "Preview of branch 'feature/x'" in out, out
    assert "locations to deploy: finance, marketing, platform" in out, out
    # The dbt change touches every marketing asset; the declaration change platform/tenants.
    changed = listed("changed assets")
    assert {
        "marketing/campaign_spend",
        "marketing/revenue_attribution",
        "platform/tenants",
    } <= changed
    assert not any(key.startswith(("finance/", "sales/")) for key in changed), out
    assert "platform/tenant_orders" not in changed
    assert "finance/tenant_billing" in listed("downstream")
    assert "failed" not in out and "skipped" not in out, out

    assert sha256(main_warehouse) == before, "the main warehouse changed"
    branch_warehouse = home / "branches" / "feature-x" / "warehouse.duckdb"
    assert branch_warehouse.is_file()
    assert attributed_orders(branch_warehouse) < main_attributed  # the branch's code ran there
    assert attributed_orders(main_warehouse) == main_attributed
