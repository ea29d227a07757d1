"""dbt rules, when the mesh has a dbt project: groups have owners, public models have
enforced contracts. Read from the project's YAML (no `dbt parse` needed: the gate stays fast
and works before dbt is installed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from governance.ruleset import GateContext, Severity, Violation, rule

DBT_DIR = "dbt_project"


@dataclass
class DbtModel:
    name: str
    file: str
    line: int
    access: str = "protected"
    group: str = ""
    contract_enforced: bool = False
    columns: dict[str, str] = field(default_factory=dict)  # name -> data_type
    latest_version: str = ""
    deprecation_date: str = ""
    entry: dict[str, Any] = field(default_factory=dict, repr=False)  # the YAML as written

    @property
    def domain(self) -> str:
        """The model's group, else the domain folder under models/ (models/<domain>/...)."""
        if self.group:
            return self.group
        parts = Path(self.file).parts
        return parts[2] if len(parts) > 3 and parts[1] == "models" else ""


@dataclass
class DbtProject:
    groups: dict[str, tuple[dict[str, Any], str, int]] = field(default_factory=dict)
    models: dict[str, DbtModel] = field(default_factory=dict)


def _loader_with_lines(text: str) -> Any:
    """safe_load, but every mapping remembers its line under '__line__'."""

    class Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
        mapping = loader.construct_mapping(node, deep=True)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return yaml.load(text, Loader=Loader)


def _config(entry: dict[str, Any]) -> dict[str, Any]:
    config = entry.get("config") or {}
    return config if isinstance(config, dict) else {}


def load_dbt_project(root: Path) -> DbtProject | None:
    project_dir = root / DBT_DIR
    if not (project_dir / "dbt_project.yml").is_file():
        return None
    project = DbtProject()
    for path in sorted((project_dir).rglob("*.yml")):
        if any(part in {"target", "dbt_packages", "logs"} for part in path.parts):
            continue
        try:
            data = _loader_with_lines(path.read_text()) or {}
        except yaml.YAMLError:
            continue
        if not isinstance(data, dict):
            continue
        relative = str(path.relative_to(root))
        for group in data.get("groups", []) or []:
            if isinstance(group, dict) and group.get("name"):
                project.groups[group["name"]] = (group, relative, group["__line__"])
        for entry in data.get("models", []) or []:
            if not isinstance(entry, dict) or not entry.get("name"):
                continue
            config = _config(entry)
            contract = config.get("contract") or entry.get("contract") or {}
            columns = {
                c["name"]: str(c.get("data_type", ""))
                for c in entry.get("columns", []) or []
                if isinstance(c, dict) and c.get("name")
            }
            versions = [
                str(v.get("v")) for v in entry.get("versions", []) or [] if isinstance(v, dict)
            ]
            project.models[entry["name"]] = DbtModel(
                name=entry["name"], file=relative, line=entry["__line__"],
                access=str(config.get("access") or entry.get("access") or "protected"),
                group=str(config.get("group") or entry.get("group") or ""),
                contract_enforced=bool(isinstance(contract, dict) and contract.get("enforced")),
                columns=columns,
                latest_version=str(entry.get("latest_version") or (max(versions) if versions else "")),
                deprecation_date=str(entry.get("deprecation_date") or ""), entry=entry,
            )  # fmt: skip
    return project


@rule("GOV090", "dbt/group-owners", Severity.ERROR, "dbt groups have owners")
def dbt_group_owners(context: GateContext) -> Iterator[Violation]:
    project = load_dbt_project(context.root)
    if project is None:
        return
    for name, (group, file, line) in sorted(project.groups.items()):
        owner = group.get("owner") or {}
        if not isinstance(owner, dict) or not (owner.get("name") or owner.get("email")):
            yield Violation(
                "GOV090", Severity.ERROR, f"dbt group {name}",
                f"dbt group '{name}' ({file}) has no owner",
                "add owner: {name: ..., email: ...} matching the domain's owners in "
                "governance/domains.yaml",
                file, line, subject="owner",
            )  # fmt: skip
            continue
        entry = context.config.registry.domains.get(name)
        email = owner.get("email")
        if entry is not None and email and email not in entry.owners:
            yield Violation(
                "GOV090", Severity.ERROR, f"dbt group {name}",
                f"dbt group '{name}' ({file}) is owned by {email}, who is not an owner of "
                f"domain '{name}' in governance/domains.yaml",
                f"add {email} to domains.{name}.owners, or correct the group's owner",
                file, line, subject=f"email:{email}",
            )  # fmt: skip


@rule("GOV091", "dbt/public-contracts", Severity.ERROR, "public dbt models enforce contracts")
def dbt_public_contracts(context: GateContext) -> Iterator[Violation]:
    project = load_dbt_project(context.root)
    if project is None:
        return
    for model in sorted(project.models.values(), key=lambda m: m.name):
        if model.access == "public" and not model.contract_enforced:
            yield Violation(
                "GOV091", Severity.ERROR, f"dbt model {model.name}",
                f"public dbt model '{model.name}' ({model.file}) has no enforced contract",
                "add config: {contract: {enforced: true}} and data_type for every column, or "
                "make the model protected",
                model.file, model.line,
            )  # fmt: skip


# config(..., database=...) in a model, snapshot or seed's SQL (Jinja), nested parentheses allowed
_SQL_DATABASE = re.compile(r"\bconfig\s*\((?:[^()]|\([^()]*\))*?\bdatabase\s*=", re.DOTALL)
_NOT_CONFIG = {"profiles.yml"}  # connection profiles name the target's database by design


def _database_keys(data: Any, path: str = "") -> Iterator[tuple[str, int]]:
    """(where, line) of every `database` / `+database` key in a parsed dbt YAML file."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in {"database", "+database"}:
                yield f"{path}{key}", int(data.get("__line__", 1))
            elif key != "__line__":
                yield from _database_keys(value, f"{path}{key}.")
    elif isinstance(data, list):
        for item in data:
            name = item.get("name") if isinstance(item, dict) else None
            yield from _database_keys(item, f"{path}{name}." if name else path)


@rule("GOV092", "dbt/no-database-override", Severity.ERROR, "dbt never picks its database")
def dbt_no_database_override(context: GateContext) -> Iterator[Violation]:
    project_dir = context.root / DBT_DIR
    if not (project_dir / "dbt_project.yml").is_file():
        return
    fix = (
        "remove it: every model builds in the target's database (a branch's clone, or "
        "production); cross-database references go through sources of the mesh"
    )
    for path in sorted(project_dir.rglob("*")):
        if any(part in {"target", "dbt_packages", "logs"} for part in path.parts):
            continue
        relative = str(path.relative_to(context.root))
        if path.suffix in {".yml", ".yaml"} and path.name not in _NOT_CONFIG:
            try:
                data = _loader_with_lines(path.read_text())
            except yaml.YAMLError as error:  # a file the gate cannot read fails, never passes
                yield Violation(
                    "GOV092", Severity.ERROR, relative, f"{relative} is not valid YAML ({error})",
                    "fix the YAML so the gate can check it", relative, 1,
                )  # fmt: skip
                continue
            for where, line in _database_keys(data):
                yield Violation(
                    "GOV092", Severity.ERROR, relative,
                    f"{relative}:{line} sets '{where}': dbt must not choose the database", fix,
                    relative, line, subject=where,
                )  # fmt: skip
        elif path.suffix == ".sql":
            text = path.read_text()
            for match in _SQL_DATABASE.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                yield Violation(
                    "GOV092", Severity.ERROR, relative,
                    f"{relative}:{line} sets config(database=...): dbt must not choose the "
                    "database", fix, relative, line, subject=f"config(database=...)#{match.group(0)}",
                )  # fmt: skip
