"""Select what one code location's image contains. Runs inside `docker build` (stdlib only).

    python image_context.py LOCATION SOURCE DEST

Writes three trees under DEST, each its own image layer (from least to most often changed):
  deps/      what every location's third-party dependencies need: uv.lock, the root
             pyproject.toml and platform_core's pyproject.toml. The same for every location, so
             all location images share that (largest) layer; rebuilt only when one changes.
  location/  deps/ plus the location's pyproject.toml: what it adds beyond platform_core.
  app/       location/ plus dg.toml, platform_core's source, the location's package, and every
             other location's pyproject.toml and declaration files (platform_core.declarations):
             the product catalog reads every domain's declarations (its public interface), never
             another domain's code. Plus dbt_project/ when the mesh has one: every location
             loads its slice of the one shared manifest.
location/ and app/ get `.mesh-package` (the uv package to sync) and `.mesh-module` (the
Definitions module).
An empty LOCATION prepares deps/ with the root files only (the webserver/daemon image).

The rules of dg.toml are those of platform_core.workspace.read_locations; a test checks that
both agree on every location.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script inside `docker build`: platform_core is source
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "platform_core"))

from platform_core.declarations import declaration_files  # standard library only

ROOT_FILES = ("pyproject.toml", "uv.lock")
SKIPPED = shutil.ignore_patterns(
    "tests", "__pycache__", "*.pyc", ".pytest_cache", "target", "logs", "dbt_packages", ".user.yml",
    ".env", ".env.*",  # local secrets never enter an image
)  # fmt: skip


class ImageContextError(Exception):
    pass


@dataclass(frozen=True)
class Project:
    location: str
    path: str  # relative to the root
    package: str  # the uv/PyPI project name
    root_module: str


def read_projects(root: Path) -> list[Project]:
    manifest = tomllib.loads((root / "dg.toml").read_text())
    projects = []
    for entry in manifest.get("workspace", {}).get("projects", []):
        pyproject = tomllib.loads((root / entry["path"] / "pyproject.toml").read_text())
        dg_project = pyproject.get("tool", {}).get("dg", {}).get("project", {})
        projects.append(
            Project(
                location=dg_project.get("code_location_name") or Path(entry["path"]).name,
                path=entry["path"],
                package=pyproject["project"]["name"],
                root_module=dg_project["root_module"],
            )
        )
    return projects


def _copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, dest, ignore=SKIPPED, dirs_exist_ok=True)
    else:
        shutil.copy2(source, dest)


def prepare(location: str, source: Path, dest: Path) -> Project | None:
    deps, located, app = dest / "deps", dest / "location", dest / "app"
    for name in ROOT_FILES:
        _copy(source / name, deps / name)
    if not location:
        return None
    projects = read_projects(source)
    chosen = next((p for p in projects if p.location == location), None)
    if chosen is None:
        known = ", ".join(p.location for p in projects)
        raise ImageContextError(
            f"LOCATION={location!r} is not a code location in dg.toml. "
            f"Fix: build with --build-arg LOCATION=<one of: {known}>."
        )
    _copy(source / "platform_core" / "pyproject.toml", deps / "platform_core" / "pyproject.toml")
    _copy(deps, located)
    _copy(source / chosen.path / "pyproject.toml", located / chosen.path / "pyproject.toml")
    (located / ".mesh-package").write_text(chosen.package)
    (located / ".mesh-module").write_text(f"{chosen.root_module}.definitions")
    _copy(located, app)
    _copy(source / "dg.toml", app / "dg.toml")
    _copy(source / "platform_core", app / "platform_core")
    for project in projects:
        _copy(source / project.path / "pyproject.toml", app / project.path / "pyproject.toml")
        for declared in declaration_files(source / project.path, project.root_module):
            relative = declared.relative_to(source)
            _copy(declared, app / relative)
    if (source / "dbt_project").is_dir():
        _copy(source / "dbt_project", app / "dbt_project")
    _copy(source / chosen.path, app / chosen.path)
    return chosen


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        chosen = prepare(argv[0], Path(argv[1]), Path(argv[2]))
    except ImageContextError as error:
        print(f"image_context: {error}", file=sys.stderr)
        return 1
    print(f"image context for {chosen.location if chosen else 'the instance'}: {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
