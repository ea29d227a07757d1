"""What a change does to the mesh: new, changed and removed assets between a base graph and
the working tree, their downstream consumers in other domains, and whom to notify."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from governance.config import GovernanceConfig
from governance.engine import Violation
from governance.model import AssetRecord, MeshGraph

# What counts as a change of an asset's definition (not its position in a file).
_COMPARED = (
    "description", "owners", "tags", "kinds", "group", "deps", "materializable", "columns",
    "freshness", "checks", "blocking_checks", "metadata", "location",
)  # fmt: skip


@dataclass
class AssetChange:
    key: str
    location: str
    status: str  # new | changed | removed
    fields: list[str] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)  # downstream keys in other domains
    notify: list[str] = field(default_factory=list)  # owners + contact of those domains


@dataclass
class Impact:
    changes: list[AssetChange]
    breaking: list[Violation]
    # location -> files changed in its folder (code changes that alter no declaration, e.g.
    # a product's SQL, show up here rather than as asset changes)
    changed_files: dict[str, list[str]] = field(default_factory=dict)

    @property
    def notify(self) -> list[str]:
        return sorted({n for c in self.changes for n in c.notify})


def _first(records: list[AssetRecord]) -> AssetRecord:
    materializable = [r for r in records if r.materializable]
    return (materializable or records)[0]


def _changed_fields(old: AssetRecord, new: AssetRecord) -> list[str]:
    old_d, new_d = asdict(old), asdict(new)
    return [name for name in _COMPARED if old_d[name] != new_d[name]]


def _downstream(graph: MeshGraph, key: str) -> set[str]:
    children: dict[str, set[str]] = {}
    for record in graph.all_records():
        for dep in record.deps:
            children.setdefault(dep, set()).add(record.key)
    seen: set[str] = set()
    frontier = [key]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return seen


def changed_files_by_location(root: Path, base_ref: str, graph: MeshGraph) -> dict[str, list[str]]:
    """Files that differ from `base_ref` (committed or not), grouped by location folder."""
    listed = subprocess.run(
        ["git", "diff", "--name-only", base_ref], cwd=root, capture_output=True, text=True
    ).stdout.split()
    listed += subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"], cwd=root, capture_output=True,
        text=True,
    ).stdout.split()  # fmt: skip
    by_location: dict[str, list[str]] = {}
    for location in graph.locations.values():
        prefix = location.path.rstrip("/") + "/"
        files = sorted({f for f in listed if location.path and f.startswith(prefix)})
        if files:
            by_location[location.name] = files
    return by_location


def analyse(
    base: MeshGraph, head: MeshGraph, config: GovernanceConfig, breaking: list[Violation]
) -> Impact:
    changes: list[AssetChange] = []
    for key in sorted(set(base.assets) | set(head.assets)):
        old = _first(base.assets[key]) if key in base.assets else None
        new = _first(head.assets[key]) if key in head.assets else None
        if old and not old.materializable and (new is None or not new.materializable):
            continue  # stubs / external sources are not changes of this mesh
        if new is not None and not new.materializable and old is None:
            continue
        if old is None and new is not None:
            change = AssetChange(key, new.location, "new")
        elif new is None and old is not None:
            change = AssetChange(key, old.location, "removed")
        else:
            assert old is not None and new is not None
            changed = _changed_fields(old, new)
            if not changed:
                continue
            change = AssetChange(key, new.location, "changed", changed)
        graph = base if change.status == "removed" else head
        consumers = sorted(
            k
            for k in _downstream(graph, key)
            if k in graph.assets and _first(graph.assets[k]).location != change.location
        )
        change.consumers = consumers
        notify = set()
        for consumer in consumers:
            record = _first(graph.assets[consumer])
            notify.update(record.owners)
            entry = config.registry.domains.get(record.location)
            if entry:
                notify.update(entry.owners)
                notify.add(entry.contact)
        change.notify = sorted(notify)
        changes.append(change)
    return Impact(changes, breaking)


def render_markdown(impact: Impact) -> str:
    lines = ["## Data mesh impact", ""]
    if not impact.changes and not impact.breaking and not impact.changed_files:
        return "\n".join([*lines, "No asset of the mesh changes in this pull request.", ""])
    if impact.breaking:
        lines += [f"### :x: {len(impact.breaking)} breaking change(s)", ""]
        lines += [f"- **{v.target}**: {v.message}. _Fix:_ {v.fix}" for v in impact.breaking]
        lines.append("")
    counts = {s: sum(c.status == s for c in impact.changes) for s in ("new", "changed", "removed")}
    lines += [
        f"**{counts['new']} new, {counts['changed']} changed, {counts['removed']} removed** "
        "asset(s).",
        "",
        "| asset | location | change | consumers in other domains |",
        "|---|---|---|---|",
    ]
    for c in impact.changes:
        what = c.status + (f" ({', '.join(c.fields)})" if c.fields else "")
        consumers = ", ".join(f"`{k}`" for k in c.consumers) or "-"
        lines.append(f"| `{c.key}` | {c.location} | {what} | {consumers} |")
    lines.append("")
    if impact.changed_files:
        lines += ["**Code changed** (review the products these files implement):", ""]
        for location, files in sorted(impact.changed_files.items()):
            lines.append(f"- {location}: " + ", ".join(f"`{f}`" for f in files))
        lines.append("")
    if impact.notify:
        lines += ["**Notify:** " + ", ".join(impact.notify), ""]
    return "\n".join(lines)


def render_json(impact: Impact) -> str:
    return json.dumps(
        {
            "changes": [asdict(c) for c in impact.changes],
            "breaking": [asdict(v) for v in impact.breaking],
            "notify": impact.notify,
            "changed_files": impact.changed_files,
        },
        indent=2,
        default=str,
    )
