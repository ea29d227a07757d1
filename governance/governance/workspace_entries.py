"""Every code location the mesh declares, in every form Dagster accepts.

workspace.yaml entries are read against Dagster's documented workspace schema (the kinds, their
fields, `{env: VAR}` values, default location names), one entry at a time so one bad entry
does not hide the others; dg
projects of dg.toml that workspace.yaml does not list are locations too. Whatever cannot be
loaded in this process (a grpc_server, an entry Dagster rejects, a broken dg.toml) becomes an
entry with an `error` and a `fix`: the gate reports it, it never skips it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from platform_core.workspace import read_locations

WORKSPACE_FILE = "workspace.yaml"
DG_FILE = "dg.toml"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster on 50 entries
KINDS = ("python_file", "python_module", "python_package", "autoload_defs_module")


@dataclass(frozen=True)
class WorkspaceEntry:
    location: str
    kind: str  # one of KINDS, or "dg_project", or "" when unusable
    target: str  # absolute file (python_file) or module/package name
    attribute: str | None = None
    working_directory: str | None = None
    folder: str = ""  # absolute folder holding the location's code ("" until loaded)
    source: str = WORKSPACE_FILE  # the manifest that declares it
    line: int = 0  # 1-based line of the entry in `source`
    error: str = ""  # why the gate cannot load it (reported as GOV072, never skipped)
    fix: str = ""

    def describe(self) -> str:
        return f"{self.kind} {self.target}" if self.kind else self.location

    def identity(self) -> str:
        """What the cache compares: the same entry declared the same way."""
        return "|".join(
            str(part)
            for part in (self.kind, self.target, self.attribute, self.working_directory,
                         self.folder)
        )  # fmt: skip


def _item_lines(path: Path) -> list[int]:
    try:
        node = yaml.compose(path.read_text(), Loader=_LOADER)
    except (OSError, yaml.YAMLError):
        return []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "load_from" and isinstance(value, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return []


# Dagster's workspace.yaml schema (dagster docs, "workspace.yaml reference"): each kind takes a
# string or a mapping with one required field; the gate reads it with public means only.
_REQUIRED = {
    "python_file": "relative_path",
    "python_module": "module_name",
    "python_package": "package_name",
    "autoload_defs_module": "module_name",
}
_OPTIONAL = {"attribute", "location_name", "working_directory", "executable_path"}
_DAGSTER_FIX = (
    "write it as python_file, python_module, python_package or autoload_defs_module "
    "(Dagster's workspace.yaml reference)"
)


class _Rejected(ValueError):
    pass


def _string(value: object, field: str) -> str:
    """A StringSource: a string, or {env: NAME} read from the environment."""
    if isinstance(value, dict) and set(value) == {"env"}:
        name = str(value["env"])
        if name not in os.environ:
            raise _Rejected(f"field '{field}' reads environment variable {name}, which is unset")
        return os.environ[name]
    if not isinstance(value, str) or not value:
        raise _Rejected(f"field '{field}' must be a non-empty string")
    return value


def _entry_from_item(item: object, root: Path, line: int) -> WorkspaceEntry:
    if not isinstance(item, dict) or len(item) != 1:
        raise _Rejected("each load_from item is a mapping with exactly one key")
    [(kind, value)] = item.items()
    if kind == "grpc_server":
        name = value.get("location_name") if isinstance(value, dict) else None
        return _broken(
            str(name or "grpc_server"), line,
            "is a grpc_server: the gate cannot import code it does not have",
            "list the location's code as python_module (or python_file) in workspace.yaml so "
            "the gate can load and check it",
        )  # fmt: skip
    if kind not in _REQUIRED:
        raise _Rejected(f"unknown key '{kind}'")
    required = _REQUIRED[kind]
    config = {required: value} if not isinstance(value, dict) else dict(value)
    allowed = _OPTIONAL - ({"attribute"} if kind == "autoload_defs_module" else set())
    unknown = sorted(set(config) - allowed - {required})
    if unknown or required not in config:
        problem = f"unknown field(s) {unknown}" if unknown else f"missing field '{required}'"
        raise _Rejected(f"{kind}: {problem}")
    fields = {key: _string(v, key) for key, v in config.items()}
    target = fields[required]
    directory = fields.get("working_directory")
    if kind == "python_file":  # Dagster rebases a python_file's paths on workspace.yaml's folder
        target = str((root / target).resolve())
    if directory and not Path(directory).is_absolute():
        # Relative to where `dagster dev -w workspace.yaml` runs: the mesh root.
        directory = str((root / directory).resolve())
    attribute = fields.get("attribute")
    default = Path(target).name if kind == "python_file" else target
    default = f"{default}:{attribute}" if attribute else default
    return WorkspaceEntry(
        location=fields.get("location_name", default), kind=kind, target=target,
        attribute=attribute, working_directory=directory, line=line,
    )  # fmt: skip


def _from_workspace_yaml(root: Path) -> list[WorkspaceEntry]:
    path = root / WORKSPACE_FILE
    try:
        data = yaml.load(path.read_text(), Loader=_LOADER) or {}
    except yaml.YAMLError as exc:
        return [_broken(WORKSPACE_FILE, 1, f"is not valid YAML ({exc})", "fix the YAML syntax")]
    items = data.get("load_from") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return [
            _broken(WORKSPACE_FILE, 1, "has no `load_from:` list",
                    "list the locations under load_from: (python_module: {module_name: ...})")
        ]  # fmt: skip
    lines = _item_lines(path)
    entries: list[WorkspaceEntry] = []
    for index, item in enumerate(items):
        line = lines[index] if index < len(lines) else 0
        label = f"{WORKSPACE_FILE} load_from[{index}]"
        try:
            entry = _entry_from_item(item, root, line)
        except _Rejected as exc:
            entries.append(_broken(label, line, f"is not an entry Dagster accepts: {exc}",
                                   _DAGSTER_FIX))  # fmt: skip
            continue
        entries.append(entry)
    return entries


def _broken(location: str, line: int, what: str, fix: str, source: str = WORKSPACE_FILE):
    return WorkspaceEntry(location, "", "", source=source, line=line, error=f"{location} {what}",
                          fix=fix)  # fmt: skip


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def read_workspace_entries(root: Path) -> list[WorkspaceEntry]:
    """workspace.yaml's entries, then dg.toml's projects it does not list; folders from dg.toml."""
    root = root.resolve()
    entries = _from_workspace_yaml(root) if (root / WORKSPACE_FILE).is_file() else []
    projects = {}
    if (root / DG_FILE).is_file():
        read_locations.cache_clear()  # tests rewrite manifests under one path
        try:
            projects = {loc.name: loc for loc in read_locations(root)}
        except Exception as exc:
            entries.append(
                _broken(DG_FILE, 1, f"cannot be read: {_first_line(exc)}",
                        "fix dg.toml (or the project's pyproject.toml) as the message says",
                        source=DG_FILE)
            )  # fmt: skip
    listed = {e.location for e in entries}
    out = []
    for entry in entries:
        project = projects.get(entry.location)
        folder = str(project.path.resolve()) if project else _folder_of(entry, root)
        out.append(_with(entry, folder=folder))
    for name, project in projects.items():
        if name not in listed:
            out.append(
                WorkspaceEntry(
                    location=name, kind="python_module", target=project.definitions_module,
                    working_directory=str(project.path.resolve()),
                    folder=str(project.path.resolve()), source=DG_FILE,
                )
            )  # fmt: skip
    return out


def _folder_of(entry: WorkspaceEntry, root: Path) -> str:
    if entry.kind == "python_file":
        parent = Path(entry.target).resolve().parent
        return "" if parent == root else str(parent)  # the root holds every location
    if entry.working_directory and Path(entry.working_directory).resolve() != root:
        return str(Path(entry.working_directory).resolve())
    return ""  # a module's folder is known once it is imported


def _with(entry: WorkspaceEntry, **changes) -> WorkspaceEntry:
    from dataclasses import replace

    return replace(entry, **changes)
