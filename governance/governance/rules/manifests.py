"""The manifests name the same locations: workspace.yaml, dg.toml, the registry, the
deployment's location list (when there is one) and CODEOWNERS (generated)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml
from platform_core.workspace import read_locations

from governance.codeowners import CODEOWNERS_PATH, render_codeowners
from governance.ruleset import GateContext, Severity, Violation, rule
from governance.yamllines import key_line

DEPLOYMENT_FILES = ("deployment/dagster_cloud.yaml", "dagster_cloud.yaml")


def deployment_locations(root: Path) -> tuple[str, set[str]] | None:
    for relative in DEPLOYMENT_FILES:
        path = root / relative
        if path.is_file():
            data = yaml.safe_load(path.read_text()) or {}
            names = {e.get("location_name") for e in data.get("locations", []) or []}
            return relative, {n for n in names if n}
    return None


def _lists(context: GateContext) -> dict[str, set[str]]:
    root = context.root
    lists = {
        "workspace.yaml": {  # as the loader read them (an unusable entry has no name)
            name
            for name, location in context.graph.locations.items()
            if location.source == "workspace.yaml" and not name.startswith("workspace.yaml")
        },
        "governance/domains.yaml": set(context.config.registry.domains),
    }
    try:
        lists["dg.toml"] = {loc.name for loc in read_locations(root)}
    except Exception as exc:
        lists["dg.toml"] = set()
        lists["dg.toml (unreadable: " + str(exc).split("\n")[0] + ")"] = set()
    deployment = deployment_locations(root)
    if deployment:
        lists[deployment[0]] = deployment[1]
    return lists


@rule("GOV070", "manifests/locations-agree", Severity.ERROR, "manifests name the same locations")
def locations_agree(context: GateContext) -> Iterator[Violation]:
    lists = _lists(context)
    everything = set().union(*lists.values())
    for name in sorted(everything):
        missing = sorted(f for f, names in lists.items() if name not in names)
        if missing:
            present = sorted(f for f, names in lists.items() if name in names)
            yield Violation(
                "GOV070", Severity.ERROR, missing[0],
                f"location '{name}' is in {present} but not in {missing}",
                f"add '{name}' to {missing} or remove it everywhere (`meshctl new-domain` "
                "registers a location in all of them)",
                missing[0], key_line(context.root / missing[0], name) or 1, subject=name,
            )  # fmt: skip
    try:
        locations = read_locations(context.root)
    except Exception:
        return
    registry = context.config.registry.domains
    for location in locations:
        entry = registry.get(location.name)
        relative = str(location.path.relative_to(context.root))
        if entry and entry.path.strip("/") != relative:
            yield Violation(
                "GOV070", Severity.ERROR, "governance/domains.yaml",
                f"domain '{location.name}' has path '{entry.path}' in governance/domains.yaml "
                f"but dg.toml puts it at '{relative}'",
                "make domains.yaml's path match dg.toml",
                "governance/domains.yaml",
                key_line(context.config.directory / "domains.yaml", "domains", location.name),
                subject=f"path:{location.name}",
            )  # fmt: skip


@rule("GOV071", "manifests/codeowners-current", Severity.ERROR, "CODEOWNERS matches the registry")
def codeowners_current(context: GateContext) -> Iterator[Violation]:
    path = context.root / CODEOWNERS_PATH
    expected = render_codeowners(context.config.registry)
    if not path.is_file() or path.read_text() != expected:
        state = "is missing" if not path.is_file() else "differs from governance/domains.yaml"
        yield Violation(
            "GOV071", Severity.ERROR, str(CODEOWNERS_PATH),
            f"{CODEOWNERS_PATH} {state}",
            "run `meshctl codeowners --write` and commit the result",
            str(CODEOWNERS_PATH), 1,
        )  # fmt: skip


@rule("GOV072", "locations/load", Severity.ERROR, "every declared location loads")
def locations_load(context: GateContext) -> Iterator[Violation]:
    for location in context.graph.locations.values():
        if location.load_error:
            what = f" ({location.kind} {location.module})" if location.kind else ""
            yield Violation(
                "GOV072", Severity.ERROR, location.name,
                f"code location '{location.name}'{what} was not examined: it fails to load: "
                f"{location.load_error}",
                location.load_fix or "fix the error above",
                location.source, location.line or 1,
            )  # fmt: skip


@rule("GOV073", "locations/examined", Severity.ERROR, "the gate examined something")
def something_examined(context: GateContext) -> Iterator[Violation]:
    """A gate that loaded nothing has checked nothing: it must not pass."""
    examined = context.graph.examined()
    if examined["locations"] == 0 or sum(examined.values()) == examined["locations"]:
        declared = len(context.graph.locations)
        yield Violation(
            "GOV073", Severity.ERROR, "workspace.yaml",
            f"the gate examined {examined['locations']} loadable location(s) of {declared} "
            f"declared and {examined['assets']} asset(s): there is nothing it checked",
            "declare the mesh's locations in workspace.yaml (python_module: {module_name: ...})"
            " or dg.toml ([[workspace.projects]]), and fix the load errors reported above",
            "workspace.yaml", 1,
        )  # fmt: skip
