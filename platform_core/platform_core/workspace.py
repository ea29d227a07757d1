"""The mesh's code locations, read from the workspace manifests (dg.toml and workspace.yaml).

One home for "which locations exist and where": the product catalog, the headless runner, the
tests and the governance gate all read the manifests through here.
"""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import dagster as dg
import yaml

from platform_core.declarations import declaration_files
from platform_core.errors import ConfigurationError


@dataclass(frozen=True)
class Location:
    """One code location: a dg project folder with its own package."""

    name: str
    path: Path
    root_module: str

    @property
    def declaration_files(self) -> list[Path]:
        """Its DataProducts `defs.yaml` files (platform_core.declarations)."""
        return declaration_files(self.path, self.root_module)

    @property
    def definitions_module(self) -> str:
        return f"{self.root_module}.definitions"

    def load_definitions(self) -> dg.Definitions:
        """Import the location's Definitions in this process (as a code server would)."""
        module = importlib.import_module(self.definitions_module)
        defs = getattr(module, "defs", None)
        if not isinstance(defs, dg.Definitions):
            raise ConfigurationError(
                f"{self.definitions_module} (location '{self.name}') has no `defs` Definitions. "
                "Fix: end definitions.py with `defs = location_definitions(__file__)`."
            )
        return defs


def find_mesh_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the working directory) with dg.toml."""
    origin = (start or Path.cwd()).resolve()
    for folder in (origin, *origin.parents):
        if (folder / "dg.toml").is_file():
            return folder
    raise ConfigurationError(
        f"No dg.toml at or above {origin}. Fix: run from inside the mesh repository."
    )


def platform_mesh_root() -> Path:
    """The mesh platform_core belongs to (editable install), else the working directory's."""
    try:
        return find_mesh_root(Path(__file__).resolve())
    except ConfigurationError:
        return find_mesh_root()


@cache
def read_locations(root: Path) -> tuple[Location, ...]:
    """Every project dg.toml names, with its code-location name and root module."""
    manifest = root / "dg.toml"
    projects = tomllib.loads(manifest.read_text()).get("workspace", {}).get("projects", [])
    locations = []
    for entry in projects:
        path = root / entry["path"]
        pyproject = path / "pyproject.toml"
        if not pyproject.is_file():
            raise ConfigurationError(
                f"{manifest}: project path '{entry['path']}' has no pyproject.toml. "
                "Fix: correct the path or scaffold the location."
            )
        project = (
            tomllib.loads(pyproject.read_text()).get("tool", {}).get("dg", {}).get("project", {})
        )
        if "root_module" not in project:
            raise ConfigurationError(
                f"{pyproject}: [tool.dg.project] root_module is missing. Fix: add it."
            )
        name = project.get("code_location_name") or path.name
        locations.append(Location(name=name, path=path, root_module=project["root_module"]))
    return tuple(locations)


def read_workspace_yaml(root: Path) -> dict[str, str]:
    """location name -> python module, as workspace.yaml declares them."""
    data = yaml.safe_load((root / "workspace.yaml").read_text()) or {}
    modules = {}
    for entry in data.get("load_from", []):
        target = entry.get("python_module")
        if isinstance(target, dict):
            modules[target.get("location_name") or target["module_name"]] = target["module_name"]
    return modules
