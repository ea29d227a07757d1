"""Local secret files (.env, .env.*) are ignored by git and never enter an image's build context."""

import subprocess
from pathlib import Path

from mesh_tooling.manifests.image_context import prepare

REPO = Path(__file__).resolve().parents[1]


def test_git_ignores_env_files():
    names = [".env", ".env.local", "domains/sales/.env", "platform_core/.env.prod"]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *names], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    assert ignored == names


def test_the_image_context_never_holds_env_files(tmp_path):
    source = tmp_path / "repo"
    files = {
        "pyproject.toml": "[project]\nname = 'root'\n",
        "uv.lock": "",
        "dg.toml": '[workspace]\n[[workspace.projects]]\npath = "domains/sales"\n',
        "platform_core/pyproject.toml": "[project]\nname = 'platform-core'\n",
        "platform_core/platform_core/__init__.py": "",
        "platform_core/.env": "SNOWFLAKE_PASSWORD=x\n",
        "domains/sales/pyproject.toml": "[project]\nname = 'mesh-sales'\n"
        "[tool.dg.project]\nroot_module = 'mesh_sales'\n",
        "domains/sales/mesh_sales/__init__.py": "",
        "domains/sales/.env": "TENANT_T001_DB_URL=x\n",
        "domains/sales/mesh_sales/.env.local": "X=1\n",
        "dbt_project/dbt_project.yml": "name: mesh\n",
        "dbt_project/.env.prod": "X=1\n",
    }
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    prepare("sales", source, tmp_path / "context")
    copied = sorted(p.name for p in (tmp_path / "context").rglob("*") if p.is_file())
    assert "__init__.py" in copied and "dbt_project.yml" in copied  # the sources arrived
    assert not [name for name in copied if name.startswith(".env")]
